// VLAN IDs as sets and ranges: the one place where VIDs are merged into ranges and written as text. Pure. Used by
// the config (a trunk's entries merged once), the port and uplink VLAN rules, CHECK, doctor, and the kernel layer's
// messages. It knows neither CNI nor netlink requests (only the shape of a VLAN range), as src/ip.ts.
import type { VlanRange } from './kernel/bridge-vlan.js';

/** An inclusive VID span `[min, max]` (1-4094, 802.1Q). */
export type VidSpan = [min: number, max: number];

/**
 * `spans` merged into sorted, non-overlapping, non-adjacent spans (overlapping or touching spans join). Pure; the
 * input is not changed.
 */
export function mergeSpans(spans: readonly VidSpan[]): VidSpan[] {
  const merged: VidSpan[] = [];
  for (const s of [...spans].sort((a, b) => a[0] - b[0])) {
    const last = merged[merged.length - 1];
    if (last && s[0] <= last[1] + 1) last[1] = Math.max(last[1], s[1]);
    else merged.push([s[0], s[1]]);
  }
  return merged;
}

/** VIDs (any order, repeats allowed) as the fewest tagged ranges (no PVID, not untagged), in VID order. */
export function vidRanges(vids: Iterable<number>): VlanRange[] {
  return mergeSpans([...vids].map((v): VidSpan => [v, v])).map(([min, max]) => ({ min, max }));
}

/** Ranges without their flags, in the order given: "1-3,5,7-8"; '' for none. */
export function formatRanges(ranges: readonly VlanRange[]): string {
  return ranges.map((r) => (r.min === r.max ? `${r.min}` : `${r.min}-${r.max}`)).join(',');
}

/** VIDs as a sorted list of ranges: "1-3,5,7-8" (repeats once); '' for none. */
export const formatVids = (vids: Iterable<number>): string => formatRanges(vidRanges(vids));

/** Ranges with their flags, as `bridge vlan show` words them: "1 PVID untagged, 100-200"; 'none' for none. */
export function formatVlans(ranges: readonly VlanRange[]): string {
  if (ranges.length === 0) return 'none';
  return ranges
    .map(
      (r) => `${r.min === r.max ? r.min : `${r.min}-${r.max}`}${r.pvid ? ' PVID' : ''}${r.untagged ? ' untagged' : ''}`,
    )
    .join(', ');
}
