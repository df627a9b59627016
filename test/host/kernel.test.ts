// Every kernel verb against this machine's kernel, read back through iproute2 (an independent path).
import { mkdtempSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  IcmpSocket,
  KernelError,
  NetnsError,
  Netns,
  addAddress,
  addRoute,
  createBridge,
  createVeth,
  delAddress,
  deleteLink,
  getLink,
  inNetns,
  dumpVlans,
  listAddresses,
  listLinks,
  listPorts,
  listRoutes,
  portVlans,
  openNetlink,
  setBridgePort,
  setLink,
  writeSysctl,
  type NetlinkSocket,
} from '../../src/kernel/index.js';
import { buildEchoRequest, parseEchoReply } from '../../src/tools/ping.js';
import { deleteAllNetns, makeNetns, type TestNs } from './netns-fixture.js';
import { thrown } from '../lab/thrown.js';

let hostNs: TestNs; // plays the node's host namespace
let podNs: TestNs; // plays a container
let host: Netns;
let pod: Netns;
let hs: NetlinkSocket;
let ps: NetlinkSocket;

beforeEach(() => {
  hostNs = makeNetns();
  podNs = makeNetns();
  host = Netns.open(hostNs.path);
  pod = Netns.open(podNs.path);
  hs = openNetlink(host);
  ps = openNetlink(pod);
});

afterEach(() => {
  hs.close();
  ps.close();
  host.close();
  pod.close();
  deleteAllNetns();
});
afterAll(deleteAllNetns);

const kernelError = (fn: () => unknown): KernelError => thrown(KernelError, fn);

describe('namespaces', () => {
  it('tells a missing path from a file that is not a network namespace', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vbt-'));
    writeFileSync(join(dir, 'plain'), 'x');
    const cases: Array<[string, string]> = [
      [join(dir, 'nope'), 'missing'],
      [join(dir, 'plain'), 'not-netns'],
      ['/proc/self/ns/uts', 'not-netns'],
      [`${dir}/plain/x`, 'missing'],
    ];
    for (const [path, kind] of cases) {
      let err: unknown;
      try {
        Netns.open(path);
      } catch (e) {
        err = e;
      }
      expect(err, path).toBeInstanceOf(NetnsError);
      expect((err as NetnsError).kind, path).toBe(kind);
    }
    expect(() => Netns.open('/proc/self/ns/uts')).toThrow(/a uts namespace, not a network namespace/);
  });

  it('enters and always returns, also when the callback throws', () => {
    const self = readlinkSync('/proc/thread-self/ns/net');
    const inside = inNetns(pod, () => readlinkSync('/proc/thread-self/ns/net'));
    expect(inside).not.toBe(self);
    expect(inside).toBe(`net:[${statSync(podNs.path).ino}]`);
    expect(readlinkSync('/proc/thread-self/ns/net')).toBe(self);
    expect(() =>
      inNetns(pod, () => {
        throw new Error('inside');
      }),
    ).toThrow('inside');
    expect(readlinkSync('/proc/thread-self/ns/net')).toBe(self);
    // Nested: back to the outer namespace, then home.
    const [outer, afterInner] = inNetns(host, () => {
      const o = readlinkSync('/proc/thread-self/ns/net');
      inNetns(pod, () => undefined);
      return [o, readlinkSync('/proc/thread-self/ns/net')];
    });
    expect(afterInner).toBe(outer);
    expect(readlinkSync('/proc/thread-self/ns/net')).toBe(self);
  });

  it('refuses an async callback (its continuation would run in the wrong namespace)', async () => {
    expect(() => inNetns(pod, (async () => 1) as () => unknown)).toThrow(/synchronous/);
    expect(readlinkSync('/proc/thread-self/ns/net')).toBe(readlinkSync('/proc/self/ns/net'));
  });

  it('binds a socket to its namespace for good', () => {
    podNs.exec('ip', 'link', 'add', 'only-here', 'type', 'bridge');
    expect(
      listLinks(ps)
        .map((l) => l.name)
        .sort(),
    ).toEqual(['lo', 'only-here']);
    expect(listLinks(hs).map((l) => l.name)).toEqual(['lo']);
  });

  it('writes and reads sysctls of the namespace it names', () => {
    podNs.exec('ip', 'link', 'add', 'd0', 'type', 'bridge');
    writeSysctl(pod, 'net/ipv4/conf/d0/arp_notify', '1');
    expect(podNs.exec('cat', '/proc/sys/net/ipv4/conf/d0/arp_notify').trim()).toBe('1');
    // Written in the pod only: the host namespace has no d0.
    expect(hostNs.exec('sh', '-c', 'test -e /proc/sys/net/ipv4/conf/d0 && echo yes || echo no').trim()).toBe('no');
  });

  it('a namespace whose path vanished is reported missing', () => {
    const gone = makeNetns();
    const path = gone.path;
    gone.exec('true');
    deleteAllNetns();
    hostNs = makeNetns();
    podNs = makeNetns();
    expect(() => Netns.open(path)).toThrow(NetnsError);
  });
});

describe('links', () => {
  it('creates a bridge with an MTU and reads it back', () => {
    const br = createBridge(hs, { name: 'mgmt-br', mtu: 9000 });
    expect(br).toMatchObject({
      name: 'mgmt-br',
      kind: 'bridge',
      mtu: 9000,
      up: false,
      bridge: { vlanFiltering: false },
    });
    const [ip] = hostNs.ipj('link', 'show', 'mgmt-br');
    expect(ip).toMatchObject({ ifname: 'mgmt-br', mtu: 9000, ifindex: br.index, linkinfo: { info_kind: 'bridge' } });
    expect(getLink(hs, br.index)?.name).toBe('mgmt-br');
    // Whether this kernel has bridge VLAN filtering, as iproute2 sees it: the VLAN attributes are there or not.
    expect(br.bridge?.vlanFilteringSupported).toBe('vlan_default_pvid' in ip.linkinfo.info_data);
  });

  it('reports a duplicate name as EEXIST and a missing device as null / ENODEV', () => {
    createBridge(hs, { name: 'br0' });
    expect(kernelError(() => createBridge(hs, { name: 'br0' })).code).toBe('EEXIST');
    expect(getLink(hs, 'absent0')).toBeNull();
    expect(getLink(hs, 4242)).toBeNull();
    const e = kernelError(() => deleteLink(hs, 4242));
    expect(e.code).toBe('ENODEV');
    expect(e.message).toMatch(/^delete link 4242: /);
  });

  it('creates a veth with its peer placed and named directly in another namespace', () => {
    const v = createVeth(
      hs,
      { name: 'veth01234567', mtu: 1400 },
      { name: 'net1', netnsFd: pod.fd, mtu: 1400, mac: '02:aa:bb:cc:dd:01' },
    );
    expect(v).toMatchObject({ name: 'veth01234567', kind: 'veth', mtu: 1400 });
    const [peer] = podNs.ipj('link', 'show', 'net1');
    expect(peer).toMatchObject({
      ifname: 'net1',
      mtu: 1400,
      address: '02:aa:bb:cc:dd:01',
      linkinfo: { info_kind: 'veth' },
    });
    expect(v.peerIndex).toBe(peer.ifindex);
    expect(getLink(ps, 'net1')?.peerIndex).toBe(v.index);
    expect(hostNs.ipj('link', 'show').map((l: { ifname: string }) => l.ifname)).not.toContain('net1');
  });

  it('refuses a veth whose peer name is taken in the target namespace, leaving nothing behind', () => {
    podNs.exec('ip', 'link', 'add', 'net1', 'type', 'bridge');
    expect(kernelError(() => createVeth(hs, { name: 'vethaa' }, { name: 'net1', netnsFd: pod.fd })).code).toBe(
      'EEXIST',
    );
    expect(getLink(hs, 'vethaa')).toBeNull();
  });

  it('sets up/down, MTU, MAC, master, promiscuous and alias', () => {
    const br = createBridge(hs, { name: 'br0' });
    const v = createVeth(hs, { name: 'vethbb' }, { name: 'eth0', netnsFd: pod.fd });
    setLink(hs, v.index, { mtu: 1450, mac: '02:00:00:00:00:07', master: br.index, alias: 'net/c1/eth0', up: true });
    setLink(hs, br.index, { promisc: true, up: true });
    const [l] = hostNs.ipj('link', 'show', 'vethbb');
    expect(l).toMatchObject({ mtu: 1450, address: '02:00:00:00:00:07', master: 'br0', ifalias: 'net/c1/eth0' });
    expect(l.flags).toContain('UP');
    const [b] = hostNs.ipj('link', 'show', 'br0');
    expect(b.flags).toEqual(expect.arrayContaining(['UP', 'PROMISC']));
    expect(getLink(hs, 'br0')).toMatchObject({ promisc: true, up: true });
    expect(getLink(hs, 'vethbb')).toMatchObject({
      master: br.index,
      alias: 'net/c1/eth0',
      mac: '02:00:00:00:00:07',
      port: { hairpin: false, isolated: false },
    });
    setLink(hs, v.index, { up: false, master: 0 });
    expect(getLink(hs, 'vethbb')).toMatchObject({ up: false });
    expect(getLink(hs, 'vethbb')?.master).toBeUndefined();
    expect(kernelError(() => setLink(hs, v.index, { mtu: 10 })).code).toBe('EINVAL');
  });

  it('sets bridge port hairpin and isolated flags', () => {
    const br = createBridge(hs, { name: 'br0' });
    const v = createVeth(hs, { name: 'vethcc' }, { name: 'eth0', netnsFd: pod.fd });
    setLink(hs, v.index, { master: br.index });
    setBridgePort(hs, v.index, { hairpin: true, isolated: true });
    const [l] = hostNs.ipj('link', 'show', 'vethcc');
    expect(l.linkinfo.info_slave_data).toMatchObject({ hairpin: true, isolated: true });
    expect(getLink(hs, v.index)?.port).toMatchObject({ hairpin: true, isolated: true });
    setBridgePort(hs, v.index, { hairpin: false });
    expect(getLink(hs, v.index)?.port).toMatchObject({ hairpin: false, isolated: true });
  });

  it('reads the port state as the bridge moves it to forwarding', async () => {
    const br = createBridge(hs, { name: 'br0' });
    const v = createVeth(hs, { name: 'vethdd' }, { name: 'eth0', netnsFd: pod.fd });
    setLink(hs, v.index, { master: br.index, up: true });
    setLink(hs, br.index, { up: true });
    setLink(ps, getLink(ps, 'eth0')!.index, { up: true });
    let state: string | undefined;
    for (let i = 0; i < 50 && state !== 'forwarding'; i++) {
      state = getLink(hs, v.index)?.port?.state;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(state).toBe('forwarding');
  });

  it('deletes a veth (its peer goes with it)', () => {
    const v = createVeth(hs, { name: 'vethee' }, { name: 'eth0', netnsFd: pod.fd });
    deleteLink(hs, v.index);
    expect(getLink(hs, 'vethee')).toBeNull();
    expect(getLink(ps, 'eth0')).toBeNull();
  });

  it("lists one bridge's ports (the kernel filters by master), of one kind, and no other link", () => {
    const br = createBridge(hs, { name: 'br-ports' });
    const other = createBridge(hs, { name: 'br-else' });
    hostNs.exec('ip', 'link', 'add', 'pa', 'type', 'veth', 'peer', 'name', 'pb');
    hostNs.exec('ip', 'link', 'set', 'pa', 'master', 'br-ports', 'alias', 'some alias', 'mtu', '1400');
    hostNs.exec('ip', 'link', 'add', 'qa', 'type', 'veth', 'peer', 'name', 'qb');
    hostNs.exec('ip', 'link', 'set', 'qa', 'master', 'br-else');
    hostNs.exec('ip', 'link', 'add', 'tp', 'type', 'vxlan', 'id', '7', 'dstport', '4789');
    hostNs.exec('ip', 'link', 'set', 'tp', 'master', 'br-ports', 'up');
    const ports = listPorts(hs, br.index);
    expect(ports.map((p) => p.name).sort()).toEqual(['pa', 'tp']);
    expect(ports.find((p) => p.name === 'pa')).toMatchObject({
      kind: 'veth',
      mtu: 1400,
      master: br.index,
      alias: 'some alias',
      up: false,
    });
    expect(ports.find((p) => p.name === 'tp')).toMatchObject({ kind: 'vxlan', up: true });
    expect(listPorts(hs, br.index, { kind: 'veth' }).map((p) => p.name)).toEqual(['pa']);
    // This kernel has no bonding: the kernel ignores an unknown kind and sends every port; none is kept.
    expect(listPorts(hs, br.index, { kind: 'bond' })).toEqual([]);
    expect(listPorts(hs, other.index).map((p) => p.name)).toEqual(['qa']);
    expect(listPorts(hs, getLink(hs, 'lo')!.index)).toEqual([]);
  });

  it("reads one port's VLANs, [] for a link that is no port or does not exist", () => {
    // Without CONFIG_BRIDGE_VLAN_FILTERING (this kernel) RTM_GETVLAN is refused and the dump of every port answers.
    createBridge(hs, { name: 'br-vl' });
    hostNs.exec('ip', 'link', 'add', 'va', 'type', 'veth', 'peer', 'name', 'vb');
    hostNs.exec('ip', 'link', 'set', 'va', 'master', 'br-vl');
    const va = getLink(hs, 'va')!;
    expect(portVlans(hs, va.index)).toEqual(dumpVlans(hs).get(va.index) ?? []);
    expect(portVlans(hs, getLink(hs, 'vb')!.index)).toEqual([]);
    expect(portVlans(hs, 99999)).toEqual([]);
  });
});

describe('addresses and routes', () => {
  function upVeth(): number {
    createVeth(hs, { name: 'vethff' }, { name: 'eth0', netnsFd: pod.fd });
    const idx = getLink(ps, 'eth0')!.index;
    setLink(ps, idx, { up: true });
    setLink(hs, getLink(hs, 'vethff')!.index, { up: true });
    return idx;
  }

  it('adds, lists and deletes IPv4 and IPv6 addresses', () => {
    const idx = upVeth();
    addAddress(ps, idx, '10.1.0.5/24');
    addAddress(ps, idx, 'fd00:10::5/64', { noDad: true });
    const [l] = podNs.ipj('addr', 'show', 'eth0');
    const got = l.addr_info.map((a: { local: string; prefixlen: number; broadcast?: string }) => [
      a.local,
      a.prefixlen,
      a.broadcast,
    ]);
    expect(got).toEqual(
      expect.arrayContaining([
        ['10.1.0.5', 24, '10.1.0.255'],
        ['fd00:10::5', 64, undefined],
      ]),
    );
    expect(listAddresses(ps, { index: idx }).map((a) => a.cidr)).toEqual(
      expect.arrayContaining(['10.1.0.5/24', 'fd00:10::5/64']),
    );
    expect(kernelError(() => addAddress(ps, idx, '10.1.0.5/24')).code).toBe('EEXIST');
    addAddress(ps, idx, '10.1.0.5/24', { replace: true });
    delAddress(ps, idx, '10.1.0.5/24');
    expect(listAddresses(ps, { index: idx, family: 4 })).toEqual([]);
    expect(kernelError(() => delAddress(ps, idx, '10.1.0.5/24')).code).toBe('EADDRNOTAVAIL');
  });

  it('adds a default route via a gateway and a scope-link route, and lists them', () => {
    const idx = upVeth();
    addAddress(ps, idx, '10.1.0.5/24');
    addAddress(ps, idx, 'fd00:10::5/64', { noDad: true });
    addRoute(ps, { dst: '192.168.77.0/24', oif: idx, scope: 'link' });
    addRoute(ps, { dst: '0.0.0.0/0', gw: '10.1.0.1', oif: idx });
    addRoute(ps, { dst: '::/0', gw: 'fd00:10::1', oif: idx, mtu: 1400 });
    const v4 = podNs.ipj('route', 'show');
    expect(v4).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ dst: 'default', gateway: '10.1.0.1', dev: 'eth0' }),
        expect.objectContaining({ dst: '192.168.77.0/24', dev: 'eth0', scope: 'link' }),
      ]),
    );
    const v6 = podNs.ipj('-6', 'route', 'show');
    expect(v6).toEqual(
      expect.arrayContaining([expect.objectContaining({ dst: 'default', gateway: 'fd00:10::1', dev: 'eth0' })]),
    );
    const mine = listRoutes(ps, 4);
    expect(mine).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ dst: '0.0.0.0/0', gw: '10.1.0.1', oif: idx, scope: 'universe' }),
        expect.objectContaining({ dst: '192.168.77.0/24', oif: idx, scope: 'link' }),
      ]),
    );
    expect(listRoutes(ps, 6)).toEqual(
      expect.arrayContaining([expect.objectContaining({ dst: '::/0', gw: 'fd00:10::1', mtu: 1400 })]),
    );
    expect(kernelError(() => addRoute(ps, { dst: '0.0.0.0/0', gw: '10.1.0.1', oif: idx })).code).toBe('EEXIST');
    podNs.exec('ip', 'route', 'del', 'default', 'via', '10.1.0.1');
    expect(listRoutes(ps, 4).find((r) => r.dst === '0.0.0.0/0')).toBeUndefined();
    expect(kernelError(() => addRoute(ps, { dst: '0.0.0.0/0', gw: '10.9.9.1' })).code).toBe('ENETUNREACH');
  });
});

describe('ICMP echo socket', () => {
  it('is opened in the namespace it was asked for, connects, sends and reads without blocking', async () => {
    podNs.exec('ip', 'addr', 'add', '10.77.0.5/32', 'dev', 'lo'); // only the pod has this address
    const sock = IcmpSocket.open(pod);
    try {
      sock.connect('10.77.0.5');
      const rx = Buffer.alloc(2048);
      expect(sock.receive(rx)).toBe(0);
      expect(sock.send(buildEchoRequest(0x4242, 1))).toBe(true);
      let reply: { id: number; seq: number } | null = null;
      for (let i = 0; i < 100 && !reply; i++) {
        const n = sock.receive(rx);
        if (n > 0) reply = parseEchoReply(rx.subarray(0, n));
        else await new Promise((r) => setTimeout(r, 10));
      }
      expect(reply).toEqual({ id: 0x4242, seq: 1 });
    } finally {
      sock.close();
    }
  });

  it('says which call failed, with the errno', () => {
    const sock = IcmpSocket.open(pod);
    try {
      const err = kernelError(() => sock.connect('10.9.9.9')); // no route in the pod
      expect(err.op).toBe('connect');
      expect(err.code).toBe('ENETUNREACH');
    } finally {
      sock.close();
    }
  });
});
