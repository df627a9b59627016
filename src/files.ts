// Files that several plugin processes share, run as root: a directory that only root may write to, and a lock
// taken with a bounded wait. Used by the log (src/cni/log.ts, log-file.ts) and by the uplink VLAN records
// (src/plugin/uplink-vlans/record.ts); it knows neither CNI nor netlink, so both layers import it, as they do
// src/ip.ts.
import { closeSync, constants, lstatSync, mkdirSync, openSync } from 'node:fs';
import type { FFIType } from 'bun:ffi';

/**
 * Makes `dir` (and its parents) with `mode` when missing, and accepts it only when no one but this process's uid
 * can write there: a directory, not a symlink, owned by that uid, without group or other write permission (whoever
 * could write there could plant what root then reads or appends to). Throws an Error (code EPERM) saying what is
 * wrong, or the file system's error.
 */
export function ensurePrivateDir(dir: string, mode: number): void {
  mkdirSync(dir, { recursive: true, mode });
  const st = lstatSync(dir);
  const uid = process.getuid?.() ?? 0;
  if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o022) !== 0)
    throw Object.assign(new Error(`${dir} must be a directory of uid ${uid} that no one else can write to`), {
      code: 'EPERM',
    });
}

interface LibcFlock {
  flock(fd: number, operation: number): number;
  errno(): number;
}
let libc: LibcFlock | undefined;

/** The errno's name (EBADF, ...), as file system errors carry it in `code`; 'E<n>' for one Node does not know. */
function errnoName(errno: number): string {
  const { getSystemErrorMap } = process.getBuiltinModule('node:util') as typeof import('node:util');
  return getSystemErrorMap().get(-errno)?.[0] ?? `E${errno}`;
}

const LOCK_EX = 2;
const LOCK_NB = 4;
const EWOULDBLOCK = 11;

/**
 * Takes an exclusive flock(2) on `path` (created 0600 when missing, never through a symlink), trying again with
 * growing pauses (1 ms to 50 ms) for at most `waitMs` milliseconds. Returns the function that releases it (the
 * kernel also releases it when the process dies), or null when another holder kept it all that time. Throws the
 * file system's error when `path` cannot be opened, and one of the same shape (`code`, `errno`, `syscall`) when flock
 * fails otherwise.
 */
export function lockFile(path: string, waitMs: number): (() => void) | null {
  if (!libc) {
    // Loaded on the first lock only: a call that takes none (VERSION, a refused config) never loads the FFI.
    /* eslint-disable @typescript-eslint/no-require-imports -- a synchronous load on first use, kept lazy */
    const { FFIType: T } = require('bun:ffi') as typeof import('bun:ffi');
    const { bindLibrary } = require('./kernel/native.js') as typeof import('./kernel/native.js');
    /* eslint-enable @typescript-eslint/no-require-imports */
    libc = bindLibrary<{ flock: readonly [readonly FFIType[], FFIType] }, LibcFlock>(
      'libc.so.6',
      'file locks',
      { flock: [[T.i32, T.i32], T.i32] },
      ['flock'],
    );
  }
  const fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NOCTTY, 0o600);
  const deadline = Date.now() + waitMs;
  const nap = new Int32Array(new SharedArrayBuffer(4));
  for (let delay = 1; ; delay = Math.min(delay * 2, 50)) {
    if (libc.flock(fd, LOCK_EX | LOCK_NB) === 0) return () => closeSync(fd);
    const errno = libc.errno();
    if (errno !== EWOULDBLOCK || Date.now() >= deadline) {
      closeSync(fd);
      if (errno !== EWOULDBLOCK)
        throw Object.assign(new Error(`flock ${path}: errno ${errno}`), {
          errno,
          syscall: 'flock',
          path,
          code: errnoName(errno),
        });
      return null;
    }
    Atomics.wait(nap, 0, 0, delay);
  }
}
