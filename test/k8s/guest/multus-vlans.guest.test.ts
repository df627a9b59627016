// Runs inside the UML kernel (test/k8s/uml.test.ts boots it), which has the bridge VLAN filtering this machine's
// kernel lacks: Harvester's VLAN NetworkAttachmentDefinitions through Multus. The node is the demo's
// (test/lab/harvester-node.ts: mgmt-br with VLAN filtering over a bond to a switch with VLANs 100 and 200, an
// untagged side and a DHCP server on each). Multus v4.3.0 (static) is called here as containerd's CRI plugin calls
// it (the CRI plugin itself does not run in the guest), reads the pods and deploy/'s NADs from the API server
// stand-in and calls the built vlan-bridge per network. Pods: an access VLAN (100, twice, and 200), the untagged
// network, and a trunk (deploy/nad-trunk.yaml) whose pod tags VLANs 100 and 200 itself; then the demo's ping
// matrix, with every pod also holding an address in each other network's subnet, so that a "no" is VLAN isolation
// and not a missing route.
//
// The host test hands over a private copy of vlan-bridge in VB_PLUGIN_BIN; Multus is build/k8s/multus.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN } from '../../lab/binary.js';
import { buildHarvesterNode, udhcpc, type HarvesterNode } from '../../lab/harvester-node.js';
import { bridgeVlans, deleteAllNetns, makeNetns, type TestNs } from '../../host/netns-fixture.js';
import { ApiServerStandIn } from '../apiserver.js';
import { MULTUS, clusterNetwork, deployNads, kubevirtIfname, kubevirtNetworksAnnotation, randomMac } from '../lab.js';

const PLUGIN = process.env.VB_PLUGIN_BIN || BIN;
const WORK = mkdtempSync(path.join(process.env.UML_WORK_DIR ?? os.tmpdir(), 'multus-vlans-'));
/** Multus's plugin directory (its binDir and CNI_PATH): Multus, vlan-bridge and Debian's reference plugins. */
const BIN_DIR = path.join(WORK, 'bin');

type Net = 'untagged' | 'vlan100' | 'vlan200';

const NADS = deployNads();
/** A second access VLAN, shaped as deploy/nad-vlan100.yaml (Harvester's), on VLAN 200. */
const VLAN200_NAD = structuredClone(NADS.vlan100);
VLAN200_NAD.metadata.name = 'vlan200';
VLAN200_NAD.metadata.labels['network.harvesterhci.io/vlan-id'] = '200';
delete VLAN200_NAD.metadata.annotations;
VLAN200_NAD.spec.config = JSON.stringify({ ...JSON.parse(NADS.vlan100.spec.config), name: 'vlan200', vlan: 200 });

/**
 * Multus's config as the CRI plugin hands it over from its conflist (libcni puts the list's name and cniVersion
 * into each plugin's config): everything it keeps (cniDir: its cache and libcni's) and the cluster network's
 * host-local allocations in the work directory, not on the host's /var/lib/cni (the guest's root is the host's).
 */
const MULTUS_CONF = {
  cniVersion: '1.0.0',
  name: 'multus-cni-network',
  type: 'multus',
  kubeconfig: path.join(WORK, 'multus.kubeconfig'),
  cniDir: path.join(WORK, 'multus'),
  binDir: BIN_DIR,
  logFile: path.join(WORK, 'multus.log'),
  logLevel: 'verbose',
  delegates: [clusterNetwork({ defaultGateway: false, ipamDir: path.join(WORK, 'ipam') })],
};

let hn: HarvesterNode;
let api: ApiServerStandIn;

interface Attachment {
  /** `vm-a`, `trunk.100`... */
  label: string;
  net: Net;
  pod: Pod;
  dev: string;
  /** The DHCP lease's address, and the server that gave it. */
  ip?: string;
  server?: string;
}

interface Pod {
  name: string;
  uid: string;
  id: string;
  ns: TestNs;
}

/** Runs a command in a namespace without blocking the event loop (the stand-in answers Multus from it). */
function run(argv: string[], o: { input?: string; env?: Record<string, string> } = {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { env: o.env ?? process.env, stdio: 'pipe' });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(o.input ?? '');
  });
}

/** Multus as the CRI plugin calls it, from the node's namespace, for the pod's sandbox. */
async function multus(command: 'ADD' | 'DEL', p: Pod) {
  const env = {
    PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
    // vlan-bridge keeps its uplink records in the work directory too (it inherits Multus's environment).
    VLAN_BRIDGE_STATE_DIR: path.join(WORK, 'vlan-bridge'),
    CNI_COMMAND: command,
    CNI_CONTAINERID: p.id,
    CNI_NETNS: p.ns.path,
    CNI_IFNAME: 'eth0',
    CNI_PATH: BIN_DIR,
    CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=${p.name};K8S_POD_INFRA_CONTAINER_ID=${p.id};K8S_POD_UID=${p.uid}`,
  };
  const r = await run(['ip', 'netns', 'exec', hn.node.name, path.join(BIN_DIR, 'multus')], {
    env,
    input: JSON.stringify(MULTUS_CONF),
  });
  expect(r.code, `multus ${command} ${p.name}: ${r.stdout}${r.stderr}`).toBe(0);
}

/** A pod: in the API with its annotation, a sandbox namespace, and Multus's ADD. */
async function runPod(name: string, networks: string): Promise<Pod> {
  const stored = api.createPod({
    metadata: { name, namespace: 'default', annotations: { 'k8s.v1.cni.cncf.io/networks': networks } },
    spec: { containers: [{ name: 'compute', image: 'registry.example.com/virt-launcher:v1' }] },
  });
  const ns = makeNetns('vbkp');
  // One interface answers ARP only for its own addresses (the trunk pod has three).
  ns.exec('sysctl', '-qw', 'net.ipv4.conf.all.arp_ignore=1', 'net.ipv6.conf.all.disable_ipv6=1');
  const p: Pod = { name, uid: stored.metadata.uid!, id: `sandbox-${name}`, ns };
  await multus('ADD', p);
  return p;
}

/** A DHCP lease on `dev` from the network's server (busybox udhcpc), as the demo takes one. */
async function dhcp(a: Attachment): Promise<void> {
  const script = path.join(WORK, 'udhcpc.sh');
  const r = await run(['ip', 'netns', 'exec', a.pod.ns.name, ...udhcpc(a.dev, script)]);
  const line = r.stdout.split('\n').find((l) => /^\d+\.\d+\.\d+\.\d+ /.test(l));
  if (!line) throw new Error(`${a.label}: no DHCP lease\n${r.stdout}${r.stderr}`);
  [a.ip, a.server] = line.split(' ') as [string, string];
}

const SUBNET: Record<Net, string> = { untagged: '10.1.0', vlan100: '10.100.0', vlan200: '10.200.0' };
const netOf = (ip: string): Net | undefined =>
  (Object.keys(SUBNET) as Net[]).find((n) => ip.startsWith(`${SUBNET[n]}.`));

const pods: Pod[] = [];
const atts: Attachment[] = [];

beforeAll(async () => {
  mkdirSync(BIN_DIR);
  symlinkSync(MULTUS, path.join(BIN_DIR, 'multus'));
  symlinkSync(PLUGIN, path.join(BIN_DIR, 'vlan-bridge'));
  for (const p of ['bridge', 'host-local', 'loopback']) symlinkSync(`/usr/lib/cni/${p}`, path.join(BIN_DIR, p));
  writeFileSync(
    path.join(WORK, 'udhcpc.sh'),
    '#!/bin/sh\n[ "$1" = bound ] && ip addr add "$ip/$mask" dev "$interface" && echo "$ip $serverid"\nexit 0\n',
    { mode: 0o755 },
  );
  hn = buildHarvesterNode(makeNetns('vbkn'), makeNetns('vbks'), { workDir: WORK });
  api = new ApiServerStandIn();
  api.listenIn(hn.node.path);
  for (const nad of [...Object.values(NADS), VLAN200_NAD]) api.createNad(nad);
  writeFileSync(
    MULTUS_CONF.kubeconfig,
    `apiVersion: v1\nkind: Config\nclusters:\n- name: s\n  cluster:\n    server: ${api.url}\nusers:\n- name: m\n  user: {}\n` +
      'contexts:\n- name: m\n  context:\n    cluster: s\n    user: m\ncurrent-context: m\n',
  );
}, 60_000);

afterAll(() => {
  api?.stop();
  hn?.cleanup();
  deleteAllNetns();
});

describe("Harvester's VLAN networks through Multus", () => {
  const mac = { a: randomMac(), c: randomMac(), t: randomMac() };

  it('Multus attaches pods to an access VLAN, the untagged network and a trunk, with the names and MACs asked', async () => {
    const kubevirt = (nad: string, m: string) =>
      kubevirtNetworksAnnotation([{ vmNetwork: 'nic-1', nad, namespace: 'default', mac: m }]);
    const a = await runPod('vm-a', kubevirt('vlan100', mac.a));
    const b = await runPod('vm-b', 'vlan100'); // as a user writes it: net1, no MAC asked
    const c = await runPod('vm-c', kubevirt('vlan200', mac.c));
    const d = await runPod('vm-d', 'default/untagged@net2');
    const t = await runPod('vm-t', kubevirt('trunk', mac.t));
    pods.push(a, b, c, d, t);
    const nic = kubevirtIfname('nic-1');
    atts.push(
      { label: 'vm-a', net: 'vlan100', pod: a, dev: nic },
      { label: 'vm-b', net: 'vlan100', pod: b, dev: 'net1' },
      { label: 'vm-c', net: 'vlan200', pod: c, dev: nic },
      { label: 'vm-d', net: 'untagged', pod: d, dev: 'net2' },
      { label: 'trunk', net: 'untagged', pod: t, dev: nic },
      { label: 'trunk.100', net: 'vlan100', pod: t, dev: 'vlan100' },
      { label: 'trunk.200', net: 'vlan200', pod: t, dev: 'vlan200' },
    );
    // The trunk's VM tags VLANs itself: 802.1q devices on its interface (its untagged frames are the native VLAN).
    for (const vid of [100, 200]) {
      t.ns.exec('ip', 'link', 'add', 'link', nic, 'name', `vlan${vid}`, 'type', 'vlan', 'id', String(vid));
      t.ns.exec('ip', 'link', 'set', `vlan${vid}`, 'up');
    }
    for (const [p, m] of [
      [a, mac.a],
      [c, mac.c],
      [t, mac.t],
    ] as const) {
      const [l] = p.ns.ipj<any[]>('link', 'show', nic);
      expect(l.address).toBe(m);
    }
    expect(d.ns.ipj<any[]>('link', 'show', 'net2')).toHaveLength(1);
    // Multus wrote each pod's network-status with that interface and MAC.
    const status = JSON.parse(api.pod('default', 'vm-a')!.metadata.annotations!['k8s.v1.cni.cncf.io/network-status']!);
    expect(status.map((s: any) => [s.name, s.interface, s.mac ?? ''])).toEqual([
      ['k8s-pod-network', 'eth0', expect.stringMatching(/^[0-9a-f:]{17}$/)],
      ['default/vlan100', nic, mac.a],
    ]);
  });

  it("the pods' bridge ports carry the VLANs of their NADs", () => {
    // The host veth of each attachment, by its alias `vlan-bridge:<network>:<container>:<ifname>`.
    const links = hn.node.ipj<any[]>('link', 'show', 'master', 'mgmt-br');
    const port = (p: Pod, ifname: string) =>
      links.find((l) => l.ifalias?.startsWith('vlan-bridge:') && l.ifalias.endsWith(`:${p.id}:${ifname}`))?.ifname;
    const nic = kubevirtIfname('nic-1');
    const [a, b, c, d, t] = pods;
    const untagged: [number, string[]] = [1, ['Egress Untagged', 'PVID']];
    expect(bridgeVlans(hn.node, port(a!, nic))).toEqual([[100, ['Egress Untagged', 'PVID']]]);
    expect(bridgeVlans(hn.node, port(b!, 'net1'))).toEqual([[100, ['Egress Untagged', 'PVID']]]);
    expect(bridgeVlans(hn.node, port(c!, nic))).toEqual([[200, ['Egress Untagged', 'PVID']]]);
    expect(bridgeVlans(hn.node, port(d!, 'net2'))).toEqual([untagged]);
    // deploy/nad-trunk.yaml: vlan 0, vlanTrunk 100-200 and 300: native VLAN 1, the rest tagged.
    const trunk = bridgeVlans(hn.node, port(t!, nic));
    expect(trunk[0]).toEqual(untagged);
    expect(trunk.slice(1).map(([vid, flags]) => `${vid}${flags.join()}`)).toEqual(
      [...Array.from({ length: 101 }, (_, i) => 100 + i), 300].map(String),
    );
  });

  it("each attachment gets its lease from its own network's DHCP server", async () => {
    await Promise.all(atts.map((a) => dhcp(a)));
    for (const a of atts) {
      expect(netOf(a.ip!), `${a.label}: ${a.ip}`).toBe(a.net);
      expect(a.server).toBe(hn.nets[a.net].gateway);
    }
  });

  /**
   * Pings `to` from pod `p` (bound to interface `dev` when given) and records the cell when the outcome is not
   * `want`. Without a device the pod's routes choose the interface, as in the demo; bound to one, the kernel takes
   * any destination as on-link, so only phase 2 (addresses in every subnet) binds.
   */
  const cell = async (p: Pod, dev: string | undefined, to: string, label: string, want: boolean, wrong: string[]) => {
    const argv = ['ip', 'netns', 'exec', p.ns.name, 'ping', '-c', '1', '-W', '1', ...(dev ? ['-I', dev] : []), to];
    const got = (await run(argv)).code === 0;
    if (got !== want) wrong.push(`${dev ?? p.name} -> ${label} (${to}): ${got ? 'reached' : 'not reached'}`);
    return got ? 'yes' : 'no';
  };
  const matrix = (columns: string[], rows: Array<[string, string[]]>) =>
    [
      `${''.padEnd(10)}${columns.map((l) => l.padStart(12)).join('')}`,
      ...rows.map(([l, cells]) => `${l.padEnd(10)}${cells.map((c) => c.padStart(12)).join('')}`),
    ].join('\n');

  it("the demo's ping matrix: every pod reaches its own networks' pods and gateways, and nothing else", async () => {
    const gateways = (Object.keys(SUBNET) as Net[]).map((n) => ({ label: `gw-${n}`, net: n, ip: hn.nets[n].gateway }));
    const columns = [...atts.map((a) => ({ ...a, pod: a.pod as Pod | undefined })), ...gateways];
    const wrong: string[] = [];
    const rows: Array<[string, string[]]> = [];
    for (const p of pods) {
      // The trunk's pod is on all three networks.
      const nets = new Set(atts.filter((a) => a.pod === p).map((a) => a.net));
      const cells = await Promise.all(
        columns.map((c) =>
          'pod' in c && c.pod === p ? '-' : cell(p, undefined, c.ip!, c.label, nets.has(c.net), wrong),
        ),
      );
      rows.push([p.name, cells]);
    }
    expect(
      wrong,
      matrix(
        columns.map((c) => c.label),
        rows,
      ),
    ).toEqual([]);
  });

  it('at L2 too: with an address in every subnet, a pod still reaches only the pods of its own network', async () => {
    // Above, a pod reaches no other network also because it has no route there. Here every single-interface pod
    // also holds an address in each other network's subnet (.200 + its index), and the trunk pod answers ARP only
    // on the interface that holds the address asked (arp_ignore): a ping across networks then fails only if its
    // frames never reach the other side. (Gateways are left out: the switch is a router, it would answer.)
    const extra = (i: number, n: Net) => `${SUBNET[n]}.${200 + i}`;
    atts.forEach((a, i) => {
      if (a.pod.name === 'vm-t') return;
      for (const n of Object.keys(SUBNET) as Net[])
        if (n !== a.net) a.pod.ns.exec('ip', 'addr', 'add', `${extra(i, n)}/24`, 'dev', a.dev);
    });
    const wrong: string[] = [];
    const rows: Array<[string, string[]]> = [];
    for (const r of atts) {
      const cells = await Promise.all(
        atts.map((c, i) => {
          if (c === r) return '-';
          // Column c's address in row r's subnet (the trunk's interfaces have only their own).
          const to = c.net === r.net || c.pod.name === 'vm-t' ? c.ip! : extra(i, r.net);
          return cell(r.pod, r.dev, to, c.label, c.net === r.net, wrong);
        }),
      );
      rows.push([r.label, cells]);
    }
    expect(
      wrong,
      matrix(
        atts.map((c) => c.label),
        rows,
      ),
    ).toEqual([]);
  });

  it("Multus's DEL takes every pod's ports, addresses and its own cache away", async () => {
    for (const p of pods) await multus('DEL', p);
    const left = hn.node
      .ipj<any[]>('link', 'show')
      .filter((l) => l.linkinfo?.info_kind === 'veth' && l.ifname.startsWith('veth'));
    expect(left.map((l) => l.ifname)).toEqual([]);
    expect(readdirSync(MULTUS_CONF.cniDir).filter((f) => f !== 'results')).toEqual([]);
    expect(readdirSync(path.join(MULTUS_CONF.cniDir, 'results'))).toEqual([]);
    // Only the bond remains on the bridge; host-local released the cluster network's addresses.
    expect(hn.node.ipj<any[]>('link', 'show', 'master', 'mgmt-br').map((l) => l.ifname)).toEqual(['mgmt-bo']);
    const ipam = path.join(WORK, 'ipam', 'k8s-pod-network');
    expect(readdirSync(ipam).filter((f) => !/^(lock|last_reserved_ip\.\d+)$/.test(f))).toEqual([]);
  });
});
