// The record of the VIDs vlan-bridge added to a bridge's uplinks (`uplinkVlans`), on disk: one file per network
// namespace (named by its SO_NETNS_COOKIE, which the kernel never reuses within a boot) and bridge, in the state
// directory (/var/lib/cni/vlan-bridge/uplink-vlans), read and written under an flock(2) on a lock file beside it,
// so concurrent ADDs and DELs take turns; the wait is bounded and answers code 11. Written atomically (temporary
// file, fsync, rename). A record that does not read as one is ignored (with a warning) rather than trusted or
// allowed to stop a DEL. Used by sync.ts and by doctor (tools/doctor-read.ts).
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
import { CniError, Code } from '../../cni/errors.js';
import { z } from '../../cni/zod.js';
import { ensurePrivateDir, lockFile } from '../../files.js';
import type { Env } from '../../cni/env.js';
import type { Logger } from '../../cni/log.js';
import { isErrno, netnsCookie, type NetlinkSocket } from '../../kernel/index.js';

/** Where the records live unless VLAN_BRIDGE_STATE_DIR says otherwise (tests, a node with another layout). */
export const DEFAULT_STATE_DIR = '/var/lib/cni/vlan-bridge';

/** How long a call waits for another call's turn on the same bridge before answering code 11 (milliseconds). */
const DEFAULT_LOCK_WAIT_MS = 30_000;

/**
 * The state directory or a record in it could not be used (EACCES, EROFS, ENOSPC, a directory others can write):
 * the plugin's own environment, code 110 at the boundary (plugin/errors.ts). `step` says what was being done.
 */
export class StateDirError extends Error {
  readonly step: string;
  /** The errno name of the file system error behind it ('EACCES', 'EROFS', ...); undefined for a refusal of ours. */
  readonly errno: string | undefined;

  constructor(step: string, why: string, options?: { cause?: unknown }) {
    super(`${step}: ${why}`, options);
    this.name = 'StateDirError';
    this.step = step;
    const code = (options?.cause as NodeJS.ErrnoException | undefined)?.code;
    this.errno = typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) ? code : undefined;
  }
}

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
export function writeRecord(file: string, r: UplinkRecord): void {
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
export function lock(file: string, env: Env): () => void {
  const dir = file.slice(0, file.lastIndexOf('/'));
  // Whoever can write here can forge a record and have VIDs removed that we never added.
  try {
    ensurePrivateDir(dir, 0o700);
  } catch (err) {
    throw new StateDirError(`use the uplink VLAN records in ${dir}`, (err as Error).message, { cause: err });
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

/** Whether two records say the same (no record and a record of no uplinks are the same). */
export function sameRecord(a: UplinkRecord | null, b: UplinkRecord | null): boolean {
  const norm = (r: UplinkRecord | null) => (r && r.uplinks.length > 0 ? JSON.stringify(r) : 'none');
  return norm(a) === norm(b);
}

/** Reads the kernel's boot id (a UUID that changes at every boot). */
export const bootId = (): string => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();

/**
 * Runs a step on the state directory: its file errors (EACCES, EROFS, ENOSPC...) become StateDirError (110);
 * CniError and StateDirError pass through.
 */
export function stateStep<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof CniError || err instanceof StateDirError || !(err as NodeJS.ErrnoException).code) throw err;
    throw new StateDirError(`${what} the uplink VLAN record`, (err as Error).message, { cause: err });
  }
}
