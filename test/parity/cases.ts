// The parity cases: the same configs run through this plugin and through the current reference `bridge` plugin
// (containernetworking-plugins 1.9.1, Debian unstable's build, unpacked into build/reference-1.9.1 by `make deps`;
// test/lab/peer.ts), each in fresh namespaces. test/parity/observe.ts records what each plugin did; the parity
// tests (test/uml/parity.host.test.ts) compare the two and fail on any difference that test/parity/documented.json
// does not list with its README section. A case with `bookworm` also runs through Debian bookworm's 1.1.1
// (/usr/lib/cni/bridge), which is compared with 1.9.1: what a node still on bookworm's plugins does differently.
//
// Each case is a small record. `config` is sent as-is to both plugins (type "bridge": this plugin is a drop-in),
// except that "@DATADIR@" is replaced by a fresh host-local data directory per run. `kernel` says where the case
// runs: 'host' on this machine's kernel, 'uml' in the user-mode Linux kernel (bridge VLAN filtering exists only
// there). `nodePrep` / `podPrep` are sh scripts run in the node / pod namespace before ADD; `ipamFiles` are files
// written into the data directory first (e.g. to exhaust a host-local range). `ours` pins a few facts about this
// plugin's own behaviour, so a run where both plugins fail the same way for an unrelated reason cannot pass.
// `gc` sends GC (1.1.0) with no valid attachment after CHECK, before DEL.

export type Kernel = 'host' | 'uml';

export interface ParityCase {
  name: string;
  /** One line for the table. */
  title: string;
  kernel: Kernel;
  config: Record<string, unknown>;
  nodePrep?: string;
  podPrep?: string;
  /** CNI_ARGS for every command of the case. */
  args?: string;
  ipamFiles?: Record<string, string>;
  /** The MAC the case asks for (runtimeConfig.mac, args.cni.mac or CNI_ARGS MAC), checked on the container end. */
  mac?: string;
  /** Observed fields this plugin must show (field -> value), whatever the reference does. */
  ours: Record<string, string>;
  /** Why this case also runs through bookworm's reference 1.1.1 (what it shows that 1.9.1 does not). */
  bookworm?: string;
  /** GC (config at 1.1.0) with an empty cni.dev/valid-attachments, after CHECK. */
  gc?: boolean;
}

const MAC = '02:00:00:00:00:0c';
const BR = 'br-par';

/** A bridge config as a runtime would send it; `extra` overrides. */
function conf(cniVersion: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { cniVersion, name: 'parity', type: 'bridge', bridge: BR, ipam: {}, ...extra };
}

/**
 * Harvester's node (REFERENCE.md section 3), UML only: mgmt-br with VLAN filtering and promisc, bond uplink with
 * 100/200.
 */
const HARVESTER_NODE = `
  ip link add mgmt-br type bridge vlan_filtering 1
  ip link add mgmt-bo type bond mode active-backup
  ip link add mgmt-nic0 type dummy
  ip link set mgmt-nic0 master mgmt-bo
  ip link set mgmt-bo master mgmt-br
  ip link set mgmt-br promisc on
  for l in mgmt-nic0 mgmt-bo mgmt-br; do ip link set "$l" up; done
  bridge vlan add dev mgmt-bo vid 100 master
  bridge vlan add dev mgmt-bo vid 200 master`;

/** A NAD config as Harvester writes it (bridge mgmt-br, promiscMode, ipam {}). */
function nad(cniVersion: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { cniVersion, name: 'parity', type: 'bridge', bridge: 'mgmt-br', promiscMode: true, ipam: {}, ...extra };
}

const hostLocal = { type: 'host-local', subnet: '10.77.0.0/24', dataDir: '@DATADIR@' };

export const CASES: ParityCase[] = [
  // ---- this machine's kernel ----
  {
    name: 'l2-untagged',
    title: 'L2 untagged, runtimeConfig.mac, bridge created by the plugin (1.0.0)',
    kernel: 'host',
    config: conf('1.0.0', { runtimeConfig: { mac: MAC } }),
    mac: MAC,
    ours: { add: 'ok', check: 'ok', 'container.mac': 'requested', 'del.leftover': 'none' },
    bookworm: 'its 1.0.0 result carries an empty "dns": {} (README, Protocol)',
  },
  {
    name: 'l2-check-0.4.0',
    title: 'L2 untagged at 0.4.0, MAC from CNI_ARGS: ADD, CHECK, DEL',
    kernel: 'host',
    config: conf('0.4.0'),
    args: `IgnoreUnknown=true;K8S_POD_NAME=vm1;MAC=${MAC}`,
    mac: MAC,
    ours: { add: 'ok', check: 'ok', 'container.mac': 'requested' },
  },
  {
    name: 'l2-0.2.0',
    title: 'L2 config at 0.2.0 (an L2 result has no 0.2.0 form)',
    kernel: 'host',
    config: conf('0.2.0'),
    ours: { add: 'error 107', 'failed-add.leftover': 'none' },
  },
  {
    name: 'mtu-1400',
    title: 'explicit mtu 1400, bridge created by the plugin',
    kernel: 'host',
    config: conf('1.0.0', { mtu: 1400 }),
    ours: { add: 'ok', 'mtu.container': '1400', 'mtu.host': '1400', 'mtu.bridge': '1400' },
  },
  {
    name: 'mtu-inherit-9000',
    title: 'no mtu, existing bridge at MTU 9000 (Harvester issue #4353)',
    kernel: 'host',
    config: conf('1.0.0'),
    nodePrep: `ip link add ${BR} type bridge && ip link set ${BR} mtu 9000 up`,
    ours: { add: 'ok', 'mtu.container': '9000', 'mtu.host': '9000', 'mtu.bridge': '9000', check: 'ok' },
  },
  {
    name: 'mtu-above-bridge',
    title: 'mtu 9000 on an existing bridge at 1500',
    kernel: 'host',
    config: conf('1.0.0', { mtu: 9000 }),
    nodePrep: `ip link add ${BR} type bridge && ip link set ${BR} up`,
    ours: { add: 'error 103', 'failed-add.leftover': 'none' },
  },
  {
    name: 'hairpin',
    title: 'hairpinMode',
    kernel: 'host',
    config: conf('1.0.0', { hairpinMode: true }),
    ours: { add: 'ok', 'port.hairpin': 'on', check: 'ok' },
  },
  {
    name: 'port-isolation',
    title: 'portIsolation (a key 1.1.1 lacks)',
    kernel: 'host',
    config: conf('1.0.0', { portIsolation: true }),
    ours: { add: 'ok', 'port.isolated': 'on', check: 'ok' },
  },
  {
    name: 'promisc',
    title: 'promiscMode',
    kernel: 'host',
    config: conf('1.0.0', { promiscMode: true }),
    ours: { add: 'ok', 'bridge.promisc': 'on', check: 'ok' },
  },
  {
    name: 'promisc-and-hairpin',
    title: 'promiscMode together with hairpinMode (refused by both)',
    kernel: 'host',
    config: conf('1.0.0', { promiscMode: true, hairpinMode: true }),
    ours: { add: 'error 7', 'failed-add.leftover': 'none' },
  },
  {
    name: 'invalid-vlan',
    title: 'invalid config: vlan 5000',
    kernel: 'host',
    config: conf('1.0.0', { vlan: 5000 }),
    ours: { add: 'error 7', 'failed-add.leftover': 'none' },
  },
  {
    name: 'invalid-trunk-entry',
    title: 'invalid config: vlanTrunk [{"minID":5}] (no maxID)',
    kernel: 'host',
    config: conf('1.0.0', { vlanTrunk: [{ minID: 5 }] }),
    ours: { add: 'error 7', 'failed-add.leftover': 'none' },
  },
  {
    name: 'ifname-exists',
    title: 'ADD fails: CNI_IFNAME already exists in the pod',
    kernel: 'host',
    config: conf('1.0.0'),
    nodePrep: `ip link add ${BR} type bridge && ip link set ${BR} up`,
    podPrep: 'ip link add net1 type veth peer name other0',
    ours: { add: 'error 102', 'failed-add.leftover': 'none' },
  },
  {
    name: 'ipam-exhausted',
    title: 'ADD fails in IPAM: host-local range already full',
    kernel: 'host',
    config: conf('1.0.0', {
      ipam: {
        type: 'host-local',
        ranges: [[{ subnet: '10.77.0.0/24', rangeStart: '10.77.0.10', rangeEnd: '10.77.0.10' }]],
        dataDir: '@DATADIR@',
      },
    }),
    nodePrep: `ip link add ${BR} type bridge && ip link set ${BR} up`,
    ipamFiles: { 'parity/10.77.0.10': 'other-container\nnet1' },
    ours: { 'failed-add.leftover': 'none', 'failed-add.del': 'ok', 'failed-add.del-leftover': 'none' },
  },
  {
    name: 'l3-host-local',
    title: 'L3: host-local, isDefaultGateway (1.0.0)',
    kernel: 'host',
    config: conf('1.0.0', { isDefaultGateway: true, ipam: hostLocal }),
    ours: {
      add: 'ok',
      'result.ips': '10.77.0.2/24 gw 10.77.0.1 if 2',
      'l3.bridge': '10.77.0.1/24',
      'l3.pod-default': 'via 10.77.0.1',
      'l3.gateway-on': 'br-par',
      'l3.ping-gateway': 'reaches it',
      check: 'ok',
    },
  },
  {
    name: 'l3-existing-bridge',
    title: "L3: isGateway on an existing bridge with no port yet (the bridge's MAC)",
    kernel: 'host',
    config: conf('1.0.0', { isGateway: true, ipam: hostLocal }),
    nodePrep: `ip link add ${BR} type bridge && ip link set ${BR} up`,
    ours: { add: 'ok', 'l3.bridge': '10.77.0.1/24', 'l3.ping-gateway': 'reaches it', check: 'ok' },
  },
  {
    name: 'dns-from-config',
    title: "L3: the config's dns beside host-local's resolvConf (which one the result carries)",
    kernel: 'host',
    config: conf('1.0.0', {
      dns: { nameservers: ['10.77.0.53'], search: ['config.example'] },
      ipam: { ...hostLocal, resolvConf: '@DATADIR@/resolv.conf' },
    }),
    ipamFiles: { 'resolv.conf': 'nameserver 192.0.2.53\nsearch ipam.example\n' },
    ours: { add: 'ok', check: 'ok' },
  },
  {
    name: 'ipmasq-iptables',
    title: 'L3: isGateway, ipMasq with the default backend (iptables)',
    kernel: 'host',
    config: conf('1.0.0', { isGateway: true, ipMasq: true, ipam: hostLocal }),
    ours: { add: 'ok', check: 'ok', del: 'ok' },
  },
  {
    name: 'ipmasq-nftables',
    title: 'L3: isGateway, ipMasq, ipMasqBackend nftables (a key 1.1.1 lacks)',
    kernel: 'host',
    config: conf('1.0.0', { isGateway: true, ipMasq: true, ipMasqBackend: 'nftables', ipam: hostLocal }),
    ours: { add: 'ok', check: 'ok', del: 'ok' },
  },
  {
    name: 'macspoofchk',
    title: 'L2: macspoofchk with a requested MAC',
    kernel: 'host',
    config: conf('1.0.0', { macspoofchk: true, runtimeConfig: { mac: MAC } }),
    mac: MAC,
    ours: { add: 'ok', 'container.mac': 'requested', check: 'ok', del: 'ok' },
  },
  {
    name: 'disable-container-interface',
    title: 'L2: disableContainerInterface (a key 1.1.1 lacks)',
    kernel: 'host',
    config: conf('1.0.0', { disableContainerInterface: true }),
    ours: { add: 'ok', 'container.state': 'down', check: 'ok' },
  },
  {
    name: 'l2-1.1.0-gc',
    title: 'L2 at 1.1.0 (a version 1.1.1 lacks): STATUS, CHECK, then GC with no valid attachment',
    kernel: 'host',
    config: conf('1.1.0'),
    gc: true,
    ours: { add: 'ok', status: 'ok', check: 'ok', gc: 'ok', 'gc.leftover': 'none' },
  },

  // ---- user-mode Linux (bridge VLAN filtering) ----
  {
    name: 'harvester-untagged',
    title: 'Harvester untagged network on mgmt-br (0.3.1, no CHECK)',
    kernel: 'uml',
    config: nad('0.3.1'),
    nodePrep: HARVESTER_NODE,
    ours: { add: 'ok', 'port.vlans': '1 PVID untagged' },
  },
  {
    name: 'access-vlan-100',
    title: 'access vlan 100 on mgmt-br',
    kernel: 'uml',
    config: nad('1.0.0', { vlan: 100 }),
    nodePrep: HARVESTER_NODE,
    ours: { add: 'ok', 'port.vlans': '100 PVID untagged', check: 'ok' },
    bookworm: 'the VLAN 1 leak of Harvester issue #8816: VLAN 1 stays on the access port',
  },
  {
    name: 'vlan-100-preserve-default',
    title: 'vlan 100 with preserveDefaultVlan (a key 1.1.1 lacks)',
    kernel: 'uml',
    config: nad('1.0.0', { vlan: 100, preserveDefaultVlan: true }),
    nodePrep: HARVESTER_NODE,
    ours: { add: 'ok', 'port.vlans': '1 untagged, 100 PVID untagged', check: 'ok' },
  },
  {
    name: 'vlan-trunk',
    title: 'vlanTrunk 100-200 and 300, vlan 0 (a key 1.1.1 lacks)',
    kernel: 'uml',
    config: nad('1.0.0', { vlan: 0, vlanTrunk: [{ minID: 100, maxID: 200 }, { id: 300 }] }),
    nodePrep: HARVESTER_NODE,
    ours: { add: 'ok', 'port.vlans': '1 PVID untagged, 100-200, 300', check: 'ok' },
  },
  {
    name: 'harvester-trunk',
    title: 'Harvester trunk NAD: 0.3.1, promiscMode, vlan 0, vlanTrunk 66-88 (no CHECK)',
    kernel: 'uml',
    config: nad('0.3.1', { vlan: 0, vlanTrunk: [{ minID: 66, maxID: 88 }] }),
    nodePrep: HARVESTER_NODE,
    ours: { add: 'ok', 'port.vlans': '1 PVID untagged, 66-88' },
    bookworm: "a Harvester trunk NAD on a node with bookworm's plugins: 1.1.1 ignores vlanTrunk",
  },
  {
    name: 'trunk-native-vlan',
    title: 'vlanTrunk 100-200 and 300 with vlan 150 as native VLAN',
    kernel: 'uml',
    config: nad('1.0.0', { vlan: 150, vlanTrunk: [{ minID: 100, maxID: 200 }, { id: 300 }] }),
    nodePrep: HARVESTER_NODE,
    ours: { add: 'ok', 'port.vlans': '100-149, 150 PVID untagged, 151-200, 300', check: 'ok' },
  },
  {
    name: 'l3-gateway-vlan-100',
    title: 'L3 on vlan 100: host-local, isGateway, isDefaultGateway (1.0.0)',
    kernel: 'uml',
    config: nad('1.0.0', { vlan: 100, isGateway: true, isDefaultGateway: true, ipam: hostLocal }),
    nodePrep: HARVESTER_NODE,
    ours: {
      add: 'ok',
      'port.vlans': '100 PVID untagged',
      'l3.gateway-on': 'mgmt-br.100',
      'l3.ping-gateway': 'reaches it',
      check: 'ok',
    },
  },
  {
    name: 'vlan-new-bridge',
    title: 'vlan 100 with a bridge the plugin creates',
    kernel: 'uml',
    config: conf('1.0.0', { vlan: 100 }),
    ours: { add: 'ok', 'bridge.vlan_filtering': 'on', 'port.vlans': '100 PVID untagged' },
  },
  {
    name: 'empty-trunk-entry',
    title: 'vlanTrunk [{}]: an entry with neither id nor minID/maxID',
    kernel: 'uml',
    config: conf('1.0.0', { vlanTrunk: [{}] }),
    // Skipped, as the reference skips it (collectVlanTrunk): an untagged port, and a DEL that works after a takeover.
    ours: { add: 'ok', 'bridge.vlan_filtering': 'off', check: 'ok', 'del.leftover': 'none' },
  },
  {
    name: 'vlan-filtering-off',
    title: 'vlan 100 on an existing bridge whose VLAN filtering is off',
    kernel: 'uml',
    config: conf('1.0.0', { vlan: 100 }),
    nodePrep: `ip link add ${BR} type bridge vlan_filtering 0 && ip link set ${BR} up`,
    ours: { add: 'error 103', 'failed-add.leftover': 'none' },
  },
];
