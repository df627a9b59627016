// A runtime may kill the plugin at any moment (kubelet and containerd time out, the OOM killer strikes). Here the
// plugin is killed (SIGKILL, through strace's syscall fault injection) at each of its netlink requests (sendto),
// right before each program it runs starts (the clone3 of posix_spawn that starts it: IPAM, iptables, nft; the
// clone3 calls that start the runtime's threads come first) and when it waits for one to end (the wait4 calls of
// src/kernel/spawn.ts), during ADD, DEL and GC; also at random moments. After each kill of an ADD, a
// DEL must succeed and leave nothing of the attachment (no veth, no pod interface, no address reservation, no
// firewall rule or chain), and a new ADD of the same container must work. After a killed DEL or GC, running it
// again must finish the job. strace follows the plugin's main thread only (no -f), where all of this happens.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, ensureBuilt } from '../lab/binary.js';
import { cni, envOf, ok, type CniCall } from '../lab/cni.js';
import { deleteAllNetns, makeNetns, type TestNs } from './netns-fixture.js';

type Syscall = 'sendto' | 'clone3' | 'wait4';
const SYSCALLS: Syscall[] = ['sendto', 'clone3', 'wait4'];

let node: TestNs;
const tmp = mkdtempSync(path.join(tmpdir(), 'vb-crash-'));

beforeAll(() => {
  ensureBuilt();
  expect(spawnSync('strace', ['-V']).status, 'strace is needed (make deps installs it)').toBe(0);
});
afterAll(deleteAllNetns);

const conf = (backend: 'iptables' | 'nftables') => ({
  cniVersion: '1.0.0',
  name: `kill-${backend}`,
  type: 'vlan-bridge',
  bridge: 'br-kill',
  ipMasq: true,
  ipMasqBackend: backend,
  macspoofchk: true,
  ipam: { type: 'host-local', subnet: '10.83.0.0/24', dataDir: path.join(tmp, 'ipam') },
});

/** The plugin under strace in `node`: killed at the `n`th call of `sys` (n >= 1), or just traced (n = 0). */
function traced(
  c: CniCall,
  sys: Syscall,
  n: number,
): { status: number | null; signal: NodeJS.Signals | null; stdout: string; calls: number; spawns: number } {
  const log = path.join(tmp, 'strace.log');
  const inject = n > 0 ? ['-e', `inject=${sys}:signal=KILL:when=${n}`] : [];
  const r = spawnSync('ip', ['netns', 'exec', node.name, 'strace', '-o', log, '-e', `trace=${sys}`, ...inject, BIN], {
    input: JSON.stringify(c.conf),
    env: envOf(c),
    encoding: 'utf8',
    timeout: 60_000,
  });
  const lines = spawnSync('cat', [log], { encoding: 'utf8' }).stdout.split('\n');
  const calls = lines.filter((l) => l.startsWith(`${sys}(`));
  return {
    status: r.status,
    signal: r.signal,
    stdout: r.stdout,
    calls: calls.length,
    spawns: calls.filter((l) => l.includes('CLONE_VFORK')).length,
  };
}

/** Everything of the attachments in `pods` that can be left behind, as one comparable description. */
function leftovers(c: ReturnType<typeof conf>, pods: TestNs[]): Record<string, unknown> {
  const veths = node.ipj<Array<{ ifname: string }>>('link', 'show', 'type', 'veth').map((l) => l.ifname);
  const podLinks = pods.map((p) =>
    p
      .ipj<Array<{ ifname: string }>>('link', 'show')
      .map((l) => l.ifname)
      .filter((n) => n !== 'lo'),
  );
  const dir = path.join(c.ipam.dataDir, c.name);
  const reservations = existsSync(dir) ? readdirSync(dir).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f)) : [];
  const nat = node
    .exec('iptables', '-w', '-t', 'nat', '-S')
    .split('\n')
    .filter((l) => /CNI-|name: /.test(l));
  // The reference's layout: rules carry a comment; its shared table, base chains and masq_checks stay by design
  // (their own comment lines, `comment "..."` alone on a line, are not rules).
  const nft = node
    .exec('nft', 'list', 'ruleset')
    .split('\n')
    .filter((l) => /comment "|cni-br-iface-/.test(l) && !l.trim().startsWith('comment '));
  return { veths, podLinks, reservations, nat, nft };
}
const NOTHING = (pods: number) => ({
  veths: [],
  podLinks: Array.from({ length: pods }, () => []),
  reservations: [],
  nat: [],
  nft: [],
});

/** How many calls of each kind a normal run of `c` makes (the run is then undone by `undo`). */
function countCalls(c: CniCall, undo: () => void): Record<Syscall | 'programs', number> {
  const out = {} as Record<Syscall | 'programs', number>;
  for (const sys of SYSCALLS) {
    const r = traced(c, sys, 0);
    expect(r.status, r.stdout).toBe(0);
    out[sys] = r.calls;
    if (sys === 'clone3') out.programs = r.spawns;
    undo();
  }
  return out;
}

/**
 * Whether the kill landed (strace dies of the signal that killed its tracee). A run may make fewer calls than the
 * counting run (the wait for the port to forward polls a varying number of times): then it must have succeeded,
 * and there is no such call to kill at.
 */
function killed(r: ReturnType<typeof traced>, what: string): boolean {
  if (r.signal === 'SIGKILL') return true;
  expect(r.status, `${what}: not killed and failed: ${r.stdout}`).toBe(0);
  return false;
}

describe.each(['iptables', 'nftables'] as const)('killed with host-local, ipMasq (%s) and macspoofchk', (backend) => {
  let pod: TestNs;
  const c = conf(backend);
  const add = (containerId = 'c1', ns = () => pod): CniCall => ({
    command: 'ADD',
    conf: c,
    containerId,
    netns: ns().path,
  });
  const del = (containerId = 'c1', ns = () => pod): CniCall => ({
    command: 'DEL',
    conf: c,
    containerId,
    netns: ns().path,
  });
  const run = (call: CniCall) => cni(node.name, call);

  beforeAll(() => {
    node = makeNetns('vbk');
    pod = makeNetns('vbp');
  });

  it('ADD killed at every step: DEL leaves nothing, and the next ADD works', () => {
    const calls = countCalls(add(), () => ok(run(del())));
    expect(calls.sendto).toBeGreaterThan(5);
    expect(calls.programs).toBeGreaterThanOrEqual(3); // host-local, the firewall programs
    let kills = 0;
    for (const sys of SYSCALLS) {
      for (let n = 1; n <= calls[sys]; n++) {
        const what = `ADD killed at ${sys} #${n}`;
        if (killed(traced(add(), sys, n), what)) kills++;
        else n = Infinity;
        const d = run(del());
        expect(d.code, `${what}, then DEL: ${d.stdout}`).toBe(0);
        expect(leftovers(c, [pod]), what).toEqual(NOTHING(1));
        ok(run(add()));
        ok(run(del()));
        expect(leftovers(c, [pod]), `${what}, after a new ADD and DEL`).toEqual(NOTHING(1));
      }
    }
    // Every program call is deterministic; netlink requests may vary by the port-forwarding polls only.
    expect(kills).toBeGreaterThanOrEqual(calls.sendto + calls.clone3 - 5);
  }, 600_000);

  it('DEL killed at every step: the next DEL leaves nothing', () => {
    ok(run(add()));
    const calls = countCalls(del(), () => ok(run(add())));
    ok(run(del()));
    for (const sys of SYSCALLS) {
      for (let n = 1; n <= calls[sys]; n++) {
        const what = `DEL killed at ${sys} #${n}`;
        ok(run(add()));
        if (!killed(traced(del(), sys, n), what)) {
          ok(run(add()));
          n = Infinity;
        }
        const d = run(del());
        expect(d.code, `${what}, then DEL: ${d.stdout}`).toBe(0);
        expect(leftovers(c, [pod]), what).toEqual(NOTHING(1));
      }
    }
  }, 600_000);

  it('GC killed at every step: the next GC removes the stale attachment and keeps the valid one', () => {
    const pod2 = makeNetns('vbp');
    const gc: CniCall = {
      command: 'GC',
      conf: { ...c, cniVersion: '1.1.0', 'cni.dev/valid-attachments': [{ containerID: 'keep', ifname: 'net1' }] },
    };
    // Debian's host-local (v1.1.1) does not speak 1.1.0: GC is forwarded to it only when it does, so both runs
    // below leave the stale reservation to the runtime's DEL; what GC must remove is ours.
    const stale = () => {
      ok(run(del('stale'))); // releases the reservation GC left (see above)
      ok(run(add('stale')));
    };
    ok(run(add('keep', () => pod2)));
    stale();
    const calls = countCalls(gc, stale);
    for (const sys of SYSCALLS) {
      for (let n = 1; n <= calls[sys]; n++) {
        const what = `GC killed at ${sys} #${n}`;
        if (!killed(traced(gc, sys, n), what)) n = Infinity;
        ok(run(gc));
        const left = leftovers(c, [pod, pod2]);
        expect(left.veths, what).toHaveLength(1); // the kept attachment's
        expect(left.podLinks, what).toEqual([[], ['net1']]);
        expect((left.nat as string[]).join('\n') + (left.nft as string[]).join('\n'), what).not.toMatch(/ stale net1/);
        stale();
      }
    }
    ok(run(del('stale')));
    ok(run(del('keep', () => pod2)));
    expect(leftovers(c, [pod, pod2])).toEqual(NOTHING(2));
  }, 600_000);

  it('ADD killed at random moments: DEL leaves nothing', async () => {
    for (let i = 0; i < 8; i++) {
      const delay = Math.floor(Math.random() * 120);
      const p = spawn('ip', ['netns', 'exec', node.name, BIN], {
        env: envOf(add()),
        stdio: ['pipe', 'ignore', 'ignore'],
      });
      const closed = new Promise((r) => p.on('close', r));
      p.stdin.end(JSON.stringify(c));
      await new Promise((r) => setTimeout(r, delay));
      // ip netns exec runs the plugin in its own process: kill the whole group of what it started.
      spawnSync('pkill', ['-KILL', '-P', String(p.pid)]);
      p.kill('SIGKILL');
      await closed;
      const d = run(del());
      expect(d.code, `ADD killed after ${delay} ms, then DEL: ${d.stdout}`).toBe(0);
      expect(leftovers(c, [pod]), `ADD killed after ${delay} ms`).toEqual(NOTHING(1));
    }
    ok(run(add()));
    ok(run(del()));
  }, 120_000);
});
