// Issue 13 on this machine's kernel, the plugin as a process inside a test "node" namespace: every wait is
// bounded (an IPAM plugin ignoring SIGTERM, a FIFO as CNI_NETNS), hostile names create nothing, the plugin's own
// namespace is refused as CNI_NETNS, and DEL and GC touch only what is theirs.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CNI_PATH, cni, ok, type CniCall } from '../lab/cni.js';
import { BIN, ROOT, ensureBuilt } from '../lab/binary.js';
import { freshNodeAndPod, sh, type TestNs } from './netns-fixture.js';

const FAKE_PATH = `${path.join(ROOT, 'test/fixtures/ipam')}:${CNI_PATH}`;

let node: TestNs;
let pod: TestNs;
let tmp: string;

freshNodeAndPod('vb-bounds-', (n, p, t) => {
  node = n;
  pod = p;
  tmp = t;
});

const l2 = (extra: object = {}) => ({
  cniVersion: '1.1.0',
  name: 'untagged',
  type: 'vlan-bridge',
  bridge: 'br-test',
  ipam: {},
  ...extra,
});
const hostLocal = (extra: object = {}) =>
  l2({
    cniVersion: '1.0.0',
    ipam: { type: 'host-local', subnet: '10.77.0.0/24', dataDir: path.join(tmp, 'ipam') },
    ...extra,
  });
const run = (c: Omit<CniCall, 'netns'> & { netns?: string | null }) =>
  cni(node.name, { ...c, netns: c.netns === null ? undefined : (c.netns ?? pod.path) } as CniCall);
const names = (ns: TestNs) => ns.ipj<Array<{ ifname: string }>>('link', 'show').map((l) => l.ifname);
const fail = (r: ReturnType<typeof run>) => {
  expect(r.code, r.stdout).not.toBe(0);
  expect(r.stdout.trim().split('\n')).toHaveLength(1);
  return r.json as { code: number; msg: string; details?: string };
};
const alive = (pid: number) =>
  existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));

describe('every wait is bounded', () => {
  it('an IPAM plugin that ignores SIGTERM is killed after ipamTimeout plus the grace period; ADD fails with 104 and rolls back', () => {
    const pidfile = path.join(tmp, 'stubborn.pid');
    const t0 = Date.now();
    const e = fail(
      run({
        command: 'ADD',
        conf: l2({ ipam: { type: 'stubborn-ipam' }, ipamTimeout: 1 }),
        path: FAKE_PATH,
        env: { STUBBORN_PIDFILE: pidfile },
      }),
    );
    const took = Date.now() - t0;
    expect(e).toMatchObject({
      code: 104,
      msg: 'IPAM plugin stubborn-ipam ADD timed out after 1 s (ipamTimeout)',
      details: 'stopped with SIGTERM, then SIGKILL 2 s later',
    });
    expect(took).toBeGreaterThanOrEqual(3000);
    expect(took).toBeLessThan(8000);
    expect(alive(Number(readFileSync(pidfile, 'utf8')))).toBe(false);
    expect(names(pod)).toEqual(['lo']);
    expect(
      node
        .ipj<Array<{ linkinfo?: { info_kind?: string } }>>('link', 'show')
        .filter((l) => l.linkinfo?.info_kind === 'veth'),
    ).toEqual([]);
  });

  it('ipamTimeout must be 1 second or more (code 7), and DEL takes the default for a smaller one', () => {
    for (const t of [0, 0.001]) {
      const e = fail(run({ command: 'ADD', conf: l2({ ipamTimeout: t }) }));
      expect(e.code).toBe(7);
      expect(e.details).toMatch(/^ipamTimeout: /);
    }
    // 1 ms would time out host-local's DEL (code 104) if it applied.
    const del = run({ command: 'DEL', conf: hostLocal({ ipamTimeout: 0.001 }) });
    expect(del.code, del.stdout).toBe(0);
  });

  it('CNI_NETNS naming a FIFO is refused with 101 without opening it, and nothing is created', () => {
    const fifo = path.join(tmp, 'fifo');
    sh('mkfifo', fifo);
    const e = fail(run({ command: 'ADD', conf: l2(), netns: fifo }));
    expect(e).toMatchObject({
      code: 101,
      msg: `open network namespace: ${fifo}: a FIFO, not a network namespace`,
    });
    expect(names(node)).toEqual(['lo']);
    expect(
      fail(run({ command: 'CHECK', conf: { ...l2(), prevResult: { cniVersion: '1.1.0' } }, netns: fifo })).code,
    ).toBe(101);
    // DEL cleans the host side and succeeds: a DEL that always fails wedges the runtime's teardown.
    ok(run({ command: 'ADD', conf: l2() }));
    ok(run({ command: 'DEL', conf: l2(), netns: fifo }));
    expect(names(node).sort()).toEqual(['br-test', 'lo']);
  });
});

describe('hostile names create nothing', () => {
  it('CNI_IFNAME=rtééééééé (16 bytes) is code 4, a 16-byte bridge code 7', () => {
    expect(fail(run({ command: 'ADD', conf: l2(), ifname: 'rtééééééé' })).code).toBe(4);
    expect(fail(run({ command: 'ADD', conf: l2({ bridge: 'brééééééé' }) })).code).toBe(7);
    expect(names(node)).toEqual(['lo']);
    expect(names(pod)).toEqual(['lo']);
  });

  it("CNI_IFNAME=$'rt\\xff1' is refused (code 4): no device named rt\\xEF\\xBF\\xBD1 appears", () => {
    ensureBuilt();
    const env = {
      CNI_COMMAND: 'ADD',
      CNI_CONTAINERID: 'c1',
      CNI_NETNS: pod.path,
      CNI_PATH,
      PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
    };
    const r = spawnSync(
      'ip',
      ['netns', 'exec', node.name, '/bin/sh', '-c', `CNI_IFNAME=$(printf 'rt\\377\\061') exec "$0"`, BIN],
      { env, input: JSON.stringify(l2()), encoding: 'utf8', timeout: 20_000 },
    );
    expect(JSON.parse(r.stdout)).toMatchObject({ code: 4, msg: 'invalid environment' });
    expect(names(pod)).toEqual(['lo']);
    expect(names(node)).toEqual(['lo']);
  });
});

describe("CNI_NETNS that is the plugin's own namespace", () => {
  it('ADD is refused with code 8 as libcni skel refuses it, and nothing lands in the host namespace', () => {
    const e = fail(run({ command: 'ADD', conf: hostLocal(), netns: '/proc/self/ns/net' }));
    expect(e).toMatchObject({ code: 8, msg: "plugin's netns and netns from CNI_NETNS should not be the same" });
    expect(names(node)).toEqual(['lo']);
    const addrs = node
      .ipj<Array<{ addr_info: Array<{ local: string }> }>>('addr', 'show')
      .flatMap((l) => l.addr_info.map((a) => a.local));
    expect(addrs.filter((a) => a !== '127.0.0.1' && a !== '::1')).toEqual([]);
    expect(sh('ip', '-n', node.name, 'route', 'show').trim()).toBe('');
  });

  it('the same namespace by another path (/run/netns/<node>) is refused too; DEL as well', () => {
    expect(fail(run({ command: 'ADD', conf: l2(), netns: node.path })).code).toBe(8);
    expect(fail(run({ command: 'DEL', conf: l2(), netns: node.path })).code).toBe(8);
    expect(names(node)).toEqual(['lo']);
  });

  it('CNI_NETNS_OVERRIDE=1 lets it through, as in skel', () => {
    node.exec('ip', 'link', 'add', 'net1', 'type', 'veth', 'peer', 'name', 'x1');
    const e = fail(run({ command: 'ADD', conf: l2(), netns: node.path, env: { CNI_NETNS_OVERRIDE: 'true' } }));
    expect(e.code).toBe(102); // got past the guard: CNI_IFNAME exists "in the pod", which is the host here
    ok(run({ command: 'DEL', conf: l2(), netns: node.path, env: { CNI_NETNS_OVERRIDE: '1' } }));
    expect(names(node)).toContain('net1'); // not this attachment's: its peer is beside it, not in a pod
  });
});

describe('DEL and GC touch only what is theirs', () => {
  it("DEL leaves a pod veth whose peer is in the pod, even when a host veth on our bridge has the peer's index", () => {
    pod.exec('ip', 'link', 'add', 'net1', 'index', '20', 'type', 'veth', 'peer', 'name', 'inner0', 'index', '21');
    node.exec('ip', 'link', 'add', 'br-test', 'type', 'bridge');
    node.exec('ip', 'link', 'add', 'hv21', 'index', '21', 'type', 'veth', 'peer', 'name', 'hv22', 'index', '22');
    node.exec('ip', 'link', 'set', 'hv21', 'master', 'br-test'); // no alias: as the reference plugin leaves them
    ok(run({ command: 'DEL', conf: l2() }));
    expect(names(pod).sort()).toEqual(['inner0', 'lo', 'net1']);
    // Its own attachment is still deleted.
    ok(run({ command: 'ADD', conf: l2(), ifname: 'net2' }));
    ok(run({ command: 'DEL', conf: l2(), ifname: 'net2' }));
    expect(names(pod).sort()).toEqual(['inner0', 'lo', 'net1']);
  });

  it("CHECK fails on a pod veth whose peer is in the pod, even when our host veth has the peer's index", () => {
    pod.exec('ip', 'link', 'add', 'net1', 'index', '20', 'type', 'veth', 'peer', 'name', 'inner0', 'index', '21');
    pod.exec('ip', 'link', 'set', 'net1', 'up');
    node.exec('ip', 'link', 'add', 'br-test', 'type', 'bridge');
    node.exec('ip', 'link', 'add', 'hv21', 'index', '21', 'type', 'veth', 'peer', 'name', 'hv22', 'index', '22');
    node.exec('ip', 'link', 'set', 'hv21', 'master', 'br-test', 'alias', 'vlan-bridge:untagged:c1:net1');
    const mac = pod.ipj<Array<{ address: string }>>('link', 'show', 'net1')[0]!.address;
    const prevResult = {
      cniVersion: '1.0.0',
      interfaces: [{ name: 'br-test' }, { name: 'hv21' }, { name: 'net1', mac, sandbox: pod.path }],
    };
    const r = run({ command: 'CHECK', conf: { ...l2(), cniVersion: '1.0.0', prevResult } });
    expect(r.code, r.stdout).not.toBe(0);
    expect(r.json).toMatchObject({ code: 105, msg: 'CHECK failed: "net1" peer namespace not as configured' });
    expect(r.json.details).toContain("expected the host's, found the pod itself");
  });

  it('GC removes a stale attachment whose container ID is "gateway", and keeps a gateway interface', () => {
    ok(run({ command: 'ADD', conf: l2(), containerId: 'gateway' }));
    // A gateway as older versions marked it: both ends in the host namespace.
    node.exec('ip', 'link', 'add', 'gwold', 'type', 'veth', 'peer', 'name', 'br-test.7');
    node.exec('ip', 'link', 'set', 'gwold', 'alias', 'vlan-bridge:untagged:gateway:br-test.7');
    node.exec('ip', 'link', 'add', 'gwnew', 'type', 'veth', 'peer', 'name', 'br-test.8');
    node.exec('ip', 'link', 'set', 'gwnew', 'alias', 'vlan-bridge:untagged:_gateway:br-test.8');
    ok(run({ command: 'GC', conf: { ...l2(), 'cni.dev/valid-attachments': [] }, netns: null }));
    expect(names(pod)).toEqual(['lo']);
    expect(names(node).sort()).toEqual(['br-test', 'br-test.7', 'br-test.8', 'gwnew', 'gwold', 'lo']);
  });
});
