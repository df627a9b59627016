// doctor's judgement: from a description of the node (links, VLANs per port, which namespaces are still lived in)
// to a report and its findings. Pure: doctor-read.ts gathers the description, doctor-render.ts prints the report.
import type { Link, VlanRange } from '../kernel/index.js';
import { isGatewayLink, parseAlias } from '../plugin/attachment.js';
import { inheritedMtu, isUplink } from '../plugin/uplink.js';
import { vlanFiltering, vlanFlagsByVid } from '../plugin/vlans.js';
import { PROBE_ALIAS_PREFIX } from './probe.js';
import { formatVids } from '../vids.js';

export interface NodeSnapshot {
  links: Link[];
  /** Bridge VLAN entries by ifindex: ports, and bridges' own entries under the bridge's index. */
  vlans: Map<number, VlanRange[]>;
  /** Namespace ids (as this namespace numbers them) that a process lives in or a mount point holds; null: unknown. */
  liveNsids: Set<number> | null;
  /** The pids named by discover probes' aliases that are running. */
  livePids: Set<number>;
  /**
   * By bridge name: per uplink ifindex, the VIDs vlan-bridge added with `uplinkVlans` and manages (its record,
   * reconciled with the kernel: plugin/uplink-vlans/plan.ts). Absent for a bridge without a record.
   */
  managedVids?: Map<string, Map<number, number[]>>;
}

export type Severity = 'error' | 'warning';

export interface Finding {
  severity: Severity;
  code: string;
  bridge?: string;
  port?: string;
  message: string;
}

export interface PortReport {
  name: string;
  kind: string;
  mtu: number;
  up: boolean;
  carrier: boolean;
  vlans: VlanRange[];
  /** For an uplink: the VIDs on it that vlan-bridge added (uplinkVlans) and removes when no pod uses them. */
  managedVids?: number[];
}

export interface PodReport extends PortReport {
  /**
   * 'vlan-bridge': the port carries vlan-bridge's label (plugin/attachment.ts), and the attachment below is read
   * from it. 'unlabelled': a veth on the bridge with no alias whose peer is in another namespace: a pod attached by
   * the reference bridge plugin (which labels nothing) before vlan-bridge took the node over, or by another plugin;
   * its network, container ID and ifname are unknown ('').
   */
  madeBy: 'vlan-bridge' | 'unlabelled';
  network: string;
  containerId: string;
  ifname: string;
  /** The pod namespace's id here (IFLA_LINK_NETNSID), null when the veth reports none. */
  peerNetnsId: number | null;
  namespace: 'alive' | 'gone' | 'unknown';
}

export interface ProbeReport extends PortReport {
  pid: number;
  running: boolean;
}

export interface BridgeReport {
  name: string;
  mtu: number;
  up: boolean;
  vlanFiltering: boolean;
  /** 0: none (ports get no VLAN when they join). */
  defaultPvid: number;
  /** The bridge's own VLAN entries (towards the host). */
  vlans: VlanRange[];
  uplinks: PortReport[];
  pods: PodReport[];
  probes: ProbeReport[];
  /** The bridge ends of `<bridge>.<vlan>` gateway pairs (isGateway with vlan): the network's way to the node. */
  gateways: PortReport[];
  /** Other ports: veths of something else, tun/tap devices (a VM's, not a way out of the node). */
  otherPorts: PortReport[];
}

export interface Report {
  bridges: BridgeReport[];
  /** Pod veths (by alias) attached to no bridge. */
  unattached: PodReport[];
  findings: Finding[];
  /** What could not be checked, and why. */
  notes: string[];
  summary: { errors: number; warnings: number };
}

function port(l: Link, vlans: Map<number, VlanRange[]>): PortReport {
  return {
    name: l.name,
    kind: l.kind ?? 'device',
    mtu: l.mtu,
    up: l.up,
    carrier: l.lowerUp,
    vlans: vlans.get(l.index) ?? [],
  };
}

/**
 * The pod a port is the host end of, or null: a veth with our label (not the gateway's), or, on a bridge
 * (`onBridge`), an unlabelled veth whose peer is in another namespace (PodReport.madeBy).
 */
function pod(l: Link, s: NodeSnapshot, onBridge: boolean): PodReport | null {
  if (l.kind !== 'veth') return null;
  const a = parseAlias(l.alias);
  const unlabelled = !a && onBridge && l.alias === undefined && l.linkNetnsId !== undefined;
  if ((!a && !unlabelled) || (a && isGatewayLink(a, l.linkNetnsId !== undefined))) return null;
  const id = l.linkNetnsId ?? null;
  let namespace: PodReport['namespace'] = 'unknown';
  if (l.peerIndex === undefined) namespace = 'gone';
  else if (id !== null && s.liveNsids) namespace = s.liveNsids.has(id) ? 'alive' : 'gone';
  return {
    ...port(l, s.vlans),
    madeBy: a ? 'vlan-bridge' : 'unlabelled',
    network: a?.network ?? '',
    containerId: a?.containerId ?? '',
    ifname: a?.ifname ?? '',
    peerNetnsId: id,
    namespace,
  };
}

/**
 * The bridge end of a VLAN gateway pair: our alias with the gateway mark (plugin/attachment.ts), its peer on the host.
 */
function isGatewayPort(l: Link): boolean {
  const a = parseAlias(l.alias);
  return a !== null && isGatewayLink(a, l.linkNetnsId !== undefined);
}

/** How findings and the table name a pod's attachment. */
export const attachmentText = (p: PodReport): string =>
  p.madeBy === 'vlan-bridge' ? `${p.network}/${p.containerId}/${p.ifname}` : 'unlabelled: reference plugin or other';

const who = (p: PodReport) => `${p.name} (${attachmentText(p)})`;

/** Findings on one pod port that hold wherever it is attached. */
function podHealth(p: PodReport, bridge: string | undefined, add: (f: Finding) => void): void {
  const at = { ...(bridge ? { bridge } : {}), port: p.name };
  if (p.namespace === 'gone') {
    add({
      severity: 'warning',
      code: 'namespace-gone',
      ...at,
      message: `${who(p)}: the pod's network namespace ${p.peerNetnsId === null ? 'is unknown (no peer)' : `(id ${p.peerNetnsId}) has no process and no mount point left`}: a GC candidate`,
    });
  } else if (!p.up) {
    add({ severity: 'warning', code: 'port-down', ...at, message: `${who(p)} is down on the host side` });
  } else if (!p.carrier) {
    add({
      severity: 'warning',
      code: 'carrier-down',
      ...at,
      message: `${who(p)} has no carrier: the pod's side is down (a stopped pod, a GC candidate, or disableContainerInterface)`,
    });
  }
}

type Add = (f: Finding) => void;

/** The bridge and its uplinks up, and an uplink at all when it has pods. */
function checkLinks(b: BridgeReport, add: Add): void {
  const at = { bridge: b.name };
  if (!b.up) add({ severity: 'error', code: 'bridge-down', ...at, message: `bridge ${b.name} is down` });
  for (const u of b.uplinks) {
    if (!u.up || !u.carrier)
      add({
        severity: 'error',
        code: 'uplink-down',
        ...at,
        port: u.name,
        message: `uplink ${u.name} is ${u.up ? 'without carrier' : 'down'}: traffic to and from the network stops here`,
      });
  }
  if (b.pods.length > 0 && b.uplinks.length === 0) {
    add({
      severity: 'warning',
      code: 'no-uplink',
      ...at,
      message: `bridge ${b.name} has pods but no uplink: their traffic never leaves this node`,
    });
  }
}

/**
 * One pod port's VLANs on a filtering bridge: it carries some, has a native VLAN, leaks no default VLAN, and each
 * of its VLANs reaches an uplink (`carried`). Returns whether the pod is on the untagged network (PVID = `native`).
 */
function checkPodVlans(p: PodReport, b: BridgeReport, carried: (vid: number) => boolean, add: Add): boolean {
  const at = { bridge: b.name };
  const native = b.defaultPvid;
  const vids = vlanFlagsByVid(p.vlans);
  if (vids.size === 0) {
    add({
      severity: 'error',
      code: 'no-vlan',
      ...at,
      port: p.name,
      message: `${who(p)} carries no VLAN: the bridge drops everything it sends`,
    });
    return false;
  }
  const pvid = [...vids].find(([, f]) => f.pvid)?.[0];
  if (pvid === undefined) {
    // Every port vlan-bridge makes has a native VLAN: `vlan`, or VID 1 on a trunk (src/plugin/vlans.ts), as the
    // reference since v1.8.0 except where `vlan` lies inside a trunk range (it re-adds it tagged). Without one,
    // the VM's untagged frames are dropped at the port.
    add({
      severity: 'warning',
      code: 'no-native-vlan',
      ...at,
      port: p.name,
      message: `${who(p)} carries VLAN ${formatVids(vids.keys())} tagged but has no PVID: untagged frames from the pod are dropped (a trunk made before native VLAN 1; re-create the pod)`,
    });
  }
  if (native && pvid !== native && vids.get(native)?.untagged) {
    // A warning, not an error: preserveDefaultVlan asks for exactly this, and doctor cannot see the config.
    // The reference's leak (v1.1.1; v1.5.0-v1.7.1 by default; later ones with preserveDefaultVlan): the port keeps
    // the default VLAN egress-untagged after its PVID moved to the pod's VLAN, so the uplink's untagged frames reach
    // the pod untagged. The default VLAN carried tagged is a trunk member the network asked for, not a leak.
    const others = [...vids.keys()].filter((v) => v !== native);
    add({
      severity: 'warning',
      code: 'vlan1-leak',
      ...at,
      port: p.name,
      message: `${who(p)} carries VLAN ${native} egress-untagged next to VLAN ${formatVids(others)}: untagged frames from the uplink reach this VLAN pod (unless its network sets preserveDefaultVlan on purpose)`,
    });
  }
  if (b.uplinks.length > 0) {
    const missing = [...vids.keys()].filter((v) => v !== native && !carried(v));
    if (missing.length) {
      add({
        severity: 'error',
        code: 'vlan-not-on-uplink',
        ...at,
        port: p.name,
        message: `${who(p)} is on VLAN ${formatVids(missing)}, which no uplink of ${b.name} carries: that traffic goes nowhere`,
      });
    }
  }
  return native !== 0 && pvid === native;
}

/**
 * The VLANs of the bridge's ports (meaningful only with VLAN filtering): with filtering off, a pod's VLANs isolate
 * nothing; with it on, every pod's VLANs must reach an uplink, and the untagged network needs an untagged uplink.
 */
function checkVlans(b: BridgeReport, add: Add): void {
  const at = { bridge: b.name };
  // `native` is the bridge's default PVID, the VLAN a port joins untagged when it is added (0: none).
  const native = b.defaultPvid;
  if (!b.vlanFiltering) {
    const tagged = b.pods.filter((p) => [...vlanFlagsByVid(p.vlans).keys()].some((v) => v !== native));
    if (tagged.length) {
      add({
        severity: 'error',
        code: 'vlan-filtering-off',
        ...at,
        message: `bridge ${b.name} has VLAN filtering off, so the VLANs of ${tagged.map((p) => p.name).join(', ')} isolate nothing`,
      });
    }
    return;
  }
  const uplinkVids = b.uplinks.map((u) => vlanFlagsByVid(u.vlans));
  const selfVids = vlanFlagsByVid(b.vlans);
  // A VLAN goes somewhere when an uplink carries it, a `<bridge>.<vlan>` gateway port does (isGateway with vlan),
  // or the bridge itself does (an address on an 802.1q `<bridge>.<vid>` device), for a VLAN other than its default
  // one, which every bridge has.
  const gatewayVids = b.gateways.map((g) => vlanFlagsByVid(g.vlans));
  const carried = (v: number) =>
    uplinkVids.some((m) => m.has(v)) || (v !== native && (selfVids.has(v) || gatewayVids.some((m) => m.has(v))));
  const untaggedPods = b.pods.filter((p) => checkPodVlans(p, b, carried, add));
  // Untagged traffic flows both ways only through an uplink that takes untagged frames into the default VLAN
  // (PVID) and sends that VLAN out untagged.
  if (
    untaggedPods.length &&
    b.uplinks.length > 0 &&
    !uplinkVids.some((m) => m.get(native)?.untagged && m.get(native)?.pvid)
  ) {
    add({
      severity: 'error',
      code: 'untagged-no-native',
      ...at,
      message: `${untaggedPods.map(who).join(', ')} ${untaggedPods.length === 1 ? 'is' : 'are'} on the untagged network (VLAN ${native}), but no uplink of ${b.name} has VLAN ${native} as its PVID, egress untagged`,
    });
  }
}

/** MTU: the uplink is the reference (it is what the wire takes), else the bridge (uplink.ts, the one rule). */
function checkMtu(b: BridgeReport, add: Add): void {
  const at = { bridge: b.name };
  if (b.uplinks.length) {
    const mtus = [...new Set(b.uplinks.map((u) => u.mtu))];
    if (mtus.length > 1)
      add({
        severity: 'warning',
        code: 'mtu-mismatch',
        ...at,
        message: `uplinks of ${b.name} differ in MTU: ${b.uplinks.map((u) => `${u.name} ${u.mtu}`).join(', ')}`,
      });
  }
  const ref = inheritedMtu(b, b.uplinks);
  const refName = b.uplinks.length ? `the uplink's ${ref}` : `the bridge's ${ref}`;
  if (b.uplinks.length && b.mtu !== ref) {
    add(
      b.mtu > ref
        ? {
            severity: 'error',
            code: 'mtu-mismatch',
            ...at,
            message: `bridge ${b.name} MTU ${b.mtu} is above ${refName}: larger frames are dropped on the way out`,
          }
        : {
            severity: 'warning',
            code: 'mtu-mismatch',
            ...at,
            message: `bridge ${b.name} MTU ${b.mtu} is below ${refName}: a port or a setting holds it down`,
          },
    );
  }
  for (const p of b.pods) {
    if (p.mtu > ref)
      add({
        severity: 'error',
        code: 'mtu-mismatch',
        ...at,
        port: p.name,
        message: `${who(p)} MTU ${p.mtu} is above ${refName}: larger frames from the pod are dropped`,
      });
    else if (p.mtu < ref)
      add({
        severity: 'warning',
        code: 'mtu-mismatch',
        ...at,
        port: p.name,
        message: `${who(p)} MTU ${p.mtu} is below ${refName}`,
      });
  }
}

function checkBridge(b: BridgeReport, add: Add): void {
  const at = { bridge: b.name };
  checkLinks(b, add);
  checkVlans(b, add);
  checkMtu(b, add);
  for (const p of b.pods) podHealth(p, b.name, add);
  for (const pr of b.probes) {
    if (!pr.running)
      add({
        severity: 'warning',
        code: 'stale-probe',
        ...at,
        port: pr.name,
        message: `${pr.name} is a discover probe of process ${pr.pid}, which is gone: delete it`,
      });
  }
}

export function diagnose(s: NodeSnapshot, only?: string): Report {
  const byIndex = new Map(s.links.map((l) => [l.index, l]));
  const bridges: BridgeReport[] = [];
  for (const br of s.links
    .filter((l) => l.kind === 'bridge' && (!only || l.name === only))
    .sort((a, b) => a.name.localeCompare(b.name))) {
    const b: BridgeReport = {
      name: br.name,
      mtu: br.mtu,
      up: br.up,
      vlanFiltering: vlanFiltering(br) === 'on',
      defaultPvid: br.bridge?.defaultPvid ?? 1,
      vlans: s.vlans.get(br.index) ?? [],
      uplinks: [],
      pods: [],
      probes: [],
      gateways: [],
      otherPorts: [],
    };
    for (const l of s.links.filter((x) => x.master === br.index).sort((a, c) => a.name.localeCompare(c.name))) {
      const p = pod(l, s, true);
      if (p) b.pods.push(p);
      else if (l.kind === 'veth' && l.alias?.startsWith(PROBE_ALIAS_PREFIX)) {
        const pid = Number(l.alias.slice(PROBE_ALIAS_PREFIX.length));
        b.probes.push({ ...port(l, s.vlans), pid, running: s.livePids.has(pid) });
      } else if (l.kind === 'veth' && isGatewayPort(l)) b.gateways.push(port(l, s.vlans));
      else if (isUplink(l)) {
        const managed = s.managedVids?.get(br.name)?.get(l.index);
        b.uplinks.push({ ...port(l, s.vlans), ...(managed?.length ? { managedVids: managed } : {}) });
      } else b.otherPorts.push(port(l, s.vlans)); // other veths; VMs' taps
    }
    bridges.push(b);
  }
  const unattached = only
    ? []
    : s.links
        .filter((l) => !l.master || byIndex.get(l.master)?.kind !== 'bridge')
        .map((l) => pod(l, s, false))
        .filter((p): p is PodReport => p !== null);

  const findings: Finding[] = [];
  const add = (f: Finding) => findings.push(f);
  for (const b of bridges) checkBridge(b, add);
  for (const p of unattached) {
    add({
      severity: 'warning',
      code: 'not-on-bridge',
      port: p.name,
      message: `${who(p)} is attached to no bridge: a GC candidate`,
    });
    podHealth(p, undefined, add);
  }
  // Errors first, otherwise in the order found (bridges and ports by name).
  findings.sort((a, b) => (a.severity === b.severity ? 0 : a.severity === 'error' ? -1 : 1));
  const errors = findings.filter((f) => f.severity === 'error').length;
  const notes = s.liveNsids
    ? []
    : ["pods' namespaces not checked: doctor cannot see every process here (run it in the host's PID namespace)"];
  return { bridges, unattached, findings, notes, summary: { errors, warnings: findings.length - errors } };
}
