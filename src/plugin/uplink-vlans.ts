// Uplink VLANs kept in step with the pods (`uplinkVlans`, issue 16). A VLAN pod reaches the network only if the
// bridge's uplink (the bond or NIC towards the switch) carries its VID tagged. With `uplinkVlans`, ADD adds the VIDs
// its bridge's pods use to the uplinks (or to `uplinkInterface` only), and every ADD rollback, DEL and GC removes
// the VIDs that no pod uses any more, but only those vlan-bridge added: a VID that was on the uplink before (an
// operator's, Harvester's network controller's) is never removed, and an uplink's PVID and untagged VLAN are never
// changed. The rule, for each bridge: a VID is on an uplink if and only if a pod uses it or it was there before.
//
// "Added by us" is a record per bridge in the state directory (/var/lib/cni/vlan-bridge/uplink-vlans, a file per
// host network namespace and bridge), read and written under an flock(2) on a lock file beside it, so concurrent
// ADDs and DELs take turns; the wait is bounded and answers code 11. The record is checked against the kernel each
// time: it counts only for the boot it was written in (the kernel's boot_id), for the uplink it names (same name
// and ifindex: a re-created bond is another uplink), and for VIDs that the uplink still carries as we add them
// (tagged, not PVID). Crash-safe by order: a VID is recorded before it is added and removed before it is
// forgotten, so a kill at any point leaves either a recorded VID that the next call finds absent and forgets, or a
// recorded VID that the next DEL or GC removes when no pod uses it. Never an unrecorded VID of ours.
import {
  closeSync,
  constants,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { CniError, Code, show } from '../cni/errors.js';
import type { Env } from '../cni/env.js';
import type { Logger } from '../cni/log.js';
import {
  addVlans,
  delVlans,
  dumpVlans,
  getLink,
  listLinks,
  tryLockExclusive,
  type Link,
  type NetlinkSocket,
  type VlanRange,
} from '../kernel/index.js';
import { isGatewayLink, parseAlias } from './attachment.js';
import { uplinksOf } from './uplink.js';
import { vlanFlagsByVid } from './vlans.js';

/** Where the records live unless VLAN_BRIDGE_STATE_DIR says otherwise (tests, a node with another layout). */
export const DEFAULT_STATE_DIR = '/var/lib/cni/vlan-bridge';

/** How long a call waits for another call's turn on the same bridge before answering code 11 (milliseconds). */
const DEFAULT_LOCK_WAIT_MS = 30_000;

/** One uplink's VIDs that vlan-bridge added, with the ifindex it had then. */
export interface RecordedUplink {
  index: number;
  vids: number[];
}

/** The record of one bridge: which VIDs of which uplinks vlan-bridge added, in which boot. */
export interface UplinkRecord {
  bootId: string;
  uplinks: Record<string, RecordedUplink>;
}

/** An uplink as the kernel has it now: name, ifindex and its VLANs (as dumpVlans reads them). */
export interface UplinkNow {
  name: string;
  index: number;
  vlans: readonly VlanRange[];
}

/** What one call does: per uplink name, the VIDs to add (tagged) and to remove, and the records before and after. */
export interface UplinkPlan {
  /** The record reconciled with the kernel and grown by `add`: written before anything is added. */
  before: UplinkRecord;
  add: Map<string, number[]>;
  remove: Map<string, number[]>;
  /** The record once `add` and `remove` are done: written after the removals. */
  after: UplinkRecord;
}

/**
 * What to change so that the uplinks carry exactly the VIDs in use, touching only VIDs we added. Pure.
 * - `record`: what the state file says (null: none); it counts only for `bootId`, for an uplink of the same name
 *   and index, and for VIDs that uplink still carries tagged and not as PVID.
 * - `uplinks`: every uplink of the bridge now; `addTo`: the names of those that must gain the VIDs in `used`
 *   (empty for DEL and GC, which only remove).
 * - `used`: the VIDs the bridge's pods use (usedVids).
 */
export function planUplinkVlans(o: {
  record: UplinkRecord | null;
  bootId: string;
  uplinks: readonly UplinkNow[];
  addTo: ReadonlySet<string>;
  used: ReadonlySet<number>;
}): UplinkPlan {
  const now = new Map(o.uplinks.map((u) => [u.name, { index: u.index, vids: vlanFlagsByVid(u.vlans) }]));
  const reconciled: Record<string, Set<number>> = {};
  if (o.record && o.record.bootId === o.bootId) {
    for (const [name, rec] of Object.entries(o.record.uplinks)) {
      const u = now.get(name);
      if (!u || u.index !== rec.index) continue;
      const ours = rec.vids.filter((v) => {
        const f = u.vids.get(v);
        return f !== undefined && !f.pvid && !f.untagged;
      });
      if (ours.length > 0) reconciled[name] = new Set(ours);
    }
  }
  const add = new Map<string, number[]>();
  for (const name of o.addTo) {
    const u = now.get(name);
    if (!u) continue;
    const missing = [...o.used].filter((v) => !u.vids.has(v)).sort((a, b) => a - b);
    if (missing.length > 0) add.set(name, missing);
  }
  const remove = new Map<string, number[]>();
  for (const [name, vids] of Object.entries(reconciled)) {
    const unused = [...vids].filter((v) => !o.used.has(v)).sort((a, b) => a - b);
    if (unused.length > 0) remove.set(name, unused);
  }
  const record = (withAdds: boolean, withoutRemoves: boolean): UplinkRecord => {
    const uplinks: Record<string, RecordedUplink> = {};
    for (const name of new Set([...Object.keys(reconciled), ...(withAdds ? add.keys() : [])])) {
      const vids = new Set([...(reconciled[name] ?? []), ...(withAdds ? (add.get(name) ?? []) : [])]);
      if (withoutRemoves) for (const v of remove.get(name) ?? []) vids.delete(v);
      if (vids.size > 0) uplinks[name] = { index: now.get(name)!.index, vids: [...vids].sort((a, b) => a - b) };
    }
    return { bootId: o.bootId, uplinks };
  };
  return { before: record(true, false), add, remove, after: record(true, true) };
}

/**
 * The VIDs the pods of `br` use: every VID on a port of the bridge that is not an uplink and not our VLAN gateway,
 * except the bridge's default PVID (VID 1 unless set otherwise: the untagged network, whose place on the uplink
 * is the operator's to decide; adding it would be the VLAN 1 leak of Harvester issue #8816).
 */
export function usedVids(
  br: Link,
  links: readonly Link[],
  vlans: ReadonlyMap<number, readonly VlanRange[]>,
): Set<number> {
  const used = new Set<number>();
  const uplinks = new Set(uplinksOf(br, links).map((l) => l.index));
  for (const l of links) {
    if (l.master !== br.index || l.index === br.index || uplinks.has(l.index)) continue;
    const a = parseAlias(l.alias);
    if (a && isGatewayLink(a, l.linkNetnsId !== undefined)) continue;
    for (const v of vlanFlagsByVid(vlans.get(l.index) ?? []).keys()) used.add(v);
  }
  used.delete(br.bridge?.defaultPvid ?? 1);
  return used;
}

/** VIDs (sorted) as the fewest ranges, tagged. */
export function vidRanges(vids: readonly number[]): VlanRange[] {
  const out: VlanRange[] = [];
  for (const v of [...vids].sort((a, b) => a - b)) {
    const last = out[out.length - 1];
    if (last && last.max === v - 1) last.max = v;
    else out.push({ min: v, max: v });
  }
  return out;
}

// ---- the record on disk ----

/** The record file of `bridge` in the calling thread's network namespace (its nsfs inode names it). */
export function recordPath(env: Env, bridge: string): string {
  const ns = statSync('/proc/thread-self/ns/net').ino;
  return `${env.VLAN_BRIDGE_STATE_DIR || DEFAULT_STATE_DIR}/uplink-vlans/${ns}-${bridge}.json`;
}

/** The record at `file`; null when there is none. A file we cannot read as a record is reported and ignored. */
export function readRecord(file: string, log?: Logger): UplinkRecord | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  try {
    const r = JSON.parse(text) as UplinkRecord;
    if (typeof r.bootId === 'string' && typeof r.uplinks === 'object' && r.uplinks !== null) return r;
  } catch {
    // fall through
  }
  log?.warn(`uplink VLAN record ${file} is unreadable: ignored (VIDs it listed are no longer known as ours)`);
  return null;
}

/** Replaces the record atomically (temporary file, fsync, rename, fsync of the directory); no uplinks: removed. */
function writeRecord(file: string, r: UplinkRecord): void {
  const dir = file.slice(0, file.lastIndexOf('/'));
  if (Object.keys(r.uplinks).length === 0) {
    if (existsSync(file)) unlinkSync(file);
  } else {
    const tmp = `${file}.${process.pid}.tmp`;
    const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o600);
    try {
      writeSync(fd, `${JSON.stringify(r)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  }
  const d = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    fsyncSync(d);
  } finally {
    closeSync(d);
  }
}

/**
 * Takes the bridge's lock (flock on `<record>.lock`, released by the kernel if the process dies), waiting at most
 * VLAN_BRIDGE_LOCK_WAIT_MS (default 30 s). Returns the function that releases it. Throws CniError 11 when the
 * wait runs out.
 */
function lock(file: string, env: Env): () => void {
  const dir = file.slice(0, file.lastIndexOf('/'));
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const fd = openSync(`${file}.lock`, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
  const waitMs = Number(env.VLAN_BRIDGE_LOCK_WAIT_MS) || DEFAULT_LOCK_WAIT_MS;
  const deadline = Date.now() + waitMs;
  const nap = new Int32Array(new SharedArrayBuffer(4));
  for (let delay = 1; ; delay = Math.min(delay * 2, 50)) {
    let taken: boolean;
    try {
      taken = tryLockExclusive(fd);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    if (taken) break;
    if (Date.now() >= deadline) {
      closeSync(fd);
      throw new CniError(
        Code.TryAgainLater,
        `uplink VLANs: another plugin call holds the lock of this bridge's record (waited ${waitMs / 1000} s)`,
        `lock file ${file}.lock`,
      );
    }
    Atomics.wait(nap, 0, 0, delay);
  }
  // Temporary files of writers killed mid-write: only the lock holder writes, so any left now is dead.
  const base = file.slice(dir.length + 1);
  for (const f of readdirSync(dir)) if (f.startsWith(`${base}.`) && f.endsWith('.tmp')) unlinkSync(`${dir}/${f}`);
  return () => closeSync(fd);
}

// ---- the step ADD, DEL and GC run ----

/** Whether two records say the same (no record and a record of no uplinks are the same). */
function sameRecord(a: UplinkRecord | null, b: UplinkRecord | null): boolean {
  const norm = (r: UplinkRecord | null) => (r && Object.keys(r.uplinks).length > 0 ? JSON.stringify(r) : 'none');
  return norm(a) === norm(b);
}

/** Reads the kernel's boot id (a UUID that changes at every boot). */
const bootId = (): string => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();

/**
 * Brings the uplinks of bridge `bridgeName` in step with its pods, under the bridge's lock. `addTo`: for ADD (with
 * uplinkVlans), 'all' uplinks or one `uplinkInterface` by name; null for DEL, GC and rollback, which only remove
 * VIDs we added that no pod uses, and do nothing at all (no file, no lock) when the bridge has no record.
 * Throws CniError 103 when `addTo` names no uplink of the bridge, 11 when the lock wait runs out, KernelError
 * from the VLAN requests.
 */
export function syncUplinkVlans(
  host: NetlinkSocket,
  bridgeName: string,
  addTo: 'all' | string | null,
  env: Env,
  log: Logger,
): void {
  const file = recordPath(env, bridgeName);
  if (addTo === null && !existsSync(file)) return;
  const unlock = lock(file, env);
  try {
    const record = readRecord(file, log);
    const br = getLink(host, bridgeName);
    const links = br ? listLinks(host) : [];
    const uplinks = br ? uplinksOf(br, links) : [];
    if (addTo !== null && addTo !== 'all' && !uplinks.some((u) => u.name === addTo)) {
      const l = links.find((x) => x.name === addTo);
      throw new CniError(
        Code.BridgeConflict,
        `uplinkInterface ${show(addTo)} is not an uplink of bridge ${show(bridgeName)}`,
        !l ? 'no such interface' : l.master !== br?.index ? 'not a port of the bridge' : `a ${l.kind} port (a pod)`,
      );
    }
    const vlans = br ? dumpVlans(host) : new Map<number, VlanRange[]>();
    const plan = planUplinkVlans({
      record,
      bootId: bootId(),
      uplinks: uplinks.map((u) => ({ name: u.name, index: u.index, vlans: vlans.get(u.index) ?? [] })),
      addTo: new Set(addTo === null ? [] : addTo === 'all' ? uplinks.map((u) => u.name) : [addTo]),
      used: br ? usedVids(br, links, vlans) : new Set(),
    });
    const index = (name: string) => uplinks.find((u) => u.name === name)!.index;
    if (!sameRecord(plan.before, record)) writeRecord(file, plan.before);
    for (const [name, vids] of plan.add) {
      addVlans(host, index(name), vidRanges(vids));
      log.debug(`uplink VLANs: added ${vidRanges(vids).length} range(s) to "${name}": ${vids.join(',')}`);
    }
    for (const [name, vids] of plan.remove) {
      delVlans(host, index(name), vidRanges(vids));
      log.debug(`uplink VLANs: removed from "${name}": ${vids.join(',')}`);
    }
    if (!sameRecord(plan.after, plan.before)) writeRecord(file, plan.after);
  } finally {
    unlock();
  }
}
