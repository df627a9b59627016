// A Harvester-like node and the switch it is cabled to, built inside two namespaces of a kernel that has bridge
// VLAN filtering, 802.1q and bonding (the UML guest; the host kernel has none of them). REFERENCE.md section 3.
//
//   node namespace                                          switch namespace
//   mgmt-br (vlan_filtering 1, promisc)                     sw-br (plain bridge: passes tags through)
//     └─ mgmt-bo (active-backup, miimon 100)                  ├─ sw-p0 ── veth ── mgmt-nic0
//          ├─ mgmt-nic0 ─────────────────────────────────────┤
//          └─ mgmt-nic1 ─────────────────────────────────────└─ sw-p1 ── veth ── mgmt-nic1
//     mgmt-bo carries 1 PVID untagged, 100 and 200 tagged     sw-br      10.1.0.1/24   untagged side
//                                                             sw-br.100  10.100.0.1/24 802.1q VLAN 100
//                                                             sw-br.200  10.200.0.1/24 802.1q VLAN 200
//
// One dnsmasq DHCP server per switch-side network, each bound to its own interface with its own range and router
// option, logging every DHCP exchange to its own file (so a test can tell which server saw a client).
// Pods are not made here: attach them to `mgmt-br` with the plugin. IPv6 is off in both namespaces so that
// captures on pods see only the traffic a test sends (no router solicitations, MLD or DAD from the bridge).
// No vitest in here: `make demo` uses it too.
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestNs } from '../host/netns-fixture.js';

export const BRIDGE = 'mgmt-br';
export const BOND = 'mgmt-bo';
/** Node-side NICs (bond slaves) and the switch ports at their other ends, in the same order. */
export const NICS = ['mgmt-nic0', 'mgmt-nic1'] as const;
export const SWITCH_PORTS = ['sw-p0', 'sw-p1'] as const;
export const SWITCH_BRIDGE = 'sw-br';

export interface SwitchNet {
  /** `untagged`, `vlan100` or `vlan200` (the names of the conf-examples networks). */
  name: string;
  /** 802.1q VID, or null for the untagged side (VLAN 1 on the node's bond). */
  vid: number | null;
  /** The switch interface holding the gateway address and the DHCP server. */
  dev: string;
  /** Gateway address, e.g. 10.100.0.1. */
  gateway: string;
  prefixLen: number;
  /** First three octets, e.g. `10.100.0`. */
  prefix: string;
  /** DHCP pool, last octets inclusive. */
  pool: [number, number];
  leaseFile: string;
  logFile: string;
  pidFile: string;
}

export interface HarvesterNodeOptions {
  /** MTU of the NICs, the bond, the bridge and of everything on the switch side (default 1500). */
  mtu?: number;
  /** Where dnsmasq keeps leases, logs and pid files (default: a new dir under UML_WORK_DIR or the tmp dir). */
  workDir?: string;
  /** Start the DHCP servers (default true). */
  dhcp?: boolean;
  /** VIDs the bond carries tagged besides 1 PVID untagged, as Harvester's controller sets them (default 100, 200). */
  bondVids?: number[];
  /** More 802.1q networks on the switch: each VID gets `sw-br.<vid>` with 10.<n>.0.1/24, n = vid / 10 (no DHCP). */
  extraSwitchVids?: number[];
}

export interface HarvesterNode {
  node: TestNs;
  sw: TestNs;
  mtu: number;
  workDir: string;
  /** By name: `untagged`, `vlan100`, `vlan200`. */
  nets: Record<'untagged' | 'vlan100' | 'vlan200', SwitchNet>;
  /** The bond's active slave, as the kernel reports it (`ip -d link`), or undefined when it has none. */
  activeSlave(): string | undefined;
  /** The switch port cabled to a node NIC. */
  switchPortOf(nic: string): string;
  /** Everything a DHCP server logged so far (its log file). */
  dhcpLog(net: keyof HarvesterNode['nets']): string;
  /** Stops the DHCP servers (idempotent). The namespaces are the caller's to delete. */
  cleanup(): void;
}

const NETS: Array<Pick<SwitchNet, 'name' | 'vid' | 'dev' | 'prefix'>> = [
  { name: 'untagged', vid: null, dev: SWITCH_BRIDGE, prefix: '10.1.0' },
  { name: 'vlan100', vid: 100, dev: `${SWITCH_BRIDGE}.100`, prefix: '10.100.0' },
  { name: 'vlan200', vid: 200, dev: `${SWITCH_BRIDGE}.200`, prefix: '10.200.0' },
];

function sh(ns: TestNs, script: string): void {
  // One shell per step: each process spawned costs ~0.1 s inside the UML guest.
  ns.exec('sh', '-ec', script);
}

function killPidFile(pidFile: string): void {
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 1) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    // already gone
  }
}

/** Builds the node side in `node` and the switch side in `sw` (both fresh namespaces, e.g. from makeNetns). */
export function buildHarvesterNode(node: TestNs, sw: TestNs, opts: HarvesterNodeOptions = {}): HarvesterNode {
  const mtu = opts.mtu ?? 1500;
  const workDir = opts.workDir ?? mkdtempSync(path.join(process.env.UML_WORK_DIR ?? os.tmpdir(), 'harvester-node-'));
  const noIpv6 = 'sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1';

  // Node: the cables first (their switch ends land in the switch namespace), then bond, bridge and VLANs the way
  // Harvester's network controller sets them up.
  sh(
    node,
    `
    ${noIpv6}
    ip link add ${NICS[0]} mtu ${mtu} type veth peer name ${SWITCH_PORTS[0]} mtu ${mtu} netns ${sw.name}
    ip link add ${NICS[1]} mtu ${mtu} type veth peer name ${SWITCH_PORTS[1]} mtu ${mtu} netns ${sw.name}
    ip link add ${BRIDGE} type bridge vlan_filtering 1
    ip link add ${BOND} type bond mode active-backup miimon 100
    ip link set ${NICS[0]} master ${BOND}
    ip link set ${NICS[1]} master ${BOND}
    ip link set ${BOND} mtu ${mtu}
    ip link set ${BOND} master ${BRIDGE}
    ip link set ${BRIDGE} mtu ${mtu}
    ip link set ${BRIDGE} promisc on
    for l in ${NICS.join(' ')} ${BOND} ${BRIDGE}; do ip link set "$l" up; done
    bridge vlan add dev ${BOND} vid 1 pvid untagged master
    ${(opts.bondVids ?? [100, 200]).map((v) => `bridge vlan add dev ${BOND} vid ${v} master`).join('\n')}`,
  );

  const nets = {} as HarvesterNode['nets'];
  for (const n of NETS) {
    nets[n.name as keyof HarvesterNode['nets']] = {
      ...n,
      gateway: `${n.prefix}.1`,
      prefixLen: 24,
      pool: [50, 99],
      leaseFile: path.join(workDir, `${n.name}.leases`),
      logFile: path.join(workDir, `${n.name}.log`),
      pidFile: path.join(workDir, `${n.name}.pid`),
    };
  }

  // Switch: a plain bridge joining both cables (a VLAN-unaware switch passes tagged frames through), 802.1q
  // subinterfaces on it for 100 and 200, and the untagged network on the bridge itself.
  const list = Object.values(nets);
  sh(
    sw,
    `
    ${noIpv6}
    ip link add ${SWITCH_BRIDGE} mtu ${mtu} type bridge
    ip link set ${SWITCH_PORTS[0]} master ${SWITCH_BRIDGE}
    ip link set ${SWITCH_PORTS[1]} master ${SWITCH_BRIDGE}
    ip link set ${SWITCH_BRIDGE} mtu ${mtu}
    ${list
      .filter((n) => n.vid !== null)
      .map((n) => `ip link add link ${SWITCH_BRIDGE} name ${n.dev} mtu ${mtu} type vlan id ${n.vid}`)
      .join('\n')}
    for l in ${SWITCH_PORTS.join(' ')} ${list.map((n) => n.dev).join(' ')}; do ip link set "$l" up; done
    ${list.map((n) => `ip addr add ${n.gateway}/${n.prefixLen} dev ${n.dev}`).join('\n')}
    ${(opts.extraSwitchVids ?? [])
      .map((v) =>
        [
          `ip link add link ${SWITCH_BRIDGE} name ${SWITCH_BRIDGE}.${v} mtu ${mtu} type vlan id ${v}`,
          `ip addr add 10.${v / 10}.0.1/24 dev ${SWITCH_BRIDGE}.${v}`,
          `ip link set ${SWITCH_BRIDGE}.${v} up`,
        ].join('\n'),
      )
      .join('\n')}`,
  );

  const handle: HarvesterNode = {
    node,
    sw,
    mtu,
    workDir,
    nets,
    activeSlave() {
      const [bond] = node.ipj<any[]>('link', 'show', BOND);
      return bond?.linkinfo?.info_data?.active_slave ?? undefined;
    },
    switchPortOf(nic) {
      const i = (NICS as readonly string[]).indexOf(nic);
      if (i < 0) throw new Error(`${nic} is not one of ${NICS.join(', ')}`);
      return SWITCH_PORTS[i]!;
    },
    dhcpLog(net) {
      const f = nets[net].logFile;
      return existsSync(f) ? readFileSync(f, 'utf8') : '';
    },
    cleanup() {
      for (const n of list) killPidFile(n.pidFile);
    },
  };

  if (opts.dhcp ?? true) {
    try {
      // dnsmasq daemonizes only once its sockets are bound (its parent reports startup errors), so a server is
      // ready when this returns. --no-ping: by default dnsmasq pings an address for 3 s before offering it.
      sh(
        sw,
        list
          .map((n) =>
            [
              'dnsmasq --conf-file=/dev/null --port=0 --bind-interfaces --except-interface=lo',
              `--interface=${n.dev} --dhcp-range=${n.prefix}.${n.pool[0]},${n.prefix}.${n.pool[1]},255.255.255.0,1h`,
              `--dhcp-option=option:router,${n.gateway} --no-ping --dhcp-authoritative`,
              `--dhcp-leasefile=${n.leaseFile} --pid-file=${n.pidFile} --log-dhcp --log-facility=${n.logFile}`,
              '--user=root --group=root',
            ].join(' '),
          )
          .join('\n'),
      );
      for (const n of list) {
        if (!existsSync(n.pidFile)) throw new Error(`dnsmasq for ${n.name} wrote no pid file ${n.pidFile}`);
      }
    } catch (e) {
      handle.cleanup();
      throw e;
    }
  }
  return handle;
}

/**
 * busybox udhcpc's command line for one lease on `dev` from the node's servers, as the demo takes it: in the
 * foreground (-f), quitting once bound (-q) or failing when no server answers (-n), 4 DISCOVERs 1 s apart, with
 * `script` called on each event (udhcpc sets $ip, $mask, $router, $serverid... in its environment).
 */
export const udhcpc = (dev: string, script: string): string[] => [
  'busybox',
  'udhcpc',
  '-i',
  dev,
  '-f',
  '-q',
  '-n',
  '-t',
  '4',
  '-T',
  '1',
  '-s',
  script,
];
