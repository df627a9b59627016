// The plugin as a process on this machine's kernel: L2 and L3 attachments, MTU, MAC, CHECK drift, DEL, GC,
// STATUS, rollback and concurrency. The plugin runs inside a test "node" namespace; pods are namespaces too.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { CNI_PATH, cni, cniAsync, ok, type CniCall } from '../lab/cni.js';
import { ROOT } from '../lab/binary.js';
import { freshNodeAndPod, makeNetns, sh, type TestNs } from './netns-fixture.js';

const FAKE_PATH = `${path.join(ROOT, 'test/fixtures/ipam')}:${CNI_PATH}`;
const VERSIONS_L2 = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'];
// Debian's reference IPAM plugins (v1.1.1) speak up to 1.0.0; a 1.1.0 config is refused by them with code 1.
const VERSIONS_IPAM = ['0.2.0', '0.3.1', '0.4.0', '1.0.0'];

let node: TestNs;
let pod: TestNs;
let tmp: string;

freshNodeAndPod('vb-plugin-', (n, p, t) => {
  node = n;
  pod = p;
  tmp = t;
});

const l2 = (extra: object = {}, v = '1.1.0') => ({
  cniVersion: v,
  name: 'untagged',
  type: 'vlan-bridge',
  bridge: 'br-test',
  ipam: {},
  ...extra,
});
const run = (c: Omit<CniCall, 'netns'> & { netns?: string | null }) =>
  cni(node.name, { ...c, netns: c.netns === null ? undefined : (c.netns ?? pod.path) } as CniCall);
const links = (ns: TestNs) =>
  ns.ipj<
    Array<{
      ifname: string;
      ifindex: number;
      mtu: number;
      address: string;
      master?: string;
      ifalias?: string;
      flags: string[];
      linkinfo?: any;
    }>
  >('link', 'show');
const vethsOf = (ns: TestNs) => links(ns).filter((l) => l.linkinfo?.info_kind === 'veth');
const fail = (r: ReturnType<typeof run>) => {
  expect(r.code, r.stdout).not.toBe(0);
  expect(r.stdout.trim().split('\n')).toHaveLength(1);
  return r.json as { code: number; msg: string; details?: string; cniVersion: string };
};

describe('L2 (untagged network)', () => {
  it.each(VERSIONS_L2)('ADD, CHECK and DEL at %s', (v) => {
    const conf = l2({}, v);
    const res = ok(run({ command: 'ADD', conf }));
    expect(res.cniVersion).toBe(v);
    expect(res.interfaces.map((i: { name: string }) => i.name)).toEqual([
      'br-test',
      expect.stringMatching(/^veth[0-9a-f]{11}$/),
      'net1',
    ]);
    expect(res.interfaces[2].sandbox).toBe(pod.path);
    if (v.startsWith('1.')) expect(res.interfaces[2].mtu).toBe(1500);
    else expect(res.interfaces[2].mtu).toBeUndefined();
    expect(res.ips).toBeUndefined();
    const hostVeth = links(node).find((l) => l.ifname === res.interfaces[1].name)!;
    expect(hostVeth).toMatchObject({ master: 'br-test', ifalias: 'vlan-bridge:untagged:c1:net1' });
    expect(hostVeth.flags).toContain('UP');
    const [c] = pod.ipj('link', 'show', 'net1');
    expect(c.flags).toContain('UP');
    expect(c.address).toBe(res.interfaces[2].mac);
    expect(pod.exec('cat', '/proc/sys/net/ipv4/conf/net1/arp_notify').trim()).toBe('1');
    if (v >= '0.4.0') ok(run({ command: 'CHECK', conf: { ...conf, prevResult: res } }));
    ok(run({ command: 'DEL', conf }));
    expect(vethsOf(node)).toEqual([]);
    expect(links(pod).map((l) => l.ifname)).toEqual(['lo']);
    expect(links(node).map((l) => l.ifname)).toContain('br-test'); // DEL never deletes the bridge
  });

  it('refuses an L2 config at 0.2.0 before creating anything', () => {
    const e = fail(run({ command: 'ADD', conf: l2({}, '0.2.0') }));
    expect(e).toMatchObject({ code: 107, msg: 'cannot convert: no valid IP addresses' });
    expect(links(node).map((l) => l.ifname)).toEqual(['lo']);
  });

  it('creates the bridge promiscuous when asked, and sets hairpin and isolation on the port', () => {
    const res = ok(run({ command: 'ADD', conf: l2({ promiscMode: true, portIsolation: true }) }));
    const [br] = node.ipj('link', 'show', 'br-test');
    expect(br.flags).toContain('PROMISC');
    const [p] = node.ipj('link', 'show', res.interfaces[1].name);
    expect(p.linkinfo.info_slave_data).toMatchObject({ isolated: true, hairpin: false });
    ok(run({ command: 'ADD', conf: l2({ hairpinMode: true }), containerId: 'c2', ifname: 'net2' }));
    const hp = links(node).find((l) => l.ifalias === 'vlan-bridge:untagged:c2:net2')!;
    expect(node.ipj('link', 'show', hp.ifname)[0].linkinfo.info_slave_data.hairpin).toBe(true);
  });

  it('refuses a bridge name taken by another kind of device, creating nothing', () => {
    node.exec('ip', 'link', 'add', 'br-test', 'type', 'veth', 'peer', 'name', 'other0');
    const e = fail(run({ command: 'ADD', conf: l2() }));
    expect(e).toMatchObject({ code: 103, msg: '"br-test" exists but is not a bridge' });
    expect(links(pod).map((l) => l.ifname)).toEqual(['lo']);
    expect(
      vethsOf(node)
        .map((l) => l.ifname)
        .sort(),
    ).toEqual(['br-test', 'other0']);
  });
});

describe('MTU', () => {
  it('inherits the bridge MTU when the config names none', () => {
    node.exec('ip', 'link', 'add', 'br-test', 'type', 'bridge');
    node.exec('ip', 'link', 'set', 'br-test', 'mtu', '9000');
    const res = ok(run({ command: 'ADD', conf: l2() }));
    expect(pod.ipj('link', 'show', 'net1')[0].mtu).toBe(9000);
    expect(node.ipj('link', 'show', res.interfaces[1].name)[0].mtu).toBe(9000);
    expect(res.interfaces[2].mtu).toBe(9000);
  });

  it('puts an explicit MTU on both ends and on a bridge it creates', () => {
    const res = ok(run({ command: 'ADD', conf: l2({ mtu: 1400 }) }));
    expect(pod.ipj('link', 'show', 'net1')[0].mtu).toBe(1400);
    expect(node.ipj('link', 'show', res.interfaces[1].name)[0].mtu).toBe(1400);
    expect(node.ipj('link', 'show', 'br-test')[0].mtu).toBe(1400);
  });

  it('refuses an explicit MTU above the bridge MTU, leaving nothing behind', () => {
    node.exec('ip', 'link', 'add', 'br-test', 'type', 'bridge');
    const e = fail(run({ command: 'ADD', conf: l2({ mtu: 9000 }) }));
    expect(e).toMatchObject({ code: 103, msg: 'mtu 9000 exceeds bridge "br-test" MTU 1500' });
    expect(vethsOf(node)).toEqual([]);
    expect(links(pod).map((l) => l.ifname)).toEqual(['lo']);
  });
});

describe("MTU from the uplink (Harvester: VM networks take the MTU of the cluster network's uplink)", () => {
  // br-test with an uplink at 9000: a VXLAN device, a port that is neither a veth nor a tap, as a NIC or a bond
  // would be (this machine's kernel has no dummy or bond driver; the UML tier tests a bond).
  const jumbo = l2({}, '1.0.0');
  const small = { ...l2({ mtu: 1400 }, '1.0.0'), name: 'small' };
  let pod2: TestNs;
  let pod3: TestNs;
  beforeEach(() => {
    node.exec(
      'sh',
      '-ec',
      'ip link add br-test type bridge; ip link add up0 mtu 9000 type vxlan id 10 dstport 4789; ip link set up0 master br-test; ip link set up0 up; ip link set br-test up',
    );
    pod2 = makeNetns('vbp');
    pod3 = makeNetns('vbp');
  });
  const mtuIn = (ns: TestNs, dev: string) => ns.ipj<Array<{ mtu: number }>>('link', 'show', dev)[0]!.mtu;

  it("another network's smaller mtu lowers the bridge but not what later pods of a network without mtu get", () => {
    const a = ok(run({ command: 'ADD', conf: jumbo }));
    expect(a.interfaces[2].mtu).toBe(9000);
    ok(run({ command: 'ADD', conf: small, containerId: 'b', netns: pod2.path }));
    expect(mtuIn(node, 'br-test')).toBe(1400); // the kernel sizes the bridge to its smallest port
    const c = ok(run({ command: 'ADD', conf: jumbo, containerId: 'c', netns: pod3.path }));
    expect(mtuIn(pod3, 'net1')).toBe(9000);
    expect(mtuIn(node, c.interfaces[1].name)).toBe(9000);
    expect(c.interfaces[2].mtu).toBe(9000);
    // CHECK follows the same rule: pod A is still right although the bridge is at 1400 now.
    ok(run({ command: 'CHECK', conf: { ...jumbo, prevResult: a } }));
    // An explicit mtu is compared with the uplink, not with the lowered bridge.
    ok(
      run({
        command: 'ADD',
        conf: { ...l2({ mtu: 9000 }, '1.0.0'), name: 'explicit' },
        containerId: 'd',
        netns: pod3.path,
        ifname: 'net2',
      }),
    );
    const e = fail(
      run({
        command: 'ADD',
        conf: { ...l2({ mtu: 9001 }, '1.0.0'), name: 'explicit' },
        containerId: 'e',
        netns: pod3.path,
        ifname: 'net3',
      }),
    );
    expect(e).toMatchObject({ code: 103, msg: 'mtu 9001 exceeds the uplink MTU 9000 of bridge "br-test"' });
  });

  it('takes the smallest uplink, and ignores taps and veths on the bridge', () => {
    node.exec(
      'sh',
      '-ec',
      `ip link add up1 mtu 8000 type vxlan id 11 dstport 4789; ip link set up1 master br-test
      ip tuntap add dev tap0 mode tap; ip link set tap0 mtu 1300 master br-test
      ip link add vx0 mtu 1200 type veth peer name vx1; ip link set vx0 master br-test`,
    );
    ok(run({ command: 'ADD', conf: jumbo }));
    expect(mtuIn(pod, 'net1')).toBe(8000);
  });

  it("with no uplink, takes the bridge's own MTU", () => {
    node.exec('ip', 'link', 'del', 'up0');
    node.exec('ip', 'link', 'set', 'br-test', 'mtu', '1450');
    ok(run({ command: 'ADD', conf: jumbo }));
    expect(mtuIn(pod, 'net1')).toBe(1450);
  });
});

describe('MAC', () => {
  const argsMac = '02:00:00:00:00:0a';
  const cniArgsMac = '02:00:00:00:00:0b';
  const rcMac = '02:00:00:00:00:0c';
  it.each([
    ['runtimeConfig over args and CNI_ARGS', { runtimeConfig: { mac: rcMac }, args: { cni: { mac: argsMac } } }, rcMac],
    ['args.cni over CNI_ARGS', { args: { cni: { mac: argsMac } } }, argsMac],
    ['CNI_ARGS MAC alone', {}, cniArgsMac],
  ])('%s', (_n, extra, want) => {
    const res = ok(
      run({
        command: 'ADD',
        conf: l2(extra),
        args: `IgnoreUnknown=true;K8S_POD_NAME=vm1;MAC=${cniArgsMac.toUpperCase()}`,
      }),
    );
    expect(pod.ipj('link', 'show', 'net1')[0].address).toBe(want);
    expect(res.interfaces[2].mac).toBe(want);
  });
});

describe('L3 through delegated IPAM', () => {
  const hostLocal = (extra: object = {}) =>
    l2({
      cniVersion: '1.0.0',
      name: 'l3net',
      isDefaultGateway: true,
      ipam: { type: 'host-local', subnet: '10.77.0.0/24', dataDir: path.join(tmp, 'ipam') },
      ...extra,
    });
  const allocations = () => {
    const dir = path.join(tmp, 'ipam', 'l3net');
    return existsSync(dir) ? readdirSync(dir).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f)) : [];
  };

  it.each(VERSIONS_IPAM)('host-local with a gateway on the bridge at %s', (v) => {
    const conf = { ...hostLocal(), cniVersion: v };
    const res = ok(run({ command: 'ADD', conf }));
    const addr = v === '0.2.0' ? res.ip4.ip : res.ips[0].address;
    expect(addr).toMatch(/^10\.77\.0\.\d+\/24$/);
    expect(v === '0.2.0' ? res.ip4.gateway : res.ips[0].gateway).toBe('10.77.0.1');
    const [c] = pod.ipj('addr', 'show', 'net1');
    expect(c.addr_info.map((a: { local: string; prefixlen: number }) => `${a.local}/${a.prefixlen}`)).toContain(addr);
    expect(pod.ipj('route', 'show')).toEqual(
      expect.arrayContaining([expect.objectContaining({ dst: 'default', gateway: '10.77.0.1', dev: 'net1' })]),
    );
    const [br] = node.ipj('addr', 'show', 'br-test');
    expect(br.addr_info.map((a: { local: string; prefixlen: number }) => `${a.local}/${a.prefixlen}`)).toContain(
      '10.77.0.1/24',
    );
    expect(node.exec('cat', '/proc/sys/net/ipv4/ip_forward').trim()).toBe('1');
    expect(allocations()).toHaveLength(1);
    pod.exec('ping', '-c', '1', '-W', '2', '10.77.0.1');
    if (v >= '0.4.0') ok(run({ command: 'CHECK', conf: { ...conf, prevResult: res } }));
    ok(run({ command: 'DEL', conf: v >= '1.0.0' ? { ...conf, prevResult: res } : conf }));
    expect(allocations()).toEqual([]);
    expect(vethsOf(node)).toEqual([]);
  });

  it("pins the gateway bridge's MAC: deleting pods in any order never changes it, the others reach the gateway at once", () => {
    const pods = [pod, makeNetns('vbp'), makeNetns('vbp')];
    const conf = hostLocal({ isGateway: true });
    const macOf = (dev: string) => node.ipj<Array<{ address: string }>>('link', 'show', dev)[0]!.address;
    for (const order of [
      [0, 1, 2],
      [2, 1, 0],
    ]) {
      const res = pods.map((p, i) => ok(run({ command: 'ADD', conf, containerId: `c${i}`, netns: p.path })));
      const pinned = macOf('br-test');
      // Without the pin the bridge would now take this port's MAC, the lowest of all (br_stp_recalculate_bridge_id).
      node.exec('ip', 'link', 'set', res[order[0]!].interfaces[1].name, 'address', '02:00:00:00:00:01');
      expect(macOf('br-test')).toBe(pinned);
      for (const p of pods) p.exec('ping', '-c', '1', '-W', '2', '10.77.0.1'); // every pod has the gateway in its ARP cache
      for (const [n, i] of order.entries()) {
        ok(run({ command: 'DEL', conf: { ...conf, prevResult: res[i] }, containerId: `c${i}`, netns: pods[i]!.path }));
        expect(macOf('br-test')).toBe(pinned);
        // No ARP entry expires in 1 s: the remaining pods reach the gateway with what they cached.
        for (const j of order.slice(n + 1)) pods[j]!.exec('ping', '-c', '1', '-W', '1', '10.77.0.1');
      }
    }
  });

  it('announces a reused address: a router that talked to the old pod reaches the new one within 2 s', () => {
    // A router namespace on the bridge, as a neighbour that caches the pods' MACs.
    const rtr = makeNetns('vbr');
    node.exec(
      'sh',
      '-ec',
      `ip link add br-test type bridge; ip link set br-test up
      ip link add rtrport type veth peer name rtr0 netns ${rtr.name}; ip link set rtrport master br-test up`,
    );
    rtr.exec(
      'sh',
      '-ec',
      'ip addr add 10.79.0.254/24 dev rtr0; ip addr add fd79::fe/64 dev rtr0 nodad; ip link set rtr0 up',
    );
    const conf = l2(
      { name: 'static', ipam: { type: 'static', addresses: [{ address: '10.79.0.3/24' }, { address: 'fd79::3/64' }] } },
      '1.0.0',
    );
    const a = ok(run({ command: 'ADD', conf, containerId: 'a' }));
    rtr.exec('ping', '-c', '1', '-W', '2', '10.79.0.3');
    rtr.exec('ping', '-6', '-c', '1', '-W', '2', 'fd79::3');
    ok(run({ command: 'DEL', conf: { ...conf, prevResult: a }, containerId: 'a' }));
    const podB = makeNetns('vbp');
    const b = ok(run({ command: 'ADD', conf, containerId: 'b', netns: podB.path }));
    expect(b.interfaces[2].mac).not.toBe(a.interfaces[2].mac);
    // The router's entries now name B's MAC (STALE after an unsolicited update), without a flush.
    const neigh = rtr.ipj<Array<{ dst: string; lladdr?: string }>>('neigh', 'show', 'dev', 'rtr0');
    expect(neigh.filter((n) => n.dst === '10.79.0.3' || n.dst === 'fd79::3').map((n) => n.lladdr)).toEqual([
      b.interfaces[2].mac,
      b.interfaces[2].mac,
    ]);
    rtr.exec('ping', '-c', '1', '-W', '2', '10.79.0.3');
    rtr.exec('ping', '-6', '-c', '1', '-W', '2', 'fd79::3');
  });

  it('static IPAM with routes', () => {
    const conf = l2(
      {
        name: 'static',
        ipam: {
          type: 'static',
          addresses: [{ address: '10.78.0.5/24', gateway: '10.78.0.1' }],
          routes: [{ dst: '10.200.0.0/16' }],
        },
      },
      '1.0.0',
    );
    const res = ok(run({ command: 'ADD', conf }));
    expect(res.ips).toEqual([{ address: '10.78.0.5/24', gateway: '10.78.0.1', interface: 2 }]);
    expect(pod.ipj('route', 'show')).toEqual(
      expect.arrayContaining([expect.objectContaining({ dst: '10.200.0.0/16', gateway: '10.78.0.1' })]),
    );
    ok(run({ command: 'CHECK', conf: { ...conf, prevResult: res } }));
  });

  it('rolls back everything when ADD fails late (route via an unreachable gateway)', () => {
    const conf = hostLocal({
      isDefaultGateway: false,
      ipam: {
        type: 'host-local',
        subnet: '10.77.0.0/24',
        dataDir: path.join(tmp, 'ipam'),
        routes: [{ dst: '10.9.0.0/16', gw: '10.99.99.1' }],
      },
    });
    const e = fail(run({ command: 'ADD', conf }));
    expect(e.code).toBe(100);
    expect(e.msg).toMatch(/^add route 10\.9\.0\.0\/16 via 10\.99\.99\.1 in the pod: /);
    expect(vethsOf(node)).toEqual([]);
    expect(links(pod).map((l) => l.ifname)).toEqual(['lo']);
    expect(allocations()).toEqual([]);
  });

  it("passes the IPAM plugin's own version refusal through (code 1)", () => {
    const e = fail(run({ command: 'ADD', conf: { ...hostLocal(), cniVersion: '1.1.0' } }));
    expect(e).toMatchObject({ code: 1, msg: 'incompatible CNI versions' });
    expect(vethsOf(node)).toEqual([]);
  });

  it('passes an IPAM error code through unchanged and leaves nothing behind', () => {
    // A code and message of the IPAM plugin's own reach the runtime as they are.
    const fake = l2({ name: 'l3net', ipam: { type: 'fake-ipam' } }, '1.0.0');
    const e = fail(
      run({
        command: 'ADD',
        conf: fake,
        path: FAKE_PATH,
        env: { FAKE_IPAM_ERROR_CODE: '11', FAKE_IPAM_ERROR_MSG: 'pool busy' },
      }),
    );
    expect(e).toEqual({ cniVersion: '1.0.0', code: 11, msg: 'pool busy', details: 'from fake-ipam' });
    expect(vethsOf(node)).toEqual([]);
    expect(links(pod).map((l) => l.ifname)).toEqual(['lo']);
    // Debian's host-local answers a bad subnet with its own 999 and message: passed through too, not rewritten.
    const bad = fail(
      run({
        command: 'ADD',
        conf: l2({ name: 'l3net', ipam: { type: 'host-local', subnet: 'not-a-subnet' } }, '1.0.0'),
      }),
    );
    expect(bad).toMatchObject({ code: 999, msg: 'invalid CIDR address: not-a-subnet' });
    expect(vethsOf(node)).toEqual([]);
    const missing = fail(run({ command: 'ADD', conf: l2({ ipam: { type: 'no-such-ipam' } }) }));
    expect(missing).toMatchObject({ code: 104, msg: 'failed to find IPAM plugin "no-such-ipam"' });
    expect(vethsOf(node)).toEqual([]);
    // A result the kernel could not take (a route via a gateway of another family) is the IPAM plugin's: 104.
    const unusable = fail(
      run({
        command: 'ADD',
        conf: fake,
        path: FAKE_PATH,
        env: { FAKE_IPAM_ROUTES: '[{"dst":"10.8.0.0/16","gw":"fd00::1"}]' },
      }),
    );
    expect(unusable).toMatchObject({
      code: 104,
      details: 'ipam result.routes[0].gw: is not of the family of dst (got "fd00::1")',
    });
    expect(vethsOf(node)).toEqual([]);
    expect(links(pod).map((l) => l.ifname)).toEqual(['lo']);
  });
});

describe('CHECK', () => {
  function added(extra: object = {}) {
    const conf = l2({ hairpinMode: true, ...extra });
    const res = ok(run({ command: 'ADD', conf, args: 'MAC=02:00:00:00:00:42' }));
    return { conf: { ...conf, prevResult: res }, res, veth: res.interfaces[1].name as string };
  }
  const check = (conf: object) => run({ command: 'CHECK', conf, args: 'MAC=02:00:00:00:00:42' });

  it('passes on an untouched L2 attachment (the reference fails every L2 CHECK)', () => {
    ok(check(added().conf));
  });

  it.each([
    // Of the host end, which is ours alone (the config names the MTU: with none, a bridge without uplink follows its
    // smallest port, and the expected MTU with it).
    [
      'MTU',
      (v: string) => node.exec('ip', 'link', 'set', v, 'mtu', '1400'),
      'MTU: expected 1500, found 1400',
      { mtu: 1500 },
    ],
    [
      'MAC',
      () => pod.exec('ip', 'link', 'set', 'net1', 'address', '02:00:00:00:00:99'),
      '"net1" MAC: expected "02:00:00:00:00:42", found "02:00:00:00:00:99"',
    ],
    [
      'hairpin',
      (v: string) => node.exec('ip', 'link', 'set', v, 'type', 'bridge_slave', 'hairpin', 'off'),
      'hairpin: expected true, found false',
    ],
    ['master', (v: string) => node.exec('ip', 'link', 'set', v, 'nomaster'), 'master: expected "br-test", missing'],
    [
      'master moved',
      (v: string) => node.exec('sh', '-c', `ip link add br-other type bridge; ip link set ${v} master br-other`),
      'master: expected "br-test", found "br-other"',
    ],
    [
      'isolation',
      (v: string) => node.exec('ip', 'link', 'set', v, 'type', 'bridge_slave', 'isolated', 'on'),
      'isolated: expected false, found true',
    ],
    // An unlabelled host veth is what a killed ADD leaves: found by its name, but not a finished attachment.
    [
      'alias',
      (v: string) => node.exec('ip', 'link', 'set', v, 'alias', ''),
      'alias: expected "vlan-bridge:untagged:c1:net1", missing',
    ],
  ] as Array<[string, (v: string) => void, string, object?]>)('detects %s drift', (_n, drift, text, extra) => {
    const a = added(extra);
    drift(a.veth);
    const e = fail(check(a.conf));
    expect(e.code).toBe(105);
    expect(e.details).toContain(text);
    // msg names what differs; details add expected vs found, and never repeat msg or print "undefined".
    const what = text.slice(0, text.indexOf(': expected'));
    expect(e.msg).toMatch(new RegExp(`^CHECK failed: .*${what.replace(/[.*+?^${}()|[\]\\"]/g, '\\$&')}`));
    expect(e.msg).not.toMatch(/expected|found/);
    expect(e.details).not.toContain(e.msg);
    expect(`${e.msg} ${e.details}`).not.toMatch(/undefined/);
  });

  it("passes when a later plugin changed the pod end's MTU (tuning 1.9.1 leaves it out of its result)", () => {
    const a = added();
    pod.exec('ip', 'link', 'set', 'net1', 'mtu', '1400');
    ok(check(a.conf));
  });

  it('detects a missing interface and a missing address', () => {
    const conf = l2({ name: 'static', ipam: { type: 'static', addresses: [{ address: '10.78.0.5/24' }] } }, '1.0.0');
    const res = ok(run({ command: 'ADD', conf }));
    pod.exec('ip', 'addr', 'del', '10.78.0.5/24', 'dev', 'net1');
    expect(fail(run({ command: 'CHECK', conf: { ...conf, prevResult: res } })).details).toContain(
      '"net1" address: expected 10.78.0.5/24, missing',
    );
    pod.exec('ip', 'link', 'del', 'net1');
    expect(fail(run({ command: 'CHECK', conf: { ...conf, prevResult: res } }))).toMatchObject({
      code: 105,
      msg: `CHECK: interface "net1" does not exist in ${pod.path}`,
    });
  });

  it('requires prevResult', () => {
    expect(fail(check(l2()))).toMatchObject({ code: 7, details: 'prevResult: required for CHECK (missing)' });
  });
});

describe('DEL', () => {
  it('succeeds for a missing netns, a missing interface and a repeated DEL, each time with nothing left', () => {
    const gone = () => {
      expect(vethsOf(node)).toEqual([]);
      expect(links(pod).map((l) => l.ifname)).toEqual(['lo']);
    };
    ok(run({ command: 'ADD', conf: l2() }));
    expect(vethsOf(node)).toHaveLength(1);
    expect(ok(run({ command: 'DEL', conf: l2() }))).toBeUndefined(); // DEL prints nothing on success
    gone();
    ok(run({ command: 'DEL', conf: l2() }));
    gone();
    // The pod gone before DEL: its end went with it, the host end goes by its alias.
    const p2 = makeNetns('vbp');
    ok(run({ command: 'ADD', conf: l2(), containerId: 'c2', netns: p2.path }));
    sh('ip', 'netns', 'del', p2.name);
    ok(run({ command: 'DEL', conf: l2(), containerId: 'c2', netns: p2.path }));
    gone();
    ok(run({ command: 'DEL', conf: l2(), netns: '/run/netns/does-not-exist' }));
    ok(run({ command: 'DEL', conf: l2(), netns: null }));
    // Another attachment's interface is left alone by a DEL of an ifname never added.
    ok(run({ command: 'ADD', conf: l2() }));
    ok(run({ command: 'DEL', conf: l2(), ifname: 'never-added' }));
    expect(
      links(pod)
        .map((l) => l.ifname)
        .sort(),
    ).toEqual(['lo', 'net1']);
    expect(vethsOf(node)).toHaveLength(1);
  });

  it('removes the pair when its host end was moved to another namespace, and leaves a stranger there alone', () => {
    const far = makeNetns('vbf');
    const res = ok(run({ command: 'ADD', conf: l2() }));
    sh('ip', '-n', node.name, 'link', 'set', res.interfaces[1].name, 'netns', far.name);
    ok(run({ command: 'DEL', conf: l2() }));
    expect(links(pod).map((l) => l.ifname)).toEqual(['lo']);
    expect(vethsOf(far)).toEqual([]);
    // A pair that is no attachment of ours, from the pod to that namespace: DEL of net1 leaves it.
    sh('ip', '-n', pod.name, 'link', 'add', 'net1', 'type', 'veth', 'peer', 'name', 'stranger', 'netns', far.name);
    ok(run({ command: 'DEL', conf: l2() }));
    expect(links(pod).map((l) => l.ifname)).toEqual(['lo', 'net1']);
    expect(vethsOf(far).map((l) => l.ifname)).toEqual(['stranger']);
  });

  it('removes the host veth by its alias when the runtime gives no netns', () => {
    ok(run({ command: 'ADD', conf: l2() }));
    ok(run({ command: 'DEL', conf: l2(), netns: null }));
    expect(vethsOf(node)).toEqual([]);
  });

  it('always runs IPAM DEL, even with the netns gone', () => {
    const log = path.join(tmp, 'ipam.log');
    const conf = l2({ ipam: { type: 'fake-ipam' } });
    ok(run({ command: 'DEL', conf, path: FAKE_PATH, netns: '/run/netns/gone', env: { FAKE_IPAM_LOG: log } }));
    expect(readFileSync(log, 'utf8')).toBe('DEL c1 net1\n');
  });

  it('succeeds, calling nothing, for an interface name ADD refuses (Multus deletes every network of a failed pod)', () => {
    const log = path.join(tmp, 'ipam.log');
    const conf = l2({ ipam: { type: 'fake-ipam' } });
    const env = { FAKE_IPAM_LOG: log };
    const refused = fail(run({ command: 'ADD', conf, path: FAKE_PATH, ifname: 'abcdefghijklmnop', env }));
    expect(refused.code).toBe(4);
    ok(run({ command: 'DEL', conf, path: FAKE_PATH, ifname: 'abcdefghijklmnop', env }));
    expect(existsSync(log)).toBe(false); // no IPAM call: ADD refused before IPAM, so there is nothing to release
    expect(vethsOf(node)).toEqual([]);
  });
});

describe('bad input creates nothing', () => {
  it.each([
    ['a missing netns', () => '/run/netns/nope', 101, /no such network namespace/],
    [
      'a file that is not a netns',
      () => {
        const f = path.join(tmp, 'f');
        writeFileSync(f, '');
        return f;
      },
      101,
      /not a namespace file/,
    ],
    ['a namespace of another type', () => '/proc/self/ns/uts', 101, /a uts namespace, not a network namespace/],
  ])('%s', (_n, netns, code, msg) => {
    const e = fail(run({ command: 'ADD', conf: l2(), netns: netns() }));
    expect(e.code).toBe(code);
    expect(e.msg).toMatch(msg);
    expect(links(node).map((l) => l.ifname)).toEqual(['lo']);
  });

  it('a VLAN config on a kernel without bridge VLAN filtering: code 108 naming the option and the key, a hint that can work', () => {
    // This tier runs on the machine's kernel; the UML tier covers a kernel with the feature.
    let supported = true;
    try {
      node.exec('ip', 'link', 'add', 'br-probe', 'type', 'bridge', 'vlan_filtering', '1');
      node.exec('ip', 'link', 'del', 'br-probe');
    } catch {
      supported = false;
    }
    const created = run({ command: 'ADD', conf: l2({ vlan: 100 }) });
    node.exec('ip', 'link', 'add', 'br-flat', 'type', 'bridge');
    const existing = run({
      command: 'ADD',
      conf: l2({ bridge: 'br-flat', vlanTrunk: [{ id: 7 }] }),
      containerId: 'c2',
      ifname: 'net2',
    });
    if (!supported) {
      const e = fail(created);
      expect(e).toMatchObject({ code: 108, msg: 'this kernel has no bridge VLAN filtering, which vlan=100 needs' });
      expect(e.details).toMatch(/^kernel option CONFIG_BRIDGE_VLAN_FILTERING, needed by config key vlan=100: /);
      const e2 = fail(existing);
      expect(e2).toMatchObject({
        code: 108,
        msg: 'this kernel has no bridge VLAN filtering, which vlanTrunk=[{"id":7}] needs',
      });
      // No hint that cannot work here: turning filtering on is refused by this kernel.
      expect(`${e.details} ${e2.details}`).not.toMatch(/vlan_filtering 1|create the bridge/);
      expect(vethsOf(node)).toEqual([]);
      expect(
        links(node)
          .map((l) => l.ifname)
          .sort(),
      ).toEqual(['br-flat', 'lo']);
    } else {
      ok(created);
      const e = fail(existing);
      expect(e.code).toBe(103);
      node.exec('sh', '-c', e.details!.match(/\((ip link set [^;)]+)/)![1]!);
      ok(
        run({
          command: 'ADD',
          conf: l2({ bridge: 'br-flat', vlanTrunk: [{ id: 7 }] }),
          containerId: 'c2',
          ifname: 'net2',
        }),
      );
    }
    expect(
      links(pod)
        .map((l) => l.ifname)
        .sort(),
    ).toEqual(supported ? ['lo', 'net1', 'net2'] : ['lo']);
  });

  it('an ifname that already exists in the pod', () => {
    pod.exec('ip', 'link', 'add', 'net1', 'type', 'bridge');
    const e = fail(run({ command: 'ADD', conf: l2() }));
    expect(e).toMatchObject({ code: 102, msg: `interface "net1" already exists in ${pod.path}` });
    expect(vethsOf(node)).toEqual([]);
  });

  it('an invalid config', () => {
    const e = fail(run({ command: 'ADD', conf: l2({ vlan: 5000, mtu: 1 }) }));
    expect(e).toMatchObject({ code: 7, cniVersion: '1.1.0' });
    expect(e.details).toBe(
      'mtu: must be 0 (inherit) or 68-65535 (got 1); vlan: Too big: expected number to be <=4094 (got 5000)',
    );
    expect(links(node).map((l) => l.ifname)).toEqual(['lo']);
  });
});

describe('STATUS and GC', () => {
  it('STATUS is ready, delegates to IPAM, and reports an unusable bridge as 50', () => {
    const log = path.join(tmp, 'ipam.log');
    ok(
      run({
        command: 'STATUS',
        conf: l2({ ipam: { type: 'fake-ipam' } }),
        path: FAKE_PATH,
        netns: null,
        env: { FAKE_IPAM_LOG: log },
      }),
    );
    expect(readFileSync(log, 'utf8')).toBe('VERSION  \nSTATUS  \n');
    const down = fail(
      run({
        command: 'STATUS',
        conf: l2({ ipam: { type: 'fake-ipam' } }),
        path: FAKE_PATH,
        netns: null,
        env: { FAKE_IPAM_UNAVAILABLE: '1' },
      }),
    );
    expect(down).toMatchObject({ code: 50, msg: 'pool exhausted' });
    node.exec('ip', 'link', 'add', 'br-test', 'type', 'veth', 'peer', 'name', 'x0');
    expect(fail(run({ command: 'STATUS', conf: l2(), netns: null }))).toMatchObject({ code: 50 });
  });

  it("GC removes this network's veths not in valid-attachments, keeps the rest, forwards to IPAM, releases theirs", () => {
    const pod2 = makeNetns('vbp');
    ok(run({ command: 'ADD', conf: l2(), containerId: 'keep' }));
    ok(run({ command: 'ADD', conf: l2(), containerId: 'stale', netns: pod2.path }));
    ok(run({ command: 'ADD', conf: l2({ name: 'othernet' }), containerId: 'other', ifname: 'net2' }));
    const log = path.join(tmp, 'ipam.log');
    const gc = l2({
      ipam: { type: 'fake-ipam' },
      'cni.dev/valid-attachments': [{ containerID: 'keep', ifname: 'net1' }],
    });
    ok(run({ command: 'GC', conf: gc, path: FAKE_PATH, netns: null, env: { FAKE_IPAM_LOG: log } }));
    expect(
      vethsOf(node)
        .map((l) => l.ifalias)
        .sort(),
    ).toEqual(['vlan-bridge:othernet:other:net2', 'vlan-bridge:untagged:keep:net1']);
    expect(links(pod2).map((l) => l.ifname)).toEqual(['lo']);
    // GC forwarded, then an IPAM DEL of the stale attachment it removed (an IPAM without GC, as host-local, releases
    // its address then); the environment the runtime gave GC has no container ID or ifname.
    expect(readFileSync(log, 'utf8')).toBe('VERSION  \nGC  \nVERSION  \nDEL stale net1\n');
  });
});

describe('concurrency', () => {
  it('32 ADDs then 32 DELs in parallel on one new bridge all succeed and leave nothing', async () => {
    const pods = Array.from({ length: 32 }, () => makeNetns('vbc'));
    const adds = await Promise.all(
      pods.map((p, i) => cniAsync(node.name, { command: 'ADD', conf: l2(), containerId: `c${i}`, netns: p.path })),
    );
    for (const r of adds) expect(r.code, r.stdout).toBe(0);
    expect(vethsOf(node)).toHaveLength(32);
    expect(links(node).filter((l) => l.ifname === 'br-test')).toHaveLength(1);
    const dels = await Promise.all(
      pods.map((p, i) => cniAsync(node.name, { command: 'DEL', conf: l2(), containerId: `c${i}`, netns: p.path })),
    );
    for (const r of dels) expect(r.code, r.stdout).toBe(0);
    expect(vethsOf(node)).toEqual([]);
  }, 120_000);
});
