// Uplink VLANs kept in step with the pods (`uplinkVlans`, issue 16). A VLAN pod reaches the network only if the
// bridge's uplink (the bond or NIC towards the switch) carries its VID tagged. With `uplinkVlans`, ADD adds the VIDs
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
import {
  closeSync,
  constants,
  existsSync,
  fsyncSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { CniError, Code, show } from '../cni/errors.js';
import { z } from '../cni/zod.js';
import { ensurePrivateDir, lockFile } from '../files.js';
import type { Env } from '../cni/env.js';
import type { Logger } from '../cni/log.js';
import {
  RuntimeEnvError,
  addVlans,
  delVlans,
  dumpVlans,
  getLink,
  isErrno,
  listPorts,
  netnsCookie,
  type Link,
  type NetlinkSocket,
  type Port,
  type VlanRange,
} from '../kernel/index.js';
import { isGatewayLink, parseAlias } from './attachment.js';
import { uplinksOf } from './uplink.js';
import { vlanFlagsByVid } from './vlans.js';

/** Where the records live unless VLAN_BRIDGE_STATE_DIR says otherwise (tests, a node with another layout). */
export const DEFAULT_STATE_DIR = '/var/lib/cni/vlan-bridge';

/** How long a call waits for another call's turn on the same bridge before answering code 11 (milliseconds). */
const DEFAULT_LOCK_WAIT_MS = 30_000;

/** One uplink's VIDs that vlan-bridge added: the uplink by ifindex (its name at the time, for people). */
export interface RecordedUplink {
  index: number;
  name: string;
  vids: number[];
}

/** The record of one bridge: which VIDs of which uplinks vlan-bridge added, in which boot. */
export interface UplinkRecord {
  bootId: string;
  uplinks: RecordedUplink[];
}

/** What a record file must hold to be trusted; anything else is ignored (readRecord). */
const RecordSchema = z.strictObject({
  bootId: z.string().check(z.minLength(1)),
  uplinks: z.array(
    z.strictObject({
      index: z.int().check(z.gte(1)),
      name: z.string(),
      vids: z.array(z.int().check(z.gte(1), z.lte(4094))),
    }),
  ),
});

/** An uplink as the kernel has it now: name, ifindex and its VLANs (as dumpVlans reads them). */
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

/** The directory of the records. */
const recordDir = (env: Env): string => `${env.VLAN_BRIDGE_STATE_DIR || DEFAULT_STATE_DIR}/uplink-vlans`;

/**
 * The record file of `bridge` in the network namespace of socket `sock` (named by its cookie, netnsCookie), or
 * null on a kernel without SO_NETNS_COOKIE (before Linux 5.14), where no record can have been made.
 */
export function recordPath(env: Env, sock: NetlinkSocket, bridge: string): string | null {
  let cookie: bigint;
  try {
    cookie = netnsCookie(sock.fd);
  } catch (err) {
    if (isErrno(err, 'ENOPROTOOPT')) return null;
    throw err;
  }
  return `${recordDir(env)}/${cookie}-${bridge}.json`;
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
    const r = RecordSchema.safeParse(JSON.parse(text));
    if (r.success) return r.data;
  } catch {
    // not JSON: fall through
  }
  log?.warn(`uplink VLAN record ${file} is unreadable: ignored (VIDs it listed are no longer known as ours)`);
  return null;
}

/** Replaces the record atomically (temporary file, fsync, rename, fsync of the directory); no uplinks: removed. */
function writeRecord(file: string, r: UplinkRecord): void {
  const dir = file.slice(0, file.lastIndexOf('/'));
  if (r.uplinks.length === 0) {
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
  // Whoever can write here can forge a record and have VIDs removed that we never added.
  try {
    ensurePrivateDir(dir, 0o700);
  } catch (err) {
    throw new RuntimeEnvError(`use the uplink VLAN records in ${dir}`, (err as Error).message, { cause: err });
  }
  const waitMs = Number(env.VLAN_BRIDGE_LOCK_WAIT_MS) || DEFAULT_LOCK_WAIT_MS;
  const unlock = lockFile(`${file}.lock`, waitMs);
  if (!unlock)
    throw new CniError(
      Code.TryAgainLater,
      `uplink VLANs: another plugin call holds the lock of this bridge's record (waited ${waitMs / 1000} s)`,
      `lock file ${file}.lock`,
    );
  // Temporary files of writers killed mid-write: only the lock holder writes, so any left now is dead.
  const base = file.slice(dir.length + 1);
  for (const f of readdirSync(dir)) if (f.startsWith(`${base}.`) && f.endsWith('.tmp')) unlinkSync(`${dir}/${f}`);
  return unlock;
}

// ---- the step ADD, DEL and GC run ----

/** Whether two records say the same (no record and a record of no uplinks are the same). */
function sameRecord(a: UplinkRecord | null, b: UplinkRecord | null): boolean {
  const norm = (r: UplinkRecord | null) => (r && r.uplinks.length > 0 ? JSON.stringify(r) : 'none');
  return norm(a) === norm(b);
}

/** Reads the kernel's boot id (a UUID that changes at every boot). */
const bootId = (): string => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();

/**
 * Brings the uplinks of bridge `bridgeName` in step with its pods, under the bridge's lock. `addTo`: for ADD (with
 * uplinkVlans), 'all' uplinks or one `uplinkInterface` by name; null for DEL, GC and rollback, which only remove
 * VIDs we added that no pod uses, and do nothing at all (no file, no lock) when the bridge has no record.
 * Throws CniError 103 when `addTo` names no uplink of the bridge, 11 when the lock wait runs out, 108 when ADD
 * needs a record on a kernel without SO_NETNS_COOKIE; RuntimeEnvError (110) when the state directory cannot be
 * used; KernelError from the VLAN requests.
 */
export function syncUplinkVlans(
  host: NetlinkSocket,
  bridgeName: string,
  addTo: 'all' | string | null,
  env: Env,
  log: Logger,
): void {
  const file = recordPath(env, host, bridgeName);
  // DEL, GC and rollback on a bridge without a record (or a kernel where none can be made) have nothing to do.
  if (addTo === null && (file === null || !existsSync(file))) return;
  if (file === null)
    throw new CniError(
      Code.KernelFeature,
      'uplinkVlans needs the kernel to name network namespaces (SO_NETNS_COOKIE, Linux 5.14 or later)',
      'remove "uplinkVlans" from the config, or run a newer kernel',
    );
  const unlock = stateStep('lock', () => lock(file, env));
  try {
    const record = readRecord(file, log);
    // The bridge by name and its ports (a dump the kernel filters by master): not every link of the node.
    const br = getLink(host, bridgeName) ?? undefined;
    const links = br ? listPorts(host, br.index) : [];
    const uplinks = br ? uplinksOf(br, links) : [];
    let targets: number[] = [];
    if (addTo === 'all') targets = uplinks.map((u) => u.index);
    else if (addTo !== null) {
      const u = uplinks.find((x) => x.name === addTo);
      if (!u) {
        const l = links.find((x) => x.name === addTo) ?? getLink(host, addTo);
        throw new CniError(
          Code.BridgeConflict,
          `uplinkInterface ${show(addTo)} is not an uplink of bridge ${show(bridgeName)}`,
          !l
            ? 'no such interface'
            : l.master !== br?.index
              ? 'not a port of the bridge'
              : `a ${l.kind ?? 'device'} port (a pod or a VM)`,
        );
      }
      targets = [u.index];
    }
    const vlans = br ? dumpVlans(host) : new Map<number, VlanRange[]>();
    const plan = planUplinkVlans({
      record,
      bootId: bootId(),
      uplinks: uplinks.map((u) => ({ name: u.name, index: u.index, vlans: vlans.get(u.index) ?? [] })),
      addTo: new Set(targets),
      used: br ? usedVids(br, links, vlans) : new Set(),
    });
    const nameOf = (index: number) => uplinks.find((u) => u.index === index)?.name ?? `#${index}`;
    if (!sameRecord(plan.before, record)) stateStep('write', () => writeRecord(file, plan.before));
    for (const [index, vids] of plan.add) {
      addVlans(host, index, vidRanges(vids));
      log.debug(`uplink VLANs: added to "${nameOf(index)}": ${vids.join(',')}`);
    }
    for (const [index, vids] of plan.remove) {
      delVlans(host, index, vidRanges(vids));
      log.debug(`uplink VLANs: removed from "${nameOf(index)}": ${vids.join(',')}`);
    }
    if (!sameRecord(plan.after, plan.before)) stateStep('write', () => writeRecord(file, plan.after));
  } finally {
    unlock();
  }
}

/** A step on the state directory: its failures (EACCES, EROFS, ENOSPC...) are the plugin's environment's (110). */
function stateStep<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof CniError || err instanceof RuntimeEnvError || !(err as NodeJS.ErrnoException).code) throw err;
    throw new RuntimeEnvError(`${what} the uplink VLAN record`, (err as Error).message, { cause: err });
  }
}
