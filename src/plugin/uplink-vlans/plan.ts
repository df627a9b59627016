// The uplink VLAN rule, pure: which VIDs the pods of a bridge use, what of the record the kernel still agrees with,
// and what one call adds and removes. For each bridge: a VID is on an uplink if and only if a pod uses it or it was
// there before vlan-bridge added it. VID 1 and the bridge's default PVID are never managed (the untagged network's
// place on an uplink is the operator's: Harvester issue #8816).
import type { Link, Port, VlanRange } from '../../kernel/index.js';
import { isGatewayLink, parseAlias } from '../attachment.js';
import { uplinksOf } from '../uplink.js';
import { vlanFlagsByVid } from '../vlans.js';
import type { RecordedUplink, UplinkRecord } from './record.js';

/** An uplink as the kernel has it now: name, ifindex and its VLANs (as portsVlans reads them). */
export interface UplinkNow {
  name: string;
  index: number;
  vlans: readonly VlanRange[];
}

/** What one call does: per uplink ifindex, the VIDs to add (tagged) and to remove, and the records before and after. */
export interface UplinkPlan {
  /** The record reconciled with the kernel and grown by `add`: written before anything is added. */
  before: UplinkRecord;
  add: Map<number, number[]>;
  remove: Map<number, number[]>;
  /** The record once `add` and `remove` are done: written after the removals. */
  after: UplinkRecord;
}

/** VID 1 is never managed: the untagged network's place on an uplink is the operator's (Harvester issue #8816). */
const NEVER_MANAGED_VID = 1;

/**
 * What of `record` the kernel still agrees with, by uplink ifindex: nothing when it is of another boot than
 * `bootId`; for each recorded uplink that is still one of `uplinks` (same ifindex), the recorded VIDs it still
 * carries tagged and not as PVID (VID 1 never). Pure. Used by the plan below and by doctor.
 */
export function reconcileRecord(
  record: UplinkRecord | null,
  bootId: string,
  uplinks: readonly UplinkNow[],
): Map<number, Set<number>> {
  const now = new Map(uplinks.map((u) => [u.index, vlanFlagsByVid(u.vlans)]));
  const reconciled = new Map<number, Set<number>>();
  if (!record || record.bootId !== bootId) return reconciled;
  for (const rec of record.uplinks) {
    const vids = now.get(rec.index);
    if (!vids) continue;
    const ours = rec.vids.filter((v) => {
      const f = vids.get(v);
      return v !== NEVER_MANAGED_VID && f !== undefined && !f.pvid && !f.untagged;
    });
    if (ours.length > 0) reconciled.set(rec.index, new Set([...(reconciled.get(rec.index) ?? []), ...ours]));
  }
  return reconciled;
}

/**
 * What to change so that the uplinks carry exactly the VIDs in use, touching only VIDs we added. Pure.
 * - `record`: what the state file says (null: none); it counts only for `bootId`, for an uplink of the same ifindex,
 *   and for VIDs that uplink still carries tagged and not as PVID.
 * - `uplinks`: every uplink of the bridge now; `addTo`: the ifindexes of those that must gain the VIDs in `used`
 *   (empty for DEL and GC, which only remove).
 * - `used`: the VIDs the bridge's pods use (usedVids).
 */
export function planUplinkVlans(o: {
  record: UplinkRecord | null;
  bootId: string;
  uplinks: readonly UplinkNow[];
  addTo: ReadonlySet<number>;
  used: ReadonlySet<number>;
}): UplinkPlan {
  const now = new Map(o.uplinks.map((u) => [u.index, { name: u.name, vids: vlanFlagsByVid(u.vlans) }]));
  const reconciled = reconcileRecord(o.record, o.bootId, o.uplinks);
  const sorted = (vids: Iterable<number>) => [...vids].sort((a, b) => a - b);
  const add = new Map<number, number[]>();
  for (const index of o.addTo) {
    const u = now.get(index);
    if (!u) continue;
    const missing = sorted(o.used).filter((v) => v !== NEVER_MANAGED_VID && !u.vids.has(v));
    if (missing.length > 0) add.set(index, missing);
  }
  const remove = new Map<number, number[]>();
  for (const [index, vids] of reconciled) {
    const unused = sorted(vids).filter((v) => !o.used.has(v));
    if (unused.length > 0) remove.set(index, unused);
  }
  const record = (withoutRemoves: boolean): UplinkRecord => {
    const uplinks: RecordedUplink[] = [];
    for (const index of sorted(new Set([...reconciled.keys(), ...add.keys()]))) {
      const vids = new Set([...(reconciled.get(index) ?? []), ...(add.get(index) ?? [])]);
      if (withoutRemoves) for (const v of remove.get(index) ?? []) vids.delete(v);
      if (vids.size > 0) uplinks.push({ index, name: now.get(index)!.name, vids: sorted(vids) });
    }
    return { bootId: o.bootId, uplinks };
  };
  return { before: record(false), add, remove, after: record(true) };
}

/**
 * The VIDs the pods of `br` use: every VID on a port of the bridge that is not an uplink and not our VLAN gateway,
 * except VID 1 and the bridge's default PVID (the untagged network, whose place on the uplink is the operator's to
 * decide; adding it would be the VLAN 1 leak of Harvester issue #8816).
 */
export function usedVids(
  br: Link,
  links: readonly Port[],
  vlans: ReadonlyMap<number, readonly VlanRange[]>,
): Set<number> {
  const used = new Set<number>();
  const uplinks = new Set(uplinksOf(br, links).map((l) => l.index));
  for (const l of links) {
    if (l.master !== br.index || l.index === br.index || uplinks.has(l.index)) continue;
    const a = parseAlias(l.alias);
    if (a && isGatewayLink(a, l.linkNetnsId !== undefined)) continue;
    for (const v of vlanFlagsByVid(vlans.get(l.index) ?? []).keys()) if (isManagedVid(v, br)) used.add(v);
  }
  return used;
}

/** Whether uplinkVlans adds and removes `vid` on the uplinks of `br`: not VID 1, not the bridge's default PVID. */
export const isManagedVid = (vid: number, br: Link): boolean =>
  vid !== NEVER_MANAGED_VID && vid !== br.bridge?.defaultPvid;
