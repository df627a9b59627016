// How kubelet, containerd, Multus and vlan-bridge meet on a Kubernetes node (Harvester's, or any cluster's that
// uses Multus), with the real parts, on this machine's kernel:
//
//   kubelet ──CRI (gRPC)──> containerd's CRI plugin ──CNI──> Multus ──CNI──> vlan-bridge (one call per network)
//   (crictl here)           (Debian's 1.6.20)          │     (v4.3.0)  │
//                                                      │               ├──HTTP──> API server (a stand-in here):
//                                                      │               │          the pod, its NADs; writes back
//                                                      │               │          the network-status annotation
//                                                      │               └──CNI──> the cluster network (eth0):
//                                                      │                         the reference bridge + host-local
//                                                      └── the first config in /etc/cni/net.d: Multus's
//
// 1. kubelet sends RunPodSandbox with the pod's name, namespace, uid and annotations (lab.ts, sandboxConfig). The
//    CRI plugin makes the sandbox's network namespace and calls the first CNI config of its conf_dir, which is
//    Multus, with CNI_ARGS naming the pod (K8S_POD_NAMESPACE, K8S_POD_NAME, K8S_POD_UID, the sandbox id) and eth0.
// 2. Multus attaches its cluster network (`delegates`) as eth0, reads the pod from the API server (the CNI call
//    does not carry annotations), parses its `k8s.v1.cni.cncf.io/networks` annotation, fetches each named
//    NetworkAttachmentDefinition and calls the plugin its `spec.config` names with that config: vlan-bridge, with
//    CNI_IFNAME the interface the annotation asks for (`net<n>` otherwise) and the requested MAC as `MAC=` in
//    CNI_ARGS (Harvester's configs declare no capabilities, so no runtimeConfig).
// 3. Multus writes the `k8s.v1.cni.cncf.io/network-status` annotation (one entry per interface: name, MAC, IPs)
//    back to the pod. KubeVirt's virt-launcher reads it, and the interface itself, to plug the VM in.
// 4. StopPodSandbox: the CRI plugin calls Multus's DEL, which calls each delegate's DEL from what it cached at ADD
//    (/var/lib/cni/multus), whether or not the pod still exists in the API. RemovePodSandbox stops the sandbox
//    again, so Multus gets a second DEL, without a netns; then the sandbox is gone.
//
// The API server is a stand-in (./apiserver.ts says what it checks and what it does not); containerd runs in an
// isolated node (test/lab/isolated-node.ts: a network namespace and private tmpfs at its paths), so the host's
// containerd, CNI directories and interfaces are never touched. A recorder in front of Multus and one in front of
// vlan-bridge keep every CNI call made to them (test/runtimes/lab.ts, installRecorder).
//
// Versions and what was read where behaviour depends on it: Multus v4.3.0 (pkg/multus/multus.go: CmdAdd, CmdDel,
// DelegateAdd's MAC= arg; pkg/types/conf.go: CreateCNIRuntimeConf, the CNI_ARGS; pkg/k8sclient: the API calls),
// cri-tools v1.36.0 (cmd/crictl: runp reads the JSON with the CRI API's json tags), containerd 1.6.20~ds1-1+deb12u3
// (`containerd config default`: the CRI keys below), the NADs of deploy/ (Harvester's shape).
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, ensureBuilt } from '../lab/binary.js';
import { openNode, type IsolatedNode } from '../lab/isolated-node.js';
import {
  CONTAINERD_PATHS,
  calls,
  hostPaths,
  installPlugins,
  installRecorder,
  leftovers,
  requireInstalled,
  veths,
  type Call,
} from '../runtimes/lab.js';
import { waitFor } from '../lab/wait.js';
import { ApiServerStandIn } from './apiserver.js';
import {
  BUILD_WAIT_MS,
  MULTUS,
  PAUSE_IMAGE,
  buildK8sParts,
  buildPauseImage,
  clusterNetwork,
  crictl,
  deployNads,
  importImage,
  inspectSandbox,
  kubevirtIfname,
  kubevirtNetworksAnnotation,
  linkLocalsReady,
  nodeFile,
  pings,
  podInterfaces,
  randomMac,
  sandboxConfig,
  sandboxes,
  startContainerd,
  type Containerd,
} from './lab.js';

// ---- the node's configuration --------------------------------------------------------------------------------

const CGROUP = `vbk8s-${randomBytes(4).toString('hex')}`;
/** What the node keeps private: containerd's root, state and config, CNI's directories, netns and pod logs. */
const PRIVATE = [...CONTAINERD_PATHS, '/etc/containerd', '/opt/containerd', '/run/netns', '/var/log/pods'];
// (/run/netns is left out: the node's own namespace is made there, and other tiers make theirs.)
const HOST = [
  ...PRIVATE.filter((p) => p !== '/run/netns'),
  '/opt/cni',
  ...readdirSync('/sys/fs/cgroup').map((h) => `/sys/fs/cgroup/${h}/${CGROUP}`),
];
const hostBefore = hostPaths(HOST);

/**
 * containerd with its CRI plugin, every path its own (inside the node). `restrict_oom_score_adj`: root here lacks
 * CAP_SYS_RESOURCE, which the sandbox's default -998 would need; `netns_mounts_under_state_dir` keeps the pods'
 * network namespaces under the state directory; no AppArmor on these machines.
 */
const CONTAINERD_CONFIG = `version = 2
root = "/var/lib/containerd"
state = "/run/containerd"
[grpc]
  address = "/run/containerd/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${PAUSE_IMAGE}"
  disable_apparmor = true
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/opt/cni/bin"
    conf_dir = "/etc/cni/net.d"
    max_conf_num = 1
`;

/** The cluster network every pod gets as eth0: the reference bridge plugin with host-local (Debian's). */
const CLUSTER_NETWORK = clusterNetwork({ defaultGateway: true });

const KUBECONFIG = '/etc/cni/net.d/multus.d/multus.kubeconfig';

/**
 * Multus's config, as its thin plugin's installer writes it (cmd/thin_entrypoint, multusConflistTemplate): named
 * "multus-cni-network" (main.go: unless --override-network-name, which Multus's own daemonset does not pass), the
 * cluster network as its one delegate, and the kubeconfig it reads the API with. README.md's "With Kubernetes"
 * shows this file (a test below compares); the node's copy adds a log file.
 */
const MULTUS_CONFIG = {
  cniVersion: CLUSTER_NETWORK.cniVersion,
  name: 'multus-cni-network',
  plugins: [{ type: 'multus', kubeconfig: KUBECONFIG, delegates: [CLUSTER_NETWORK] }],
};

const kubeconfig = (server: string) => `apiVersion: v1
kind: Config
clusters:
- name: stand-in
  cluster:
    server: ${server}
users:
- name: multus
  user: {}
contexts:
- name: multus
  context:
    cluster: stand-in
    user: multus
current-context: multus
`;

// ---- the networks: NetworkAttachmentDefinitions --------------------------------------------------------------

/** deploy/nad-*.yaml, as an operator applies them (Harvester's shape: cniVersion 0.3.1, L2, no mtu). */
const NADS = deployNads();
/** The untagged network's bridge: Harvester's `mgmt-br`, here with an uplink of MTU 9000 (jumbo frames). */
const MGMT = { bridge: 'mgmt-br', uplink: 'mgmt-bo', mtu: 9000 } as const;
/** An L3 network at cniVersion 1.0.0: addresses from host-local, a gateway, masquerading, its own MTU. */
const L3 = { bridge: 'k8s-l3-br', subnet: '10.218.0.0/24', gateway: '10.218.0.1', mtu: 1400 } as const;
const L3_NAD = {
  apiVersion: 'k8s.cni.cncf.io/v1',
  kind: 'NetworkAttachmentDefinition',
  metadata: { name: 'l3-net', namespace: 'default' },
  spec: {
    config: JSON.stringify({
      cniVersion: '1.0.0',
      name: 'l3-net',
      type: 'vlan-bridge',
      bridge: L3.bridge,
      isGateway: true,
      ipMasq: true,
      mtu: L3.mtu,
      ipam: { type: 'host-local', ranges: [[{ subnet: L3.subnet, gateway: L3.gateway }]] },
    }),
  },
};

// ---- the node ------------------------------------------------------------------------------------------------

let node: IsolatedNode;
let containerd: Containerd;
let api: ApiServerStandIn;
/** Where the recorders keep the calls made to Multus and to vlan-bridge. */
let multusCalls: string;
let pluginCalls: string;

beforeAll(async () => {
  requireInstalled([
    ['containerd', 'containerd'],
    ['ctr', 'containerd'],
    ['runc', 'runc'],
    ['busybox', 'busybox'],
    ['jq', 'jq'],
    ['/usr/lib/cni/bridge', 'containernetworking-plugins'],
    ['/usr/lib/cni/host-local', 'containernetworking-plugins'],
    ['/usr/lib/cni/loopback', 'containernetworking-plugins'],
    ['iptables-save', 'iptables'],
    ['nft', 'nftables'],
  ]);
  await buildK8sParts(); // Multus and crictl (waits for the build test/run.mjs started)
  ensureBuilt(); // bin/vlan-bridge
  node = await openNode({ prefix: 'vbk8s', paths: PRIVATE, cgroupParents: [CGROUP] });

  // The API server, reachable from the node only, with the NADs in it.
  api = new ApiServerStandIn();
  api.listenIn(node.ns.path);
  for (const nad of [...Object.values(NADS), L3_NAD]) api.createNad(nad);

  // CNI: Multus as the only config, its kubeconfig, the plugins (vlan-bridge and Multus behind recorders).
  multusCalls = path.join(node.dir, 'multus-calls');
  pluginCalls = path.join(node.dir, 'vlan-bridge-calls');
  installPlugins(node, pluginCalls); // vlan-bridge, host-local, portmap
  installRecorder(node, 'multus', MULTUS, multusCalls);
  // The reference bridge for the cluster network, and loopback, which the CRI plugin itself calls for `lo`.
  for (const p of ['bridge', 'loopback']) node.sh('ln', ['-s', `/usr/lib/cni/${p}`, `/opt/cni/bin/${p}`]);
  node.sh('mkdir', ['-p', path.dirname(KUBECONFIG)]);
  node.sh('cp', [nodeFile(node, 'kubeconfig', kubeconfig(api.url)), KUBECONFIG]);
  const conf = structuredClone(MULTUS_CONFIG);
  Object.assign(conf.plugins[0]!, { logLevel: 'verbose', logFile: path.join(node.dir, 'multus.log') });
  node.sh('cp', [
    nodeFile(node, '00-multus.conflist', JSON.stringify(conf, null, 2)),
    '/etc/cni/net.d/00-multus.conflist',
  ]);

  // Harvester's cluster network bridge with its uplink (a vxlan device: this kernel has no bonds or dummies).
  const ip = (...a: string[]) => node.sh('ip', a);
  ip('link', 'add', MGMT.uplink, 'mtu', String(MGMT.mtu), 'type', 'vxlan', 'id', '218', 'dstport', '4789');
  ip('link', 'add', MGMT.bridge, 'type', 'bridge');
  ip('link', 'set', MGMT.uplink, 'master', MGMT.bridge, 'up');
  ip('link', 'set', MGMT.bridge, 'up');

  // containerd with its CRI plugin, and the sandbox image.
  node.sh('cp', [nodeFile(node, 'config.toml', CONTAINERD_CONFIG), '/etc/containerd/config.toml']);
  containerd = await startContainerd(node);
  importImage(node, buildPauseImage(path.join(node.dir, 'pause')));
}, BUILD_WAIT_MS + 120_000);

afterAll(async () => {
  api?.stop();
  if (!node) return;
  await containerd?.process.stop();
  await node.close();
}, 60_000);

// ---- pods ------------------------------------------------------------------------------------------------------

interface Pod {
  name: string;
  uid: string;
  /** The sandbox id containerd gave it (RunPodSandbox's answer). */
  id: string;
  /** Its network namespace, as CNI_NETNS named it. */
  netns: string;
}

/** A VM's launcher pod as KubeVirt makes it: named after the VM, its Multus networks in the annotation. */
function launcherPod(vm: string, nets: Array<{ vmNetwork: string; nad: string; mac: string }>) {
  return {
    metadata: {
      name: `virt-launcher-${vm}-${randomBytes(3).toString('hex').slice(0, 5)}`,
      namespace: 'default',
      labels: { 'kubevirt.io': 'virt-launcher', 'vm.kubevirt.io/name': vm },
      annotations: {
        'k8s.v1.cni.cncf.io/networks': kubevirtNetworksAnnotation(nets.map((n) => ({ ...n, namespace: 'default' }))),
      },
    },
    spec: { containers: [{ name: 'compute', image: 'registry.example.com/virt-launcher:v1' }] },
    status: { phase: 'Pending' },
  };
}

/** A pod as a user writes it by hand: the annotation's short form (`<namespace>/<name>@<interface>`, comma list). */
function userPod(name: string, networks: string) {
  return {
    metadata: { name, namespace: 'default', annotations: { 'k8s.v1.cni.cncf.io/networks': networks } },
    spec: { containers: [{ name: 'app', image: 'registry.example.com/app:1' }] },
    status: { phase: 'Pending' },
  };
}

/**
 * What kubelet does for a new pod: the pod is in the API (the scheduler put it on this node), then RunPodSandbox
 * with the sandbox config built from it. Returns the sandbox's id and network namespace.
 */
async function runPod(pod: Parameters<ApiServerStandIn['createPod']>[0]): Promise<Pod> {
  const stored = api.createPod(pod);
  const config = nodeFile(node, `${stored.metadata.name}.json`, JSON.stringify(sandboxConfig(stored, `/${CGROUP}`)));
  const id = (await crictl(node, ['runp', config])).stdout.trim();
  const { netns, state } = await inspectSandbox(node, id);
  expect(state).toBe('SANDBOX_READY');
  return { name: stored.metadata.name!, uid: stored.metadata.uid!, id, netns };
}

/** StopPodSandbox, then RemovePodSandbox, as kubelet does for a pod that is gone. */
async function removePod(p: Pod): Promise<void> {
  await crictl(node, ['stopp', p.id]);
  await crictl(node, ['rmp', p.id]);
}

/** The calls made to vlan-bridge (or to Multus) for one pod, by the sandbox id in CNI_CONTAINERID. */
const callsFor = (dir: string, p: Pod, command?: string): Call[] =>
  calls(dir).filter((c) => c.env.CNI_CONTAINERID === p.id && (!command || c.command === command));

/** A call's CNI_ARGS as a map (of a key given twice, as Multus does, the last). */
const cniArgs = (c: Call) =>
  new Map((c.env.CNI_ARGS ?? '').split(';').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));

/** The `network-status` annotation Multus wrote on the pod, parsed. */
const networkStatus = (p: Pod): any[] =>
  JSON.parse(api.pod('default', p.name)?.metadata.annotations?.['k8s.v1.cni.cncf.io/network-status'] ?? 'null');

// The two VMs' networks: Harvester's untagged network (deploy/nad-untagged.yaml) and the L3 network, each with a
// MAC of its own, named as in a VM spec (KubeVirt hashes these names into the pod interface names).
const vmNets = () => [
  { vmNetwork: 'nic-1', nad: 'untagged', mac: randomMac() },
  { vmNetwork: 'nic-2', nad: 'l3-net', mac: randomMac() },
];
const UNTAGGED_IF = kubevirtIfname('nic-1');
const L3_IF = kubevirtIfname('nic-2');

describe('RunPodSandbox through Multus: two VMs on two vlan-bridge networks, and a pod a user annotated', () => {
  const macs = { a: vmNets(), b: vmNets() };
  let a: Pod, b: Pod, c: Pod;

  it('kubelet runs the pods; the CRI plugin calls Multus, and Multus calls vlan-bridge once per network', async () => {
    a = await runPod(launcherPod('vm-a', macs.a));
    b = await runPod(launcherPod('vm-b', macs.b));
    c = await runPod(userPod('user-pod', 'default/untagged@net2'));

    for (const p of [a, b, c]) {
      // containerd called Multus once, as eth0, naming the pod in CNI_ARGS.
      const [add, ...more] = callsFor(multusCalls, p, 'ADD');
      expect(more).toEqual([]);
      expect(add!.env).toMatchObject({ CNI_IFNAME: 'eth0', CNI_NETNS: p.netns, CNI_PATH: '/opt/cni/bin' });
      expect(Object.fromEntries(cniArgs(add!))).toEqual({
        IgnoreUnknown: '1',
        K8S_POD_NAMESPACE: 'default',
        K8S_POD_NAME: p.name,
        K8S_POD_INFRA_CONTAINER_ID: p.id,
        K8S_POD_UID: p.uid,
      });
      expect(add!.rc).toBe(0);
    }

    // Multus read each pod and the NADs it names from the API server.
    const gets = api.requests.filter((r) => r.method === 'GET').map((r) => `${r.path} ${r.status}`);
    expect(gets).toEqual(
      expect.arrayContaining([
        `/api/v1/namespaces/default/pods/${a.name} 200`,
        '/apis/k8s.cni.cncf.io/v1/namespaces/default/network-attachment-definitions/untagged 200',
        '/apis/k8s.cni.cncf.io/v1/namespaces/default/network-attachment-definitions/l3-net 200',
      ]),
    );

    // vlan-bridge got the NADs' configs as they are in the API (Multus adds nothing to a config without
    // capabilities), the interface names KubeVirt asked for, the MACs as MAC= in CNI_ARGS, the pod in CNI_ARGS.
    for (const [p, nets] of [
      [a, macs.a],
      [b, macs.b],
    ] as const) {
      const adds = callsFor(pluginCalls, p, 'ADD');
      expect(adds.map((c) => [c.env.CNI_IFNAME, c.conf, c.rc])).toEqual([
        [UNTAGGED_IF, JSON.parse(NADS.untagged.spec.config), 0],
        [L3_IF, JSON.parse(L3_NAD.spec.config), 0],
      ]);
      adds.forEach((add, i) => {
        expect(add.env.CNI_NETNS).toBe(p.netns);
        expect(add.env.CNI_ARGS!.split(';')).toEqual(
          expect.arrayContaining([`K8S_POD_NAME=${p.name}`, `K8S_POD_UID=${p.uid}`, `MAC=${nets[i]!.mac}`]),
        );
      });
    }
    // The user's short form: the interface it names, no MAC.
    const [cAdd, ...cMore] = callsFor(pluginCalls, c, 'ADD');
    expect(cMore).toEqual([]);
    expect(cAdd!.env.CNI_IFNAME).toBe('net2');
    expect(cAdd!.env.CNI_ARGS).not.toContain('MAC=');
  });

  it('each sandbox has the interfaces asked for: names, MACs, the MTU of each network, addresses', () => {
    for (const [p, nets] of [
      [a, macs.a],
      [b, macs.b],
    ] as const) {
      const ifs = podInterfaces(node, p.netns);
      expect(Object.keys(ifs).sort()).toEqual(['eth0', L3_IF, UNTAGGED_IF].sort());
      // Untagged: L2 only (Harvester's `ipam: {}`), no mtu in the NAD: the uplink's MTU.
      expect(ifs[UNTAGGED_IF]).toMatchObject({ mac: nets[0]!.mac, mtu: MGMT.mtu, up: true, ipv4: [] });
      // L3: the NAD's MTU and one address of its subnet.
      expect(ifs[L3_IF]).toMatchObject({ mac: nets[1]!.mac, mtu: L3.mtu, up: true });
      expect(ifs[L3_IF]!.ipv4).toEqual([expect.stringMatching(/^10\.218\.0\.\d+\/24$/)]);
      // The cluster network's eth0, from the reference bridge plugin.
      expect(ifs.eth0!.ipv4).toEqual([expect.stringMatching(/^10\.244\.0\.\d+\/24$/)]);
    }
    expect(Object.keys(podInterfaces(node, c.netns)).sort()).toEqual(['eth0', 'net2']);
  });

  it('Multus wrote the network-status annotation: every interface with its MAC and addresses', () => {
    for (const [p, nets] of [
      [a, macs.a],
      [b, macs.b],
    ] as const) {
      const ifs = podInterfaces(node, p.netns);
      expect(networkStatus(p)).toEqual([
        {
          name: 'k8s-pod-network',
          interface: 'eth0',
          ips: [ifs.eth0!.ipv4[0]!.split('/')[0]],
          mac: ifs.eth0!.mac,
          default: true,
          dns: {},
          gateway: ['10.244.0.1'],
        },
        // A 0.3.1 result carries no interface MTU, so neither does its status entry (KubeVirt reads the MTU from
        // the interface itself); the L2 network has no addresses.
        { name: 'default/untagged', interface: UNTAGGED_IF, mac: nets[0]!.mac, dns: {} },
        {
          name: 'default/l3-net',
          interface: L3_IF,
          ips: [ifs[L3_IF]!.ipv4[0]!.split('/')[0]],
          mac: nets[1]!.mac,
          mtu: L3.mtu,
          dns: {},
        },
      ]);
    }
    // Written with a status update (PUT .../status), protobuf-encoded, as the pods/status subresource takes it.
    const puts = api.requests.filter((r) => r.method === 'PUT');
    expect(puts.map((r) => [r.path, r.status, r.contentType])).toEqual(
      expect.arrayContaining([
        [`/api/v1/namespaces/default/pods/${a.name}/status`, 200, 'application/vnd.kubernetes.protobuf'],
      ]),
    );
    expect(networkStatus(c).map((s: any) => [s.name, s.interface])).toEqual([
      ['k8s-pod-network', 'eth0'],
      ['default/untagged', 'net2'],
    ]);

    // Its events: one "AddedInterface" per interface, with the addresses the plugin returned. client-go sends them
    // in the background and the plugin's process may end first, so some may never arrive; those that do are right.
    const l3 = podInterfaces(node, a.netns)[L3_IF]!.ipv4[0];
    const expected = [
      `Add eth0 [${podInterfaces(node, a.netns).eth0!.ipv4[0]}] from k8s-pod-network`,
      `Add ${UNTAGGED_IF} [] from default/untagged`,
      `Add ${L3_IF} [${l3}] from default/l3-net`,
    ];
    const events = api.recordedEvents();
    expect(events.length).toBeGreaterThan(0);
    for (const e of events.filter((e) => e.involvedObject.name === a.name)) {
      expect(e).toMatchObject({ reason: 'AddedInterface', type: 'Normal', source: { component: 'multus' } });
      expect(e.involvedObject).toEqual({ kind: 'Pod', namespace: 'default', name: a.name, uid: a.uid });
      expect(expected).toContain(e.message);
    }
  });

  it('the pods reach each other on each network, and not across', async () => {
    const [ia, ib, ic] = await Promise.all([a, b, c].map((p) => linkLocalsReady(node, p.netns)));
    // Untagged (L2, no addresses: the kernel's IPv6 link-local ones prove adjacency), both ways, and the user's pod.
    expect(pings(node, a.netns, UNTAGGED_IF, ib![UNTAGGED_IF]!.linkLocal!)).toBe(true);
    expect(pings(node, b.netns, UNTAGGED_IF, ia![UNTAGGED_IF]!.linkLocal!)).toBe(true);
    expect(pings(node, c.netns, 'net2', ia![UNTAGGED_IF]!.linkLocal!)).toBe(true);
    // L3: addresses, and the gateway on the bridge.
    const l3 = (i: typeof ia) => i![L3_IF]!.ipv4[0]!.split('/')[0]!;
    expect(pings(node, a.netns, L3_IF, l3(ib))).toBe(true);
    expect(pings(node, b.netns, L3_IF, l3(ia))).toBe(true);
    expect(pings(node, a.netns, L3_IF, L3.gateway)).toBe(true);
    // Not across: one network's interface does not reach the other network's (nor the cluster network's).
    expect(pings(node, a.netns, UNTAGGED_IF, ib![L3_IF]!.linkLocal!)).toBe(false);
    expect(pings(node, a.netns, L3_IF, ib![UNTAGGED_IF]!.linkLocal!)).toBe(false);
    expect(pings(node, c.netns, 'net2', ib![L3_IF]!.linkLocal!)).toBe(false);
    expect(pings(node, a.netns, UNTAGGED_IF, ib!.eth0!.linkLocal!)).toBe(false);
    expect(ic!.net2!.mtu).toBe(MGMT.mtu);
  });

  it('StopPodSandbox and RemovePodSandbox: DEL reaches vlan-bridge for each network, and nothing is left', async () => {
    // Pod b was deleted from the API first (a forced delete); a and c are still there (a graceful delete).
    api.deletePod('default', b.name);
    for (const p of [a, b, c]) await removePod(p);

    // containerd calls Multus's DEL twice: at StopPodSandbox with the netns, and again at RemovePodSandbox, which
    // stops the sandbox once more ("Forcibly stopping sandbox", pkg/cri/server/sandbox_remove.go) and, the netns
    // closed by then, passes no path.
    for (const p of [a, b, c])
      expect(callsFor(multusCalls, p, 'DEL').map((d) => [d.env.CNI_NETNS ?? '', d.rc])).toEqual([
        [p.netns, 0],
        ['', 0],
      ]);
    // Multus's first DEL works from what it cached at ADD (/var/lib/cni/multus) and removes that cache, calling
    // the networks in reverse order. Its second finds no cache: for a pod still in the API it reads the pod's
    // NADs again and calls DEL once more, now without a netns (vlan-bridge finds the host veth gone, and
    // releases nothing twice); for a pod the API no longer has it has nothing to call.
    const dels = (p: Pod) =>
      callsFor(pluginCalls, p, 'DEL').map((d) => [d.env.CNI_IFNAME, d.env.CNI_NETNS ?? '', d.rc]);
    expect(dels(a)).toEqual([
      [L3_IF, a.netns, 0],
      [UNTAGGED_IF, a.netns, 0],
      [L3_IF, '', 0],
      [UNTAGGED_IF, '', 0],
    ]);
    expect(dels(b)).toEqual([
      [L3_IF, b.netns, 0],
      [UNTAGGED_IF, b.netns, 0],
    ]);
    expect(dels(c)).toEqual([
      ['net2', c.netns, 0],
      ['net2', '', 0],
    ]);
    // The same config at DEL as at ADD. libcni adds the result it cached at ADD as prevResult for a config of
    // cniVersion 0.4.0 or later (the L3 network's 1.0.0), not for Harvester's 0.3.1; Multus's second DEL, the
    // cache gone, sends none.
    const [l3Del, untaggedDel, l3Again, untaggedAgain] = callsFor(pluginCalls, a, 'DEL');
    const [, l3Add] = callsFor(pluginCalls, a, 'ADD');
    expect(l3Del!.conf).toEqual({ ...JSON.parse(L3_NAD.spec.config), prevResult: l3Add!.out });
    expect(l3Again!.conf).toEqual(JSON.parse(L3_NAD.spec.config));
    for (const d of [untaggedDel, untaggedAgain]) expect(d!.conf).toEqual(JSON.parse(NADS.untagged.spec.config));
    // vlan-bridge's DEL itself removed each pair while the netns still existed (containerd destroys the netns
    // after the DEL, which would take the veths with it even if DEL did nothing): the host veth the ADD made is
    // gone from the node the moment the DEL with the netns returns.
    for (const p of [a, b, c]) {
      for (const add of callsFor(pluginCalls, p, 'ADD')) {
        // The result lists the bridge, the host veth and the pod's interface, in that order (as the reference's).
        const hostVeth = (add.out.interfaces as Array<{ name: string }>)[1]!;
        expect(add.vethsAfter, `${p.name}: after ADD`).toContain(hostVeth.name);
        const del = callsFor(pluginCalls, p, 'DEL').find(
          (d) => d.env.CNI_IFNAME === add.env.CNI_IFNAME && d.env.CNI_NETNS === p.netns,
        );
        expect(del?.vethsAfter, `${p.name} ${add.env.CNI_IFNAME}: after DEL`).not.toContain(hostVeth.name);
      }
    }

    expect(await sandboxes(node)).toEqual([]);
    // No veths, no cached results or Multus scratch files, no host-local allocations, no ipMasq rules.
    expect(leftovers(node)).toEqual([]);
  });
});

/** Multus's words for the refusal below, and containerd's whole error, as crictl printed it. */
let refusedWith = '';
let refusedError = '';

describe('a network vlan-bridge refuses', () => {
  it("RunPodSandbox fails with vlan-bridge's message in containerd's error, and nothing of the pod is left", async () => {
    // deploy/nad-vlan100.yaml: a VLAN network, which this kernel (no bridge VLAN filtering) cannot carry: code 108.
    // The untagged network before it is attached first, then taken away again by Multus.
    const stored = api.createPod(userPod('refused', 'default/untagged@net1, vlan100'));
    const config = nodeFile(node, 'refused.json', JSON.stringify(sandboxConfig(stored, `/${CGROUP}`)));
    const r = await crictl(node, ['runp', config], { check: false });
    expect(r.code).not.toBe(0);

    const forPod = (dir: string) => calls(dir).filter((c) => cniArgs(c).get('K8S_POD_NAME') === 'refused');
    const refusal = forPod(pluginCalls).find((c) => c.command === 'ADD' && c.rc !== 0)!;
    expect(refusal.conf).toEqual(JSON.parse(NADS.vlan100.spec.config));
    expect(refusal.out.code).toBe(108);
    // crictl prints containerd's error (Multus's, which quotes vlan-bridge's message and details) with Go's quoting.
    const error = r.stderr.replaceAll('\\"', '"');
    refusedError = error;
    refusedWith = `error adding container to network "vlan100": ${refusal.out.msg}; ${refusal.out.details}`;
    expect(error).toContain(refusedWith);

    // Multus took the untagged network (net1) away again, and the refused one (its interface is net2: Multus
    // counts delegates from the cluster network, 0), in reverse order; then containerd, cleaning up the failed
    // sandbox, called Multus's DEL, which did it once more from the cache the failed ADD left.
    const netns = refusal.env.CNI_NETNS!;
    expect(forPod(multusCalls).map((c) => [c.command, c.rc])).toEqual([
      ['ADD', 1],
      ['DEL', 0],
    ]);
    expect(forPod(pluginCalls).map((c) => [c.command, c.env.CNI_IFNAME, c.env.CNI_NETNS, c.rc])).toEqual([
      ['ADD', 'net1', netns, 0],
      ['ADD', 'net2', netns, 1], // exit status 1, code 108 in the error it prints
      ['DEL', 'net2', netns, 0],
      ['DEL', 'net1', netns, 0],
      ['DEL', 'net2', netns, 0],
      ['DEL', 'net1', netns, 0],
    ]);
    expect(await sandboxes(node)).toEqual([]);
    expect(leftovers(node)).toEqual([]);
    expect(api.pod('default', 'refused')!.metadata.annotations).not.toHaveProperty('k8s.v1.cni.cncf.io/network-status');
  });
});

describe("the API server's answers Multus must handle", () => {
  it('a status update that loses to another writer (409 Conflict): Multus reads the pod again and writes it', async () => {
    const stored = api.createPod(userPod('conflict', 'default/untagged@net1'));
    api.writeBeforeNextStatus('default', 'conflict');
    const p = await runPod(stored);
    const statusPath = '/api/v1/namespaces/default/pods/conflict';
    const seen = api.requests
      .filter((r) => r.path === statusPath || r.path === `${statusPath}/status`)
      .map((r) => `${r.method} ${r.path.endsWith('/status') ? 'status ' : ''}${r.status}`);
    // Multus's ADD: the pod, then SetNetworkStatus: GET, PUT (409), GET again, PUT (200).
    expect(seen.slice(-4)).toEqual(['GET 200', 'PUT status 409', 'GET 200', 'PUT status 200']);
    const status = JSON.parse(
      api.pod('default', 'conflict')!.metadata.annotations!['k8s.v1.cni.cncf.io/network-status']!,
    );
    expect(status.map((s: { interface: string }) => s.interface)).toEqual(['eth0', 'net1']);
    await removePod(p);
    expect(leftovers(node)).toEqual([]);
  });

  it("a NAD that does not exist (404): RunPodSandbox fails with the API server's words, and nothing is left", async () => {
    const stored = api.createPod(userPod('missing-nad', 'default/nope@x1'));
    const config = nodeFile(node, 'missing-nad.json', JSON.stringify(sandboxConfig(stored, `/${CGROUP}`)));
    const r = await crictl(node, ['runp', config], { check: false });
    expect(r.code).not.toBe(0);
    const nadPath = '/apis/k8s.cni.cncf.io/v1/namespaces/default/network-attachment-definitions/nope';
    expect(api.requests.filter((q) => q.path === nadPath).map((q) => q.status)).toContain(404);
    expect(r.stderr.replaceAll('\\"', '"')).toContain(
      'network-attachment-definitions.k8s.cni.cncf.io "nope" not found',
    );
    // Multus tells the pod's events why (it posts them asynchronously).
    const warned = () =>
      api.recordedEvents().some((e) => e.involvedObject?.name === 'missing-nad' && e.reason === 'NoNetworkFound');
    await waitFor(warned, 'a NoNetworkFound event for the pod', 10_000);
    // vlan-bridge was never called for it; nothing of the pod is left.
    expect(calls(pluginCalls).filter((c) => cniArgs(c).get('K8S_POD_NAME') === 'missing-nad')).toEqual([]);
    expect(await sandboxes(node)).toEqual([]);
    expect(leftovers(node)).toEqual([]);
  });
});

describe('containerd restarted while sandboxes run', () => {
  it('the sandboxes keep their networks, and stop and remove still clean up', async () => {
    const nets = { a: vmNets(), b: vmNets() };
    const pods = [await runPod(launcherPod('vm-c', nets.a)), await runPod(launcherPod('vm-d', nets.b))];
    const before = pods.map((p) => podInterfaces(node, p.netns));

    await containerd.stop();
    // The pods' processes and network namespaces outlive the daemon (their shims keep them); nothing was deleted.
    for (const p of pods) expect(callsFor(pluginCalls, p, 'DEL')).toEqual([]);
    expect(pods.map((p) => podInterfaces(node, p.netns))).toEqual(before);
    await containerd.start();

    expect((await sandboxes(node)).map((s) => [s.name, s.state])).toEqual(
      expect.arrayContaining(pods.map((p) => [p.name, 'SANDBOX_READY'])),
    );
    expect(pods.map((p) => podInterfaces(node, p.netns))).toEqual(before);
    const [ia, ib] = await Promise.all(pods.map((p) => linkLocalsReady(node, p.netns)));
    expect(pings(node, pods[0]!.netns, UNTAGGED_IF, ib![UNTAGGED_IF]!.linkLocal!)).toBe(true);
    expect(pings(node, pods[1]!.netns, L3_IF, ia![L3_IF]!.ipv4[0]!.split('/')[0]!)).toBe(true);

    for (const p of pods) await removePod(p);
    for (const p of pods) {
      expect(callsFor(pluginCalls, p, 'DEL').map((d) => [d.env.CNI_IFNAME, d.env.CNI_NETNS ?? '', d.rc])).toEqual([
        [L3_IF, p.netns, 0],
        [UNTAGGED_IF, p.netns, 0],
        [L3_IF, '', 0],
        [UNTAGGED_IF, '', 0],
      ]);
    }
    expect(await sandboxes(node)).toEqual([]);
    expect(leftovers(node)).toEqual([]);
    expect(veths(node)).toEqual([]);
  });
});

describe('README.md "With Kubernetes"', () => {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('\n## With Kubernetes\n'), readme.indexOf('\n## Protocol\n'));

  it('shows the Multus config, the interface name and the refusal this file ran with', () => {
    const json = /\n( *)```json\n([\s\S]*?)\n *```\n/.exec(section);
    expect(json, 'the section has no json block').not.toBeNull();
    expect(JSON.parse(json![2]!)).toEqual(MULTUS_CONFIG);
    expect(kubevirtIfname('nic-1')).toBe('pod8fe0d3f1ac5');
    expect(section).toContain('`nic-1` gives\n   `pod8fe0d3f1ac5`');
    // The error as the section quotes it (its start; the section wraps it).
    expect(refusedWith).not.toBe('');
    const start = refusedWith.slice(0, refusedWith.indexOf('needs;') + 'needs;'.length);
    expect(section.replace(/\s+/g, ' ')).toContain(start);
    // The whole line as step 6 quotes it, its placeholders ("...", <pod>, <uid>, the rest) filled.
    const quoted = /`(failed to setup network for sandbox [^`]*)`/.exec(section)![1]!.replace(/\s+/g, ' ');
    const pattern = quoted
      .replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
      .replace('"\\.\\.\\."', '"[0-9a-f]+"')
      .replace('<pod>', 'refused')
      .replace('<uid>', '[0-9a-f-]+')
      .replace(/ \\.\\.\\.$/, ' .*');
    expect(refusedError).toMatch(new RegExp(pattern));
  });
});

describe('the host', () => {
  it('is untouched: its containerd, CNI and cgroup paths are as they were', async () => {
    await containerd.stop();
    await node.close(); // what containerd kept in the node goes with it
    node = undefined as unknown as IsolatedNode;
    expect(hostPaths(HOST)).toEqual(hostBefore);
  });
});
