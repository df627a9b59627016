// Runs inside the UML kernel: packets through a Harvester-like node (test/lab/harvester-node.ts: mgmt-br with VLAN
// filtering over an active-backup bond of two cables to a switch namespace with VLANs 100 and 200, an untagged side
// and a DHCP server on each). Pods are namespaces attached by the built plugin with the configs in conf-examples/.
// Everything is proved with traffic: ping, DHCP (busybox udhcpc against dnsmasq) and captures (tcpdump) on the
// pods' interfaces.
//
// Like plugin-vlan.guest.test.ts, this file never builds: the host test (test/uml/traffic.host.test.ts) hands over a
// private copy of the binary in VB_PLUGIN_BIN.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN } from '../../lab/binary.js';
import { CNI_PATH } from '../../lab/cni.js';
import {
  BOND,
  BRIDGE,
  NICS,
  SWITCH_BRIDGE,
  SWITCH_PORTS,
  buildHarvesterNode,
  udhcpc,
  type HarvesterNode,
} from '../../lab/harvester-node.js';
import { bridgeVlans, deleteAllNetns, makeNetns, type TestNs } from '../../host/netns-fixture.js';
import { sleep, waitFor } from '../../lab/wait.js';

const PLUGIN = process.env.VB_PLUGIN_BIN || BIN;
const CONF_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../conf-examples');
const WORK = mkdtempSync(path.join(process.env.UML_WORK_DIR ?? os.tmpdir(), 'traffic-'));

// The tools this file drives, with the Debian package that provides each (`make deps` installs them).
const TOOLS: Array<[string, string]> = [
  ['ping', 'iputils-ping'],
  ['tcpdump', 'tcpdump'],
  ['busybox', 'busybox'],
  ['dnsmasq', 'dnsmasq-base'],
];

/** A config from conf-examples/, as the file has it, plus `extra` keys. */
function confExample(name: string, extra: Record<string, unknown> = {}): Record<string, any> {
  return { ...JSON.parse(readFileSync(path.join(CONF_DIR, `${name}.json`), 'utf8')), ...extra };
}

interface Pod {
  role: string;
  ns: TestNs;
  /** MAC of net1 in the pod (from the ADD result, checked against the kernel). */
  mac: string;
  hostVeth: string;
  conf: Record<string, any>;
}

/** Runs a command in a namespace; never throws. */
function run(ns: TestNs, argv: string[], timeout = 30_000): { code: number | null; out: string } {
  const r = spawnSync('ip', ['netns', 'exec', ns.name, ...argv], { encoding: 'utf8', timeout });
  return { code: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

/** A fresh pod namespace with IPv6 off (no DAD/RS/MLD noise in captures), attached with the plugin. */
function attach(node: TestNs, role: string, conf: Record<string, any>): Pod {
  const ns = makeNetns('vbp');
  ns.exec('sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
  const env = {
    CNI_COMMAND: 'ADD',
    CNI_CONTAINERID: `traffic-${role}`,
    CNI_NETNS: ns.path,
    CNI_IFNAME: 'net1',
    CNI_PATH,
    PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
  };
  const r = spawnSync('ip', ['netns', 'exec', node.name, PLUGIN], {
    input: JSON.stringify(conf),
    env,
    encoding: 'utf8',
    timeout: 60_000,
  });
  const why = `ADD ${role} (${JSON.stringify(conf)}): exit ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
  expect(r.status, why).toBe(0);
  const result = JSON.parse(r.stdout);
  expect(result.interfaces, why).toHaveLength(3);
  const [, host, cont] = result.interfaces;
  expect(cont.name, why).toBe('net1');
  expect(ns.ipj<any[]>('link', 'show', 'net1')[0].address).toBe(cont.mac);
  return { role, ns, mac: cont.mac, hostVeth: host.name, conf };
}

function ping(pod: Pod | TestNs, dst: string, extra: string[] = [], wait = 2): { code: number | null; out: string } {
  return run('ns' in pod ? pod.ns : pod, ['ping', '-n', '-c', '1', '-W', String(wait), ...extra, dst]);
}

function expectReach(pod: Pod, dst: string, extra: string[] = []): void {
  const r = ping(pod, dst, extra);
  expect(r.code, `${pod.role} -> ${dst} should answer:\n${r.out}`).toBe(0);
  expect(r.out).toMatch(/1 packets transmitted, 1 received/);
}

function expectNoReach(pod: Pod, dst: string): void {
  const r = ping(pod, dst, [], 1);
  expect(r.code, `${pod.role} -> ${dst} must NOT answer:\n${r.out}`).toBe(1);
  expect(r.out).toMatch(/1 packets transmitted, 0 received/);
}

/** Pings until one answers (bounded): for traffic right after a bond failover. Returns the attempts used. */
function expectReachWithin(pod: Pod, dst: string, attempts = 10): number {
  let last = '';
  for (let i = 1; i <= attempts; i++) {
    const r = ping(pod, dst, [], 1);
    if (r.code === 0) return i;
    last = r.out;
  }
  throw new Error(`${pod.role} -> ${dst}: no answer in ${attempts} attempts; last:\n${last}`);
}

/** Broadcast pings (nobody answers: icmp_echo_ignore_broadcasts); asserts they were sent. */
function broadcast(ns: TestNs, bcast: string, count = 3): void {
  const r = run(ns, ['ping', '-n', '-b', '-c', String(count), '-i', '0.2', '-W', '1', bcast]);
  expect(r.out, r.out).toMatch(new RegExp(`${count} packets transmitted`));
}

interface Capture {
  /** Stops tcpdump and returns one line per frame (`-e -t -nn`: `srcmac > dstmac, ethertype ..., length N: ...`). */
  stop(): Promise<string[]>;
}

/** Starts tcpdump on a pod's net1 and returns once it is capturing. */
async function capture(pod: Pod): Promise<Capture> {
  const p = spawn('ip', ['netns', 'exec', pod.ns.name, 'tcpdump', '-i', 'net1', '-nn', '-e', '-t', '-l'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  let exited = false;
  p.stdout.on('data', (d) => (out += d));
  p.stderr.on('data', (d) => (err += d));
  const done = new Promise<void>((resolve) => p.once('close', () => resolve()));
  p.once('exit', () => (exited = true));
  await waitFor(() => /listening on net1/.test(err) || exited, `tcpdump in ${pod.role}`);
  if (exited) throw new Error(`tcpdump in ${pod.role} exited: ${err}`);
  return {
    async stop() {
      await sleep(300); // frames still in flight
      p.kill('SIGINT');
      await done;
      expect(err, `tcpdump in ${pod.role}`).toMatch(/packets captured/);
      return out.split('\n').filter((l) => l.trim() !== '');
    },
  };
}

/** The sender of a captured frame: ARP's sender address, or an IPv4 packet's source address. */
function sender(line: string): string | undefined {
  const m =
    /tell (\d+\.\d+\.\d+\.\d+)/.exec(line) ??
    /Reply (\d+\.\d+\.\d+\.\d+) is-at/.exec(line) ??
    /length \d+: (\d+\.\d+\.\d+\.\d+)/.exec(line);
  return m?.[1];
}

/**
 * Captured frames sent by someone of another network: source MAC one of `macs`, or sender address starting with
 * one of `prefixes` (`10.200.`), or equal to one (`10.50.0.13`). Captures hold the pod's own frames too; those are
 * never foreign.
 */
function foreign(lines: string[], macs: string[], prefixes: string[]): string[] {
  return lines.filter((l) => {
    const src = l.split(' ')[0]!.toLowerCase();
    if (macs.some((m) => m.toLowerCase() === src)) return true;
    const ip = sender(l);
    return ip !== undefined && prefixes.some((p) => (p.endsWith('.') ? ip.startsWith(p) : ip === p));
  });
}

const count = (lines: string[], re: RegExp) => lines.filter((l) => re.test(l)).length;

const vlansOf = bridgeVlans;
const ACCESS = ['Egress Untagged', 'PVID'];

function rxPackets(ns: TestNs, dev: string): number {
  return ns.ipj<any[]>('-s', 'link', 'show', dev)[0].stats64.rx.packets;
}

beforeAll(() => {
  const missing = TOOLS.filter(([t]) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
  if (missing.length)
    throw new Error(`missing ${missing.map(([t, p]) => `${t} (Debian package ${p})`).join(', ')}: run \`make deps\``);
});

describe('a Harvester node with a 1500 uplink', () => {
  let hn: HarvesterNode;
  let a1: Pod; // vlan100
  let a2: Pod; // vlan100
  let b1: Pod; // vlan200
  let u1: Pod; // untagged
  let t1: Pod; // trunk 100-200, with net1.100 and net1.200 inside
  let pd: Pod; // vlan100 + preserveDefaultVlan

  beforeAll(async () => {
    hn = buildHarvesterNode(makeNetns('vbn'), makeNetns('vbs'), { workDir: mkdtempSync(path.join(WORK, 'n1500-')) });
    await waitFor(() => hn.activeSlave() !== undefined, 'the bond to pick an active slave');
    const node = hn.node;
    a1 = attach(node, 'a1', confExample('vlan100'));
    a2 = attach(node, 'a2', confExample('vlan100'));
    b1 = attach(node, 'b1', confExample('vlan200'));
    u1 = attach(node, 'u1', confExample('untagged'));
    t1 = attach(node, 't1', confExample('trunk'));
    pd = attach(node, 'pd', confExample('vlan100', { preserveDefaultVlan: true }));
    // Addresses by hand (the configs are L2 only, ipam {}). 10.50.0.0/24 is one subnet shared across VLANs: only
    // the VLAN separates a1/a2 (100) from b1 (200) and u1 (untagged) there.
    a1.ns.exec('sh', '-ec', 'ip addr add 10.100.0.11/24 dev net1; ip addr add 10.50.0.11/24 dev net1');
    a2.ns.exec('sh', '-ec', 'ip addr add 10.100.0.12/24 dev net1; ip addr add 10.50.0.12/24 dev net1');
    b1.ns.exec('sh', '-ec', 'ip addr add 10.200.0.13/24 dev net1; ip addr add 10.50.0.13/24 dev net1');
    u1.ns.exec('sh', '-ec', 'ip addr add 10.1.0.14/24 dev net1; ip addr add 10.50.0.14/24 dev net1');
    pd.ns.exec('sh', '-ec', 'ip addr add 10.100.0.16/24 dev net1');
    t1.ns.exec(
      'sh',
      '-ec',
      `
      ip link add link net1 name net1.100 type vlan id 100
      ip link add link net1 name net1.200 type vlan id 200
      ip link set net1.100 up; ip link set net1.200 up
      ip addr add 10.100.0.15/24 dev net1.100
      ip addr add 10.200.0.15/24 dev net1.200
      ip addr add 10.1.0.15/24 dev net1`,
    );
  }, 120_000);

  afterAll(() => {
    hn?.cleanup();
    deleteAllNetns();
  });

  it('the plugin attached every pod as its conf-examples config says (and left the uplink alone)', () => {
    const node = hn.node;
    expect(vlansOf(node, a1.hostVeth)).toEqual([[100, ACCESS]]);
    expect(vlansOf(node, a2.hostVeth)).toEqual([[100, ACCESS]]);
    expect(vlansOf(node, b1.hostVeth)).toEqual([[200, ACCESS]]);
    expect(vlansOf(node, u1.hostVeth)).toEqual([[1, ACCESS]]);
    expect(vlansOf(node, t1.hostVeth)).toEqual([[1, ACCESS], ...Array.from({ length: 101 }, (_, i) => [100 + i, []])]);
    expect(vlansOf(node, pd.hostVeth)).toEqual([
      [1, ['Egress Untagged']],
      [100, ACCESS],
    ]);
    expect(vlansOf(node, BOND)).toEqual([
      [1, ACCESS],
      [100, []],
      [200, []],
    ]);
    for (const p of [a1, a2, b1, u1, t1, pd])
      expect(node.ipj<any[]>('link', 'show', p.hostVeth)[0].master).toBe(BRIDGE);
  });

  it('two pods on VLAN 100 reach each other and the VLAN 100 gateway; the VLAN 200 pod reaches its own', () => {
    expectReach(a1, '10.100.0.12');
    expectReach(a2, '10.100.0.11');
    expectReach(a1, hn.nets.vlan100.gateway);
    expectReach(a2, hn.nets.vlan100.gateway);
    expectReach(b1, hn.nets.vlan200.gateway);
  });

  it('pods on VLAN 100 and VLAN 200 in one shared subnet cannot reach each other (control: same VLAN can)', () => {
    expectReach(a1, '10.50.0.12');
    expectReach(a2, '10.50.0.11');
    expectNoReach(a1, '10.50.0.13');
    expectNoReach(b1, '10.50.0.11');
    expectNoReach(b1, '10.50.0.12');
    // Not even ARP crossed: a1 never learnt b1's MAC, b1 never learnt a1's.
    const mac = (p: Pod, ip: string) => p.ns.ipj<any[]>('neigh', 'show', ip, 'dev', 'net1')?.[0]?.lladdr;
    expect(mac(a1, '10.50.0.13')).toBeUndefined();
    expect(mac(b1, '10.50.0.11')).toBeUndefined();
    expect(mac(a1, '10.50.0.12')).toBe(a2.mac);
  });

  it('no frame of VLAN 200 reaches a VLAN 100 pod while VLAN 200 broadcasts (capture; control: VLAN 100 broadcasts arrive)', async () => {
    const [ca, cb] = await Promise.all([capture(a1), capture(b1)]);
    broadcast(hn.sw, '10.200.0.255'); // the switch, on sw-br.200
    broadcast(b1.ns, '10.200.0.255'); // the VLAN 200 pod
    ping(b1, '10.50.0.11', [], 1); // ARP who-has 10.50.0.11 from b1, broadcast in VLAN 200
    broadcast(hn.sw, '10.100.0.255'); // control, on sw-br.100
    const [la, lb] = await Promise.all([ca.stop(), cb.stop()]);
    expect(foreign(la, [b1.mac], ['10.200.', '10.50.0.13']), la.join('\n')).toEqual([]);
    expect(count(la, /10\.100\.0\.1 > 10\.100\.0\.255: ICMP echo request/), la.join('\n')).toBe(3);
    // The VLAN 200 traffic was on the wire: b1 sees the switch's broadcasts, and none of VLAN 100's.
    expect(count(lb, /10\.200\.0\.1 > 10\.200\.0\.255: ICMP echo request/), lb.join('\n')).toBe(3);
    expect(count(lb, /who-has 10\.50\.0\.11 tell 10\.50\.0\.13/), lb.join('\n')).toBeGreaterThanOrEqual(1);
    expect(foreign(lb, [a1.mac, a2.mac], ['10.100.', '10.50.0.11', '10.50.0.12']), lb.join('\n')).toEqual([]);
  });

  it("an untagged-network pod reaches the switch's untagged side, and not a VLAN 100 pod in a shared subnet", () => {
    expectReach(u1, hn.nets.untagged.gateway);
    expectNoReach(u1, '10.50.0.11');
    expectNoReach(a1, '10.50.0.14');
  });

  it('a VLAN pod sees no untagged traffic and no VLAN 1 broadcast (capture; control: the untagged pod sees them)', async () => {
    const [ca, cu] = await Promise.all([capture(a1), capture(u1)]);
    broadcast(hn.sw, '10.1.0.255'); // untagged on the switch: VLAN 1 on the bond
    ping(u1, '10.50.0.11', [], 1); // ARP broadcast from the untagged pod
    broadcast(hn.sw, '10.100.0.255'); // control for a1
    const [la, lu] = await Promise.all([ca.stop(), cu.stop()]);
    expect(foreign(la, [u1.mac], ['10.1.0.', '10.50.0.14']), la.join('\n')).toEqual([]);
    expect(count(la, /10\.100\.0\.1 > 10\.100\.0\.255: ICMP echo request/), la.join('\n')).toBe(3);
    expect(count(lu, /10\.1\.0\.1 > 10\.1\.0\.255: ICMP echo request/), lu.join('\n')).toBe(3);
    expect(count(lu, /10\.100\.0\.1 > 10\.100\.0\.255/), lu.join('\n')).toBe(0);
  });

  it('with preserveDefaultVlan the VLAN 100 pod does see untagged traffic and VLAN 1 broadcasts, and still reaches VLAN 100', async () => {
    const cp = await capture(pd);
    broadcast(hn.sw, '10.1.0.255');
    ping(u1, '10.50.0.11', [], 1);
    const lp = await cp.stop();
    expect(count(lp, /10\.1\.0\.1 > 10\.1\.0\.255: ICMP echo request/), lp.join('\n')).toBe(3);
    expect(
      count(
        lp,
        new RegExp(`^${u1.mac} > ff:ff:ff:ff:ff:ff, ethertype ARP.*who-has 10\\.50\\.0\\.11 tell 10\\.50\\.0\\.14`),
      ),
      lp.join('\n'),
    ).toBeGreaterThanOrEqual(1);
    expectReach(pd, hn.nets.vlan100.gateway);
    expectReach(pd, '10.100.0.11');
  });

  it('a trunk pod (100-200 tagged) with net1.100 and net1.200 reaches both VLAN gateways and pods, and the untagged side through native VLAN 1', () => {
    expectReach(t1, hn.nets.vlan100.gateway);
    expectReach(t1, hn.nets.vlan200.gateway);
    expectReach(t1, '10.100.0.11');
    expectReach(t1, '10.200.0.13');
    // trunk.json has vlan 0: the port's native VLAN is VID 1 (as the reference since v1.8.0 and Harvester nodes),
    // so untagged frames from net1 itself travel in VLAN 1, the untagged network.
    expectReach(t1, hn.nets.untagged.gateway);
    expectReach(t1, '10.1.0.14');
  });

  describe("DHCP: each pod gets a lease from its own network's server only", () => {
    const script = path.join(WORK, 'udhcpc.sh');
    beforeAll(() => {
      writeFileSync(
        script,
        '#!/bin/sh\n[ "$1" = bound ] && echo "LEASE ip=$ip subnet=$subnet router=$router serverid=$serverid"\nexit 0\n',
        { mode: 0o755 },
      );
    });

    const cases: Array<[string, () => Pod, 'vlan100' | 'vlan200' | 'untagged']> = [
      ['the VLAN 100 pod', () => a1, 'vlan100'],
      ['the VLAN 200 pod', () => b1, 'vlan200'],
      ['the untagged pod', () => u1, 'untagged'],
    ];
    for (const [title, podOf, own] of cases) {
      it(`${title} (udhcpc on net1): address in the ${own} pool, router and server are the ${own} gateway`, () => {
        const pod = podOf();
        const net = hn.nets[own];
        const r = run(pod.ns, udhcpc('net1', script));
        expect(r.code, r.out).toBe(0);
        const line = r.out.split('\n').find((l) => l.startsWith('LEASE '));
        expect(line, r.out).toBeDefined();
        const lease = Object.fromEntries(
          line!
            .slice(6)
            .split(' ')
            .map((kv) => kv.split('=') as [string, string]),
        );
        expect(lease.ip).toMatch(new RegExp(`^${net.prefix.replace(/\./g, '\\.')}\\.\\d+$`));
        const host = Number(lease.ip!.split('.')[3]);
        expect(host).toBeGreaterThanOrEqual(net.pool[0]);
        expect(host).toBeLessThanOrEqual(net.pool[1]);
        expect(lease.subnet).toBe('255.255.255.0');
        expect(lease.router).toBe(net.gateway);
        expect(lease.serverid).toBe(net.gateway);
        // Its own server saw the whole exchange on its own interface; the other servers never saw this MAC.
        const ownLog = hn.dhcpLog(own);
        expect(ownLog).toContain(`DHCPDISCOVER(${net.dev}) ${pod.mac}`);
        expect(ownLog).toContain(`DHCPACK(${net.dev}) ${lease.ip} ${pod.mac}`);
        for (const other of (['vlan100', 'vlan200', 'untagged'] as const).filter((n) => n !== own)) {
          expect(hn.dhcpLog(other), `${other}'s server saw ${pod.mac}`).not.toContain(pod.mac);
        }
      });
    }
  });

  describe('bond failover (last: it changes the uplink)', () => {
    const everyone = (): Array<[Pod, string]> => [
      [a1, '10.100.0.12'],
      [a1, hn.nets.vlan100.gateway],
      [b1, hn.nets.vlan200.gateway],
      [u1, hn.nets.untagged.gateway],
      [t1, hn.nets.vlan200.gateway],
    ];
    const other = (nic: string) => NICS.find((n) => n !== nic)!;
    const miiUp = (nic: string) =>
      hn.node.ipj<any[]>('link', 'show', nic)[0]?.linkinfo?.info_slave_data?.mii_status === 'UP';

    async function failOver(cut: () => void, restore: () => void): Promise<void> {
      const active = hn.activeSlave()!;
      expect(NICS).toContain(active);
      for (const [p, dst] of everyone()) expectReach(p, dst);
      cut();
      await waitFor(() => hn.activeSlave() === other(active), `the bond to fail over from ${active}`);
      const port = hn.switchPortOf(other(active));
      const rx = rxPackets(hn.sw, port);
      for (const [p, dst] of everyone()) expectReachWithin(p, dst);
      // The traffic now really takes the other cable: its switch port received the pods' frames.
      expect(rxPackets(hn.sw, port) - rx).toBeGreaterThanOrEqual(4);
      restore();
      await waitFor(() => miiUp(active), `${active} to come back`);
      // No primary: the bond stays on the new slave.
      expect(hn.activeSlave()).toBe(other(active));
    }

    it('taking the active NIC down on the node keeps every pod reaching its gateway', async () => {
      const active = hn.activeSlave()!;
      await failOver(
        () => hn.node.exec('ip', 'link', 'set', active, 'down'),
        () => hn.node.exec('ip', 'link', 'set', active, 'up'),
      );
    });

    it("taking the active link down on the switch's side keeps every pod reaching its gateway", async () => {
      const port = hn.switchPortOf(hn.activeSlave()!);
      await failOver(
        () => hn.sw.exec('ip', 'link', 'set', port, 'down'),
        () => hn.sw.exec('ip', 'link', 'set', port, 'up'),
      );
    });
  });
});

describe('a Harvester node with a 9000 uplink', () => {
  let hn: HarvesterNode;
  let j1: Pod;
  let j2: Pod;

  beforeAll(async () => {
    // No DHCP here: only the MTU is under test.
    hn = buildHarvesterNode(makeNetns('vbn'), makeNetns('vbs'), {
      mtu: 9000,
      dhcp: false,
      workDir: mkdtempSync(path.join(WORK, 'n9000-')),
    });
    await waitFor(() => hn.activeSlave() !== undefined, 'the bond to pick an active slave');
    j1 = attach(hn.node, 'j1', confExample('vlan100'));
    j2 = attach(hn.node, 'j2', confExample('vlan100'));
    j1.ns.exec('ip', 'addr', 'add', '10.100.0.21/24', 'dev', 'net1');
    j2.ns.exec('ip', 'addr', 'add', '10.100.0.22/24', 'dev', 'net1');
  }, 60_000);

  afterAll(() => {
    hn?.cleanup();
    deleteAllNetns();
  });

  it('the uplink is 9000 end to end and, with no mtu in the config, both veth ends of each pod take 9000', () => {
    expect(j1.conf).not.toHaveProperty('mtu');
    const mtu = (ns: TestNs, dev: string) => ns.ipj<any[]>('link', 'show', dev)[0].mtu;
    for (const dev of [...NICS, BOND, BRIDGE]) expect(mtu(hn.node, dev), dev).toBe(9000);
    for (const dev of [...SWITCH_PORTS, SWITCH_BRIDGE, hn.nets.vlan100.dev, hn.nets.vlan200.dev])
      expect(mtu(hn.sw, dev), dev).toBe(9000);
    for (const p of [j1, j2]) {
      expect(mtu(hn.node, p.hostVeth)).toBe(9000);
      expect(mtu(p.ns, 'net1')).toBe(9000);
    }
  });

  it('an 8972-byte ping with DF set passes between the two VLAN 100 pods and to the switch gateway', () => {
    const big = ['-M', 'do', '-s', '8972'];
    for (const [p, dst] of [
      [j1, '10.100.0.22'],
      [j2, '10.100.0.21'],
      [j1, hn.nets.vlan100.gateway],
      [j2, hn.nets.vlan100.gateway],
    ] as const) {
      const r = ping(p, dst, big);
      expect(r.code, `${p.role} -> ${dst}:\n${r.out}`).toBe(0);
      expect(r.out).toContain(`8980 bytes from ${dst}`);
    }
  });

  it('control: one byte more (8973) with DF set does not fit', () => {
    const r = ping(j1, '10.100.0.22', ['-M', 'do', '-s', '8973']);
    expect(r.code, r.out).not.toBe(0);
    expect(r.out).toMatch(/message too long, mtu=9000/);
  });
});
