// Appending log lines to a file that many plugin processes share (a runtime starts one process per call, dozens
// at once when pods start together). Each line is one write(2) on an O_APPEND descriptor: the kernel places it at
// the end of the file and, for a regular file on a local file system, writes it whole before another write to that
// file starts, so lines never interleave or tear. The file is bounded: a line that would take it past
// LOG_MAX_BYTES first renames it to `<file>.1` (replacing the previous one), so at most twice that is kept.
// Rotation is the only step that needs agreement between processes: two that both saw the full file must not both
// rename (the second would move a fresh file over the rotated one and lose it), so it runs under flock(2) on
// `<file>.1.lock` and renames only when the name still refers to the file this process found full.
import { closeSync, constants, fstatSync, lstatSync, openSync, renameSync, writeSync } from 'node:fs';
import { lockFile } from '../files.js';

/** Where a log file is rotated: past this size (bytes) it becomes `<file>.1`. */
export const LOG_MAX_BYTES = 10 * 1024 * 1024;

/**
 * O_NOFOLLOW: a symlink at the log's name is refused (ELOOP), never followed to a file someone else chose;
 * O_NONBLOCK: opening a FIFO there fails (ENXIO) or returns at once instead of waiting for a reader; O_NOCTTY: a
 * terminal there never becomes the plugin's controlling terminal. Whatever opens must then be a regular file.
 */
const APPEND_FLAGS =
  constants.O_WRONLY |
  constants.O_APPEND |
  constants.O_CREAT |
  constants.O_NONBLOCK |
  constants.O_NOCTTY |
  constants.O_NOFOLLOW;
/** How long a process waits for another's rotation (a rename) before it appends without rotating. */
const LOCK_WAIT_MS = 200;

/**
 * Renames `file` to `<file>.1` if the name still refers to the file `seen` (device and inode) describes; otherwise
 * another process rotated it first and there is nothing to do. Holds an exclusive flock on `<file>.1.lock`
 * meanwhile, waiting at most LOCK_WAIT_MS for it. Returns false when it did not get the lock: the caller then
 * appends to the file it has (which grows past the cap by a few lines). A symlink never matches (lstat), so a log
 * file reached through one is not rotated. Throws what opening the lock file or renaming throws.
 */
function rotate(file: string, seen: { dev: number; ino: number }): boolean {
  const unlock = lockFile(`${file}.1.lock`, LOCK_WAIT_MS);
  if (!unlock) return false;
  try {
    let now;
    try {
      now = lstatSync(file);
    } catch {
      return true; // gone: the next open creates it
    }
    if (now.dev === seen.dev && now.ino === seen.ino) renameSync(file, `${file}.1`);
    return true;
  } finally {
    unlock();
  }
}

/**
 * Appends `line` (one whole line, newline included) to `file` in one write(2), first rotating the file when the
 * line would take it past `maxBytes`. `file` must be a regular file reached without a symlink (EINVAL, ELOOP
 * otherwise). Throws the file system's error (ENOENT, EACCES, ENXIO for a FIFO without a reader, ...) when the file
 * cannot be opened or written; a short write (a full disk) is reported as EIO, and the rest is not written, so a
 * line is whole or missing, never continued by a later write.
 */
export function appendLine(file: string, line: Buffer, maxBytes = LOG_MAX_BYTES): void {
  for (let attempt = 0; ; attempt++) {
    const fd = openSync(file, APPEND_FLAGS, 0o600);
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw Object.assign(new Error(`${file} is not a regular file`), { code: 'EINVAL' });
      const full = st.size > 0 && st.size + line.length > maxBytes;
      // Reopen after a rotation: `file` is then a new file (this process's or another's). Twice at most.
      if (full && attempt < 2 && rotate(file, st)) continue;
      const n = writeSync(fd, line);
      if (n !== line.length) {
        throw Object.assign(new Error(`short write to ${file}: ${n} of ${line.length} bytes`), { code: 'EIO' });
      }
      return;
    } finally {
      closeSync(fd);
    }
  }
}
