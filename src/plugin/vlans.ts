// Which VLANs a pod's host port carries: the one file that decides it. The rule is the reference bridge plugin's
// (containernetworking/plugins plugins/main/bridge/bridge.go `setupVeth`, read at tags v1.8.0 and v1.9.1):
//
// - access `vlan: N`            -> N PVID untagged; with preserveDefaultVlan the port also keeps what it had
//                                  (the bridge's default VLAN 1, which loses PVID to N), else nothing else:
//                                  no VLAN 1 leak (Harvester issue #8816; the reference's default since v1.8.0).
// - trunk `vlanTrunk`           -> the ranges tagged, as few entries as ranges allow, plus a native VLAN (PVID,
//                                  egress untagged): `vlan` when set, else VID 1 whatever preserveDefaultVlan says
//                                  (the reference since v1.8.0: "If no vlan is specified, we set the native vlan on
//                                  the trunk equal to 1"; a Harvester trunk port reads `1 PVID Egress Untagged`).
//                                  preserveDefaultVlan only decides whether what the port had is kept besides.
//                                  Where the native VLAN lies inside a trunk range it stays native here; the
//                                  reference re-adds it tagged after making it native, which leaves the port with
//                                  no PVID at all (docs/parity.md, "trunk-native-vlan").
// - neither (untagged network)  -> left as the bridge made it: its default PVID, untagged.
import type { VlanIntent } from '../cni/config.js';
import { addVlans, delVlans, portVlans, type Link, type NetlinkSocket, type VlanRange } from '../kernel/index.js';

export interface VlanPlan {
  /** VLANs to remove from the port first (what it already had, unless preserved). */
  remove: VlanRange[];
  /** VLANs to add, in one request. */
  add: VlanRange[];
}

/** Whether the port carries VLANs of its own (access or trunk); false for the untagged network. */
export const usesVlans = (c: VlanIntent): boolean => c.vlan !== 0 || c.trunkRanges.length > 0;

/** The native VLAN of a trunk that names no `vlan` (bridge.go `setupVeth`, v1.8.0 and later). */
export const TRUNK_DEFAULT_NATIVE_VID = 1;

/**
 * The port's native VLAN (PVID, egress untagged): `vlan`, else VID 1 on a trunk, else 0 (the untagged network,
 * whose port keeps the bridge's default PVID).
 */
export function nativeVid(c: VlanIntent): number {
  if (c.vlan !== 0) return c.vlan;
  return c.trunkRanges.length > 0 ? TRUNK_DEFAULT_NATIVE_VID : 0;
}

/** The VIDs a pod's port carries by its config (sorted): the access VLAN, or a trunk's ranges and native VLAN. */
export function podVids(c: VlanIntent): number[] {
  if (!usesVlans(c)) return [];
  return [...vlanFlagsByVid(planPortVlans(c, []).add).keys()].sort((a, b) => a - b);
}

/**
 * The plan for a fresh port that currently carries `current` (the bridge's defaults, as `portVlans` reads them):
 * what to delete, then what to add, in VID ranges (1-4094). Pure; throws nothing.
 */
export function planPortVlans(c: VlanIntent, current: readonly VlanRange[]): VlanPlan {
  if (!usesVlans(c)) return { remove: [], add: [] };
  const remove = c.preserveDefaultVlan ? [] : current.map(({ min, max }) => ({ min, max }));
  const add: VlanRange[] = c.trunkRanges.map(([min, max]) => ({ min, max }));
  const native = nativeVid(c);
  // The native/access VLAN wins over a trunk range that contains it: drop it from the tagged ranges.
  const tagged = add.flatMap((r) => splitOut(r, native));
  return { remove, add: [...tagged, { min: native, max: native, pvid: true, untagged: true }] };
}

function splitOut(r: VlanRange, vid: number): VlanRange[] {
  if (vid < r.min || vid > r.max) return [r];
  const out: VlanRange[] = [];
  if (r.min < vid) out.push({ min: r.min, max: vid - 1 });
  if (vid < r.max) out.push({ min: vid + 1, max: r.max });
  return out;
}

/** Expand ranges into per-VID entries keyed by VID (for comparisons). */
export function vlanFlagsByVid(ranges: readonly VlanRange[]): Map<number, { pvid: boolean; untagged: boolean }> {
  const m = new Map<number, { pvid: boolean; untagged: boolean }>();
  for (const r of ranges) for (let v = r.min; v <= r.max; v++) m.set(v, { pvid: !!r.pvid, untagged: !!r.untagged });
  return m;
}

/** Compress per-VID entries back into ranges of equal flags. */
function compress(m: Map<number, { pvid: boolean; untagged: boolean }>): VlanRange[] {
  const out: VlanRange[] = [];
  for (const vid of [...m.keys()].sort((a, b) => a - b)) {
    const f = m.get(vid)!;
    const last = out[out.length - 1];
    if (last && last.max === vid - 1 && !last.pvid && !f.pvid && !!last.untagged === f.untagged) last.max = vid;
    else out.push({ min: vid, max: vid, pvid: f.pvid, untagged: f.untagged });
  }
  return out;
}

/** What the port must carry after the plan ran on a port that had `initial` (used by CHECK). */
export function expectedPortVlans(c: VlanIntent, initial: readonly VlanRange[]): VlanRange[] {
  const plan = planPortVlans(c, initial);
  const m = vlanFlagsByVid(initial);
  for (const v of vlanFlagsByVid(plan.remove).keys()) m.delete(v);
  const added = vlanFlagsByVid(plan.add);
  if ([...added.values()].some((f) => f.pvid)) for (const f of m.values()) f.pvid = false;
  for (const [v, f] of added) m.set(v, f);
  return compress(m);
}

/** Normalize a dump for comparison (same compression as expectedPortVlans). */
export function normalizeVlans(ranges: readonly VlanRange[]): VlanRange[] {
  return compress(vlanFlagsByVid(ranges));
}

/**
 * Applies the rule to a port (a pod's fresh host veth, a gateway or probe veth): reads what it carries, removes that
 * unless preserved (`current`: what the caller read already), and adds the plan in one request. Throws
 * KernelError from the kernel layer.
 */
export function applyPortVlans(
  sock: NetlinkSocket,
  index: number,
  intent: VlanIntent,
  current: readonly VlanRange[] = portVlans(sock, index),
): void {
  const plan = planPortVlans(intent, current);
  delVlans(sock, index, plan.remove);
  addVlans(sock, index, plan.add);
}

/**
 * Whether bridge `br` filters VLANs: 'on', 'off', or 'unsupported' when the kernel has no bridge VLAN filtering
 * (CONFIG_BRIDGE_VLAN_FILTERING; see Link.bridge.vlanFilteringSupported). The plugin, discover and doctor ask here.
 */
export function vlanFiltering(br: Link): 'on' | 'off' | 'unsupported' {
  if (br.bridge?.vlanFiltering) return 'on';
  return br.bridge?.vlanFilteringSupported ? 'off' : 'unsupported';
}
