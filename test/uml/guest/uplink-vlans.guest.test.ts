// Runs inside the UML kernel: `uplinkVlans` (issue 16) on a Harvester-like node (test/lab/harvester-node.ts) whose
// bond carries only VID 1 (PVID, untagged) and VID 300, which "the operator" added beforehand; the switch carries
// VLANs 100, 200 and 300 tagged, with a host (the switch's own 802.1q interface) on each. Without the key a VLAN pod
// reaches nothing; with it, pods on 100, on 200 and on a trunk reach their hosts, and the bond loses each VID when
// its last pod goes, but never 300. 32 concurrent ADDs and DELs, and a SIGKILL at every step of ADD, DEL and GC,
// keep the rule "a VID is on the bond if and only if a pod uses it or it was there before".
//
// This file never builds: the host test (test/uml/uplink-vlans.host.test.ts) hands over the binary in VB_PLUGIN_BIN.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN } from '../../lab/binary.js';
import { CNI_PATH } from '../../lab/cni.js';
import { BOND, BRIDGE, buildHarvesterNode, type HarvesterNode } from '../../lab/harvester-node.js';
import { bridgeVlans, deleteNetns, makeNetns, type TestNs } from '../../host/netns-fixture.js';

const PLUGIN = process.env.VB_PLUGIN_BIN || BIN;
const OPERATOR_VID = 300;

interface Reply {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

describe.each(['0.3.1', '1.0.0'])('uplinkVlans, spec %s', (cniVersion) => {
  let node: TestNs;
  let sw: TestNs;
  let hv: HarvesterNode;
  let stateDir: string;
  const pods = new Map<string, TestNs>();

  beforeAll(() => {
    node = makeNetns('vbn');
    sw = makeNetns('vbs');
    hv = buildHarvesterNode(node, sw, { mtu: 9000, dhcp: false, bondVids: [], extraSwitchVids: [OPERATOR_VID] });
    node.exec('bridge', 'vlan', 'add', 'dev', BOND, 'vid', String(OPERATOR_VID), 'master');
    stateDir = mkdtempSync(path.join(process.env.UML_WORK_DIR ?? os.tmpdir(), 'uplink-state-'));
  });
  afterAll(() => {
    hv?.cleanup();
    for (const p of pods.values()) deleteNetns(p);
    deleteNetns(sw);
    deleteNetns(node);
  });

  const conf = (name: string, extra: Record<string, unknown> = {}) => ({
    cniVersion,
    name,
    type: 'vlan-bridge',
    bridge: BRIDGE,
    ipam: {},
    ...extra,
  });
  const access = (vlan: number, extra: Record<string, unknown> = {}) =>
    conf(`vlan${vlan}`, { vlan, uplinkVlans: true, ...extra });

  function podNs(id: string): TestNs {
    let ns = pods.get(id);
    if (!ns) {
      ns = makeNetns('vbp');
      ns.exec('sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
      pods.set(id, ns);
    }
    return ns;
  }

  function env(command: string, id: string | null): Record<string, string> {
    const e: Record<string, string> = {
      CNI_COMMAND: command,
      CNI_PATH,
      PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
      VLAN_BRIDGE_STATE_DIR: stateDir,
    };
    if (id !== null) Object.assign(e, { CNI_CONTAINERID: id, CNI_IFNAME: 'net1', CNI_NETNS: podNs(id).path });
    return e;
  }

  /** One plugin call in the node namespace (or `on`); `wrap` runs it under another program (strace). */
  function call(
    command: string,
    c: object,
    id: string | null,
    wrap: string[] = [],
    on: TestNs = node,
    extraEnv: Record<string, string> = {},
  ): Reply {
    const r = spawnSync('ip', ['netns', 'exec', on.name, ...wrap, PLUGIN], {
      input: JSON.stringify(c),
      env: { ...env(command, id), ...extraEnv },
      encoding: 'utf8',
      timeout: 120_000,
    });
    return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
  }

  /**
   * One call started without waiting for it. Concurrent calls take turns on the bridge's lock; in a loaded guest (a
   * 2-core CI machine running other tiers) the last of 32 may wait past the default 30 s, which is not what they
   * test: the wait's bound has a test of its own (VLAN_BRIDGE_LOCK_WAIT_MS below).
   */
  function callAsync(command: string, c: object, id: string): Promise<Reply> {
    return new Promise((resolve) => {
      const p = spawn('ip', ['netns', 'exec', node.name, PLUGIN], {
        env: { ...env(command, id), VLAN_BRIDGE_LOCK_WAIT_MS: '300000' },
      });
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (d) => (stdout += d));
      p.stderr.on('data', (d) => (stderr += d));
      p.on('close', (status, signal) => resolve({ status, signal, stdout, stderr }));
      p.stdin.end(JSON.stringify(c));
    });
  }

  function ok(r: Reply, what: string): Reply {
    expect(r.status, `${what}: ${r.stdout}${r.stderr}`).toBe(0);
    return r;
  }

  const add = (id: string, c: object) => JSON.parse(ok(call('ADD', c, id), `ADD ${id}`).stdout);
  const del = (id: string, c: object) => ok(call('DEL', c, id), `DEL ${id}`);
  // GC exists from spec 1.1.0 on: a runtime sends it with the network's config at that version.
  const gcConf = (c: object) => ({ ...c, cniVersion: '1.1.0', 'cni.dev/valid-attachments': [] });
  const gc = (c: object) => ok(call('GC', gcConf(c), null), 'GC');

  /** The bond's VLANs: the tagged VIDs, and what VID 1 is. */
  function bond(): { tagged: number[]; vid1: string } {
    const vlans = bridgeVlans(node, BOND);
    return {
      tagged: vlans.filter(([, f]) => f.length === 0).map(([v]) => v),
      vid1:
        vlans
          .find(([v]) => v === 1)?.[1]
          .sort()
          .join(' ') ?? 'none',
    };
  }

  /** The rule: the bond carries tagged exactly the operator's VID and the VIDs in `used`; VID 1 as it was. */
  function expectBond(used: number[], what = ''): void {
    const want = [...new Set([OPERATOR_VID, ...used])].filter((v) => v !== 1).sort((a, b) => a - b);
    expect(bond(), what).toEqual({ tagged: want, vid1: 'Egress Untagged PVID' });
  }

  const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

  function ping(ns: TestNs, dst: string): boolean {
    return spawnSync('ip', ['netns', 'exec', ns.name, 'ping', '-n', '-c', '1', '-W', '2', dst]).status === 0;
  }

  it('without uplinkVlans a VLAN 100 pod reaches nothing: the bond lacks 100', () => {
    const c = conf('vlan100', { vlan: 100 });
    add('plain', c);
    podNs('plain').exec('ip', 'addr', 'add', '10.100.0.10/24', 'dev', 'net1');
    expect(ping(podNs('plain'), '10.100.0.1')).toBe(false);
    expectBond([]);
    del('plain', c);
  });

  it('with it, pods on 100, on 200 and on a trunk reach their hosts, with the MTU of the bond', () => {
    add('a', access(100));
    add('b', access(200));
    add('c', conf('trunk', { vlanTrunk: [{ minID: 200, maxID: 210 }], uplinkVlans: true }));
    expectBond([100, ...range(200, 210)]);
    podNs('a').exec('ip', 'addr', 'add', '10.100.0.10/24', 'dev', 'net1');
    podNs('b').exec('ip', 'addr', 'add', '10.200.0.11/24', 'dev', 'net1');
    const c = podNs('c');
    c.exec('ip', 'link', 'add', 'link', 'net1', 'name', 'net1.200', 'type', 'vlan', 'id', '200');
    c.exec('ip', 'addr', 'add', '10.200.0.12/24', 'dev', 'net1.200');
    c.exec('ip', 'link', 'set', 'net1.200', 'up');
    expect(ping(podNs('a'), '10.100.0.1'), 'VLAN 100 pod -> its host').toBe(true);
    expect(ping(podNs('b'), '10.200.0.1'), 'VLAN 200 pod -> its host').toBe(true);
    expect(ping(c, '10.200.0.1'), 'trunk pod, VLAN 200 -> its host').toBe(true);
    for (const id of ['a', 'b', 'c']) expect(podNs(id).ipj<any[]>('link', 'show', 'net1')[0].mtu).toBe(9000);
    const [record] = readdirSync(path.join(stateDir, 'uplink-vlans')).filter((f) => f.endsWith('.json'));
    const saved = JSON.parse(readFileSync(path.join(stateDir, 'uplink-vlans', record!), 'utf8'));
    expect(saved.uplinks).toMatchObject([{ name: BOND, vids: [100, ...range(200, 210)] }]);
    // doctor says which VIDs of the bond vlan-bridge manages (and not the operator's 300).
    const d = spawnSync('ip', ['netns', 'exec', node.name, PLUGIN, 'doctor', '--json'], {
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', VLAN_BRIDGE_STATE_DIR: stateDir },
      encoding: 'utf8',
    });
    const report = JSON.parse(d.stdout);
    const uplink = report.bridges.find((b: { name: string }) => b.name === BRIDGE).uplinks[0];
    expect(uplink).toMatchObject({ name: BOND, managedVids: [100, ...range(200, 210)] });
  });

  // CHECK exists from spec 0.4.0 on: this test is defined for 1.0.0 only (a skipped test would fail CI).
  if (cniVersion !== '0.3.1')
    it('CHECK sees a VID missing from the uplink', () => {
      const prevResult = add('chk', access(100));
      ok(call('CHECK', { ...access(100), prevResult }, 'chk'), 'CHECK');
      node.exec('bridge', 'vlan', 'del', 'dev', BOND, 'vid', '100', 'master');
      const r = call('CHECK', { ...access(100), prevResult }, 'chk');
      expect(r.status).toBe(1);
      expect(JSON.parse(r.stdout)).toMatchObject({
        code: 105,
        msg: `CHECK failed: uplink "${BOND}" VLANs not as configured`,
      });
      // Gone by hand, so no longer ours: an ADD puts it back (and it is recorded again).
      add('chk2', access(100));
      ok(call('CHECK', { ...access(100), prevResult }, 'chk'), 'CHECK after the next ADD');
      del('chk2', access(100));
      del('chk', access(100));
      expectBond([100, ...range(200, 210)]);
    });

  it("the last pod of a VID takes it off the bond; the operator's 300 survives every DEL and GC", () => {
    del('a', access(100));
    expectBond(range(200, 210), 'after the last VLAN-100 pod');
    del('b', access(200));
    expectBond(range(200, 210), 'the trunk pod still uses 200-210');
    gc(conf('trunk', { uplinkVlans: true }));
    expectBond([], 'GC removed the trunk pod (not in the valid list) and its VIDs');
    gc(access(100));
    del('c', conf('trunk', { vlanTrunk: [{ minID: 200, maxID: 210 }], uplinkVlans: true }));
    expectBond([]);
    expect(readdirSync(path.join(stateDir, 'uplink-vlans')).filter((f) => f.endsWith('.json'))).toEqual([]);
  });

  it("ADD and DEL read the VLANs of this bridge's ports only: another bridge's 100 VLAN ports cost nothing", () => {
    const counts = (command: string, id: string) => {
      const r = ok(call(command, access(100), id, [], node, { VLAN_BRIDGE_NETLINK_COUNTS: '1' }), `${command} ${id}`);
      const line = r.stderr.split('\n').find((l) => l.startsWith('{"netlink":'));
      expect(line, r.stderr).toBeDefined();
      return (JSON.parse(line!) as { netlink: { requests: number; rxBytes: number } }).netlink;
    };
    const cycle = (id: string) => ({ ADD: counts('ADD', id), DEL: counts('DEL', id) });
    const batch = (tool: string, lines: string[]) => {
      const r = spawnSync(tool, ['-n', node.name, '-batch', '-'], { input: lines.join('\n') + '\n', encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
    };
    const quiet = cycle('g1');
    const far = range(0, 99).map((i) => `vbfar${i}`);
    batch('ip', [
      'link add vbfar-br type bridge vlan_filtering 1',
      ...far.flatMap((n) => [`link add ${n} type veth peer name ${n}p`, `link set ${n} master vbfar-br`]),
    ]);
    try {
      batch(
        'bridge',
        far.map((n) => `vlan add dev ${n} vid 2-200`),
      );
      const busy = cycle('g2');
      for (const cmd of ['ADD', 'DEL'] as const) {
        expect(busy[cmd].requests, cmd).toBe(quiet[cmd].requests);
        expect(
          busy[cmd].rxBytes,
          `${cmd}: ${busy[cmd].rxBytes} bytes against ${quiet[cmd].rxBytes}`,
        ).toBeLessThanOrEqual(quiet[cmd].rxBytes * 1.05 + 256);
      }
    } finally {
      batch('ip', ['link del vbfar-br', ...far.map((n) => `link del ${n}`)]);
    }
    expectBond([]);
  });

  it('uplinkInterface names the uplink; a port that is not one is refused (103) and leaves nothing', () => {
    add('u', access(400, { uplinkInterface: BOND }));
    expectBond([400]);
    del('u', access(400, { uplinkInterface: BOND }));
    expectBond([]);
    const r = call('ADD', access(400, { uplinkInterface: 'mgmt-nic0' }), 'u2');
    expect(r.status).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ code: 103 });
    expect(node.ipj<any[]>('link', 'show', 'type', 'veth').map((l) => l.ifname)).not.toContain(
      expect.stringMatching(/^veth[0-9a-f]{11}$/),
    );
    expectBond([]);
  });

  it("another node namespace never inherits a dead one's record; an uplink keeps its VIDs through a rename", () => {
    // Built the same way twice, the second namespace may get the first's nsfs inode and the same ifindexes: the
    // record is per namespace cookie, so the operator's VID 100 on the second one is never taken for ours. The
    // uplink is a dummy named toString, a name that is also an object's property in JavaScript.
    const layout = (ns: TestNs) => {
      for (const cmd of [
        'ip link add br9 type bridge vlan_filtering 1',
        'ip link add toString type dummy',
        'ip link set toString master br9',
        'ip link set br9 up',
        'ip link set toString up',
      ])
        ns.exec(...(cmd.split(' ') as [string, ...string[]]));
    };
    const c9 = { ...access(100), bridge: 'br9' };
    const vids = (ns: TestNs, dev: string) =>
      bridgeVlans(ns, dev)
        .filter(([, f]) => f.length === 0)
        .map(([v]) => v);
    const first = makeNetns('vbn');
    layout(first);
    ok(call('ADD', c9, 'n1', [], first), 'ADD on the first node');
    expect(vids(first, 'toString')).toEqual([100]);
    // Renamed while the pod is there: the same uplink (same ifindex), and its VID 100 is still ours to remove.
    first.exec('ip', 'link', 'set', 'toString', 'name', 'renamed0');
    ok(call('DEL', c9, 'n1', [], first), 'DEL after the rename');
    expect(vids(first, 'renamed0')).toEqual([]);
    ok(call('ADD', c9, 'n1', [], first), 'ADD again');
    deleteNetns(first); // the node goes away without a DEL: its record stays behind
    const second = makeNetns('vbn');
    layout(second);
    second.exec('bridge', 'vlan', 'add', 'dev', 'toString', 'vid', '100', 'master');
    ok(call('DEL', conf('untagged', { bridge: 'br9' }), 'n-never', [], second), 'DEL on the second node');
    ok(call('DEL', c9, 'n1', [], second), "DEL of the first node's attachment on the second");
    expect(vids(second, 'toString'), "the second node's operator VID").toEqual([100]);
    deleteNetns(second);
  });

  it('a state directory others can write to is refused (110) and the ADD leaves nothing', () => {
    const open = mkdtempSync(path.join(stateDir, 'open-'));
    spawnSync('install', ['-d', '-m', '0777', path.join(open, 'uplink-vlans')]);
    const r = call('ADD', access(700), 'st', [], node, { VLAN_BRIDGE_STATE_DIR: open });
    expect(r.status).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ code: 110 });
    expect(JSON.parse(r.stdout).msg).toMatch(/uplink VLAN records in .*must be a directory of uid 0/);
    expectBond([]);
    const veths = node.ipj<any[]>('link', 'show', 'type', 'veth').map((l) => l.ifname);
    expect(veths.filter((n: string) => /^veth[0-9a-f]{11}$/.test(n))).toEqual([]);
    ok(call('DEL', access(700), 'st', [], node, { VLAN_BRIDGE_STATE_DIR: open }), 'DEL after the refused ADD');
  });

  it('a wrong uplinkInterface is refused (103) on an untagged network too', () => {
    const r = call('ADD', conf('untagged', { uplinkVlans: true, uplinkInterface: 'nope0' }), 'ut');
    expect(r.status).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ code: 103, details: 'no such interface' });
    ok(call('DEL', conf('untagged'), 'ut'), 'DEL after it');
  });

  it('a lock another call holds answers 11 once VLAN_BRIDGE_LOCK_WAIT_MS runs out; that ADD leaves nothing', async () => {
    const c = access(700);
    ok(call('ADD', c, 'lk1'), 'the ADD that makes the record');
    const dir = path.join(stateDir, 'uplink-vlans');
    // The lock of the record that ADD just wrote VID 700 into: the directory also holds the records of the node
    // namespace an earlier test made (its bridge br9), and readdir's order is the file system's, not creation's.
    const records = readdirSync(dir).filter(
      (f) =>
        f.endsWith('.json') &&
        (JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as any).uplinks?.some((u: { vids: number[] }) =>
          u.vids.includes(700),
        ),
    );
    expect(records, 'the record VID 700 went into').toHaveLength(1);
    const lockFile = `${records[0]}.lock`;
    // --no-fork: the holder is the process killed below (a forked sleep would keep holding the lock).
    const holder = spawn('flock', ['-x', '--no-fork', path.join(dir, lockFile), 'sleep', '60'], { stdio: 'ignore' });
    try {
      // Held once flock -n cannot take it.
      for (let i = 0; spawnSync('flock', ['-n', path.join(dir, lockFile), 'true']).status === 0; i++) {
        expect(i, 'the holder took the lock').toBeLessThan(200);
        await new Promise((r) => setTimeout(r, 50));
      }
      const r = call('ADD', c, 'lk2', [], node, { VLAN_BRIDGE_LOCK_WAIT_MS: '500' });
      expect(r.status).toBe(1);
      expect(JSON.parse(r.stdout)).toMatchObject({
        code: 11,
        msg: "uplink VLANs: another plugin call holds the lock of this bridge's record (waited 0.5 s)",
      });
      const veths = node.ipj<any[]>('link', 'show', 'type', 'veth');
      expect(veths.filter((l) => (l.ifalias ?? '').includes('lk2')).map((l) => l.ifname)).toEqual([]);
    } finally {
      holder.kill('SIGKILL');
      await new Promise((r) => holder.once('exit', r));
    }
    ok(call('DEL', c, 'lk2'), 'DEL of the refused ADD');
    ok(call('DEL', c, 'lk1'), 'DEL of the first');
    expectBond([]);
  });

  it('32 concurrent ADDs and DELs keep the rule', async () => {
    const ids = (p: string, n: number) => Array.from({ length: n }, (_, i) => `${p}${i}`);
    const confOf = (id: string) => access(id.startsWith('x') ? 100 : id.startsWith('y') ? 400 : 500);
    const run = async (ops: Array<['ADD' | 'DEL', string]>) => {
      const rs = await Promise.all(ops.map(([cmd, id]) => callAsync(cmd, confOf(id), id)));
      rs.forEach((r, i) => expect(r.status, `${ops[i]!.join(' ')}: ${r.stdout}${r.stderr}`).toBe(0));
    };
    await run([...ids('x', 16), ...ids('y', 16)].map((id) => ['ADD', id]));
    expectBond([100, 400], 'after 32 ADDs');
    await run([
      ...ids('y', 16).map((id): ['DEL', string] => ['DEL', id]),
      ...ids('x', 8).map((id): ['DEL', string] => ['DEL', id]),
      ...ids('z', 8).map((id): ['ADD', string] => ['ADD', id]),
    ]);
    expectBond([100, 500], 'after 24 DELs and 8 ADDs at once');
    await run([...ids('x', 16).slice(8), ...ids('z', 8)].map((id) => ['DEL', id]));
    expectBond([], 'after the last DELs');
    for (const id of [...ids('x', 16), ...ids('y', 16), ...ids('z', 8)]) {
      deleteNetns(pods.get(id)!);
      pods.delete(id);
    }
  }, 600_000);

  describe('killed (SIGKILL) at each step', () => {
    // The plugin's netlink requests, and its steps on the record: the lock, fsync, rename, unlink.
    const SYSCALLS = ['sendto', 'flock', 'fsync', 'rename', 'unlink'];
    const strace = (log: string, sys: string, n: number) => [
      'strace',
      '-o',
      log,
      '-e',
      `trace=${sys}`,
      ...(n > 0 ? ['-e', `inject=${sys}:signal=KILL:when=${n}`] : []),
    ];
    const calls = (log: string, sys: string) =>
      existsSync(log)
        ? readFileSync(log, 'utf8')
            .split('\n')
            .filter((l) => l.startsWith(`${sys}(`)).length
        : 0;
    const noVeths = () =>
      expect(
        node
          .ipj<any[]>('link', 'show', 'type', 'veth')
          .map((l) => l.ifname)
          .filter((n) => n.startsWith('veth')),
      ).toEqual([]);

    it.each(SYSCALLS)(
      'ADD, DEL and GC killed at every %s: the next DEL or GC restores the rule',
      (sys) => {
        const log = path.join(stateDir, `strace-${sys}.log`);
        const c = access(600);
        const valid = gcConf(c);
        // For each command: what it needs first, the command under strace (killed at the nth call, or only traced
        // when n is 0), and the repair a runtime would run next.
        const cases: Array<{ what: string; setup: () => void; traced: (n: number) => Reply; repair: () => void }> = [
          {
            what: 'ADD',
            setup: () => {},
            traced: (n) => call('ADD', c, 'k', strace(log, sys, n)),
            repair: () => del('k', c),
          },
          {
            what: 'DEL',
            setup: () => add('k', c),
            traced: (n) => call('DEL', c, 'k', strace(log, sys, n)),
            repair: () => del('k', c),
          },
          {
            what: 'GC',
            setup: () => add('k', c),
            traced: (n) => call('GC', valid, null, strace(log, sys, n)),
            repair: () => gc(c),
          },
        ];
        let kills = 0;
        for (const { what, setup, traced, repair } of cases) {
          setup();
          ok(traced(0), `${what} traced`);
          const total = calls(log, sys);
          repair();
          expectBond([]);
          for (let n = 1; n <= total; n++) {
            setup();
            if (traced(n).signal === 'SIGKILL') kills++;
            repair();
            expectBond([], `${what} killed at ${sys} #${n} of ${total}, then repaired`);
            noVeths();
          }
        }
        // A normal ADD still works afterwards.
        add('k', c);
        expectBond([600]);
        del('k', c);
        expectBond([]);
        expect(kills, `some ${sys} kills landed`).toBeGreaterThan(0);
      },
      1_200_000,
    );
  });
});
