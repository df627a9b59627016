// Which VLANs a pod's host port carries: the one file that decides it.
//
// - access `vlan: N`            -> N PVID untagged; with preserveDefaultVlan the port also keeps what it had
//                                  (the bridge's default VLAN 1, which loses PVID to N), else nothing else:
//                                  no VLAN 1 leak (Harvester issue #8816, reference plugin >= 1.8.0).
// - trunk `vlanTrunk`           -> the ranges tagged, as few entries as ranges allow; native VLAN `vlan` if set
//                                  (PVID untagged), else VLAN 1 PVID untagged only with preserveDefaultVlan
//                                  (it is the default VLAN being preserved), else no native VLAN.
// - neither (untagged network)  -> left as the bridge made it: its default PVID, untagged.
import type { VlanRange } from '../kernel/index.js';

export interface VlanIntent {
  vlan: number;
  trunkRanges: Array<[number, number]>;
  preserveDefaultVlan: boolean;
}

export interface VlanPlan {
  /** VLANs to remove from the port first (what it already had, unless preserved). */
  remove: VlanRange[];
  /** VLANs to add, in one request. */
  add: VlanRange[];
}

export const usesVlans = (c: VlanIntent): boolean => c.vlan !== 0 || c.trunkRanges.length > 0;

/** The plan for a fresh port that currently carries `current` (the bridge's defaults). */
export function planPortVlans(c: VlanIntent, current: readonly VlanRange[]): VlanPlan {
  if (!usesVlans(c)) return { remove: [], add: [] };
  const remove = c.preserveDefaultVlan ? [] : current.map(({ min, max }) => ({ min, max }));
  const add: VlanRange[] = c.trunkRanges.map(([min, max]) => ({ min, max }));
  if (c.vlan !== 0) {
    // The native/access VLAN wins over a trunk range that contains it: drop it from the tagged ranges.
    const tagged = add.flatMap((r) => splitOut(r, c.vlan));
    add.length = 0;
    add.push(...tagged, { min: c.vlan, max: c.vlan, pvid: true, untagged: true });
  }
  return { remove, add };
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

export function formatVlans(ranges: readonly VlanRange[]): string {
  if (ranges.length === 0) return 'none';
  return ranges.map((r) => `${r.min === r.max ? r.min : `${r.min}-${r.max}`}${r.pvid ? ' PVID' : ''}${r.untagged ? ' untagged' : ''}`).join(', ');
}
