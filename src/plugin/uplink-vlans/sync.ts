// Uplink VLANs kept in step with the pods (`uplinkVlans`, issue 16): the step ADD, DEL and GC run; the rule is in
// plan.ts, the record on disk in record.ts. A VLAN pod reaches the network only if the bridge's uplink (the bond or
// NIC towards the switch) carries its VID tagged. With `uplinkVlans`, ADD adds the VIDs
// its bridge's pods use to the uplinks (or to `uplinkInterface` only), and every ADD rollback, DEL and GC removes
// the VIDs that no pod uses any more, but only those vlan-bridge added: a VID that was on the uplink before (an
// operator's, Harvester's network controller's) is never removed, and an uplink's PVID and untagged VLAN are never
// changed. The rule, for each bridge: a VID is on an uplink if and only if a pod uses it or it was there before.
//
// "Added by us" is a record per bridge in the state directory (/var/lib/cni/vlan-bridge/uplink-vlans, a file per
// network namespace, named by its SO_NETNS_COOKIE, which the kernel never reuses within a boot, and bridge), read
// and written under an flock(2) on a lock file beside it, so concurrent ADDs and DELs take turns; the wait is
// bounded and answers code 11. The record is checked against the kernel each time: it counts only for the boot it
// was written in (the kernel's boot_id), for the uplink it names by ifindex (a renamed bond is the same uplink, a
// re-created one another), and for VIDs that the uplink still carries as we add them (tagged, not PVID). A record
// that does not read as one is ignored (with a warning) rather than trusted or allowed to stop a DEL. Crash-safe by
// order: a VID is recorded before it is added and removed before it is forgotten, so a kill at any point leaves
// either a recorded VID that the next call finds absent and forgets, or a recorded VID that the next DEL or GC
// removes when no pod uses it. Never an unrecorded VID of ours.
import { existsSync } from 'node:fs';
import { CniError, Code, show } from '../../cni/errors.js';
import type { Env } from '../../cni/env.js';
import type { Logger } from '../../cni/log.js';
import {
  addVlans,
  delVlans,
  getLink,
  listPorts,
  portsVlans,
  type Link,
  type NetlinkSocket,
  type Port,
  type VlanRange,
} from '../../kernel/index.js';
import { formatVids, vidRanges } from '../../vids.js';
import { uplinksOf } from '../uplink.js';
import { vlanFiltering } from '../vlans.js';
import { planUplinkVlans, usedVids } from './plan.js';
import { bootId, lock, readRecord, recordPath, sameRecord, stateStep, writeRecord } from './record.js';

/**
 * Which uplinks a call adds the pods' VIDs to: every uplink of the bridge (`uplinkVlans`), the one the config names
 * (`uplinkInterface`), or none (DEL, GC, an ADD's rollback: they only remove).
 */
export type AddTo = { to: 'all' } | { to: 'interface'; name: string } | { to: 'none' };

/** The ifindexes `addTo` means on this bridge. Throws CniError 103 when the named interface is not an uplink of it. */
function targetsOf(
  host: NetlinkSocket,
  addTo: AddTo,
  bridgeName: string,
  br: Link | undefined,
  uplinks: Port[],
  ports: Port[],
): number[] {
  if (addTo.to === 'none') return [];
  if (addTo.to === 'all') return uplinks.map((u) => u.index);
  const u = uplinks.find((x) => x.name === addTo.name);
  if (u) return [u.index];
  const l = ports.find((x) => x.name === addTo.name) ?? getLink(host, addTo.name);
  throw new CniError(
    Code.BridgeConflict,
    `uplinkInterface ${show(addTo.name)} is not an uplink of bridge ${show(bridgeName)}`,
    !l
      ? 'no such interface'
      : l.master !== br?.index
        ? 'not a port of the bridge'
        : `a ${l.kind ?? 'device'} port (a pod or a VM)`,
  );
}

/**
 * The VLANs of the bridge's own ports (the ports of other bridges cost nothing); none on a kernel without bridge
 * VLAN filtering, where no port has any. Throws KernelError.
 */
function portVlansOf(host: NetlinkSocket, br: Link | undefined, ports: Port[]): Map<number, VlanRange[]> {
  if (!br || vlanFiltering(br) === 'unsupported') return new Map();
  return portsVlans(
    host,
    ports.map((p) => p.index),
  );
}

/**
 * Brings the uplinks of bridge `bridgeName` in step with its pods, under the bridge's lock. `addTo`: for ADD (with
 * uplinkVlans), every uplink or one `uplinkInterface`; 'none' for DEL, GC and rollback, which only remove VIDs we
 * added that no pod uses, and do nothing at all (no file, no lock) when the bridge has no record.
 * Throws CniError 103 when `addTo` names no uplink of the bridge, 11 when the lock wait runs out, 108 when ADD
 * needs a record on a kernel without SO_NETNS_COOKIE; StateDirError (110) when the state directory cannot be
 * used; KernelError from the VLAN requests.
 */
export function syncUplinkVlans(host: NetlinkSocket, bridgeName: string, addTo: AddTo, env: Env, log: Logger): void {
  // The record is named after the bridge's own name: a config may name it by an altname, and ADD, DEL and GC must
  // find the same record whichever name their config uses.
  const named = getLink(host, bridgeName);
  const file = recordPath(env, host, named?.name ?? bridgeName);
  // DEL, GC and rollback on a bridge without a record (or a kernel where none can be made) have nothing to do.
  if (addTo.to === 'none' && (file === null || !existsSync(file))) return;
  if (file === null)
    throw new CniError(
      Code.KernelFeature,
      'uplinkVlans needs the kernel to name network namespaces (SO_NETNS_COOKIE, Linux 5.14 or later)',
      'remove "uplinkVlans" from the config, or run a newer kernel',
    );
  const unlock = stateStep('lock', () => lock(file, env));
  try {
    const record = readRecord(file, log);
    // The bridge as read before the lock (our calls do not make or remove bridges, and a rename keeps its index),
    // its ports under the lock (a dump the kernel filters by master): not every link.
    const br = named ?? undefined;
    const ports = br ? listPorts(host, br.index) : [];
    const uplinks = br ? uplinksOf(br, ports) : [];
    const targets = targetsOf(host, addTo, bridgeName, br, uplinks, ports);
    const vlans = portVlansOf(host, br, ports);
    const plan = planUplinkVlans({
      record,
      bootId: bootId(),
      uplinks: uplinks.map((u) => ({ name: u.name, index: u.index, vlans: vlans.get(u.index) ?? [] })),
      addTo: new Set(targets),
      used: br ? usedVids(br, ports, vlans) : new Set(),
    });
    const nameOf = (index: number) => uplinks.find((u) => u.index === index)?.name ?? `#${index}`;
    if (!sameRecord(plan.before, record)) stateStep('write', () => writeRecord(file, plan.before));
    for (const [index, vids] of plan.add) {
      addVlans(host, index, vidRanges(vids));
      log.debug(`uplink VLANs: added to "${nameOf(index)}": ${formatVids(vids)}`);
    }
    for (const [index, vids] of plan.remove) {
      delVlans(host, index, vidRanges(vids));
      log.debug(`uplink VLANs: removed from "${nameOf(index)}": ${formatVids(vids)}`);
    }
    if (!sameRecord(plan.after, plan.before)) stateStep('write', () => writeRecord(file, plan.after));
  } finally {
    unlock();
  }
}
