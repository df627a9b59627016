// Process glue: real stdin/stdout/stderr and exit code around the dispatcher.
import { readSync, writeSync } from 'node:fs';
import { dispatch } from './cni/dispatch.js';
import type { HandlersLoader } from './cni/context.js';
import { CniError, Code } from './cni/errors.js';

/**
 * Reads all of fd 0 synchronously; no stdin (closed, or a directory) reads as ''. Throws CniError 6 when the bytes
 * are not UTF-8: decoding them with replacement characters would make the plugin act on names (a bridge, an
 * IPAM plugin) other than the ones it was given.
 */
export function readAllStdin(): string {
  const chunks: Buffer[] = [];
  const buf = Buffer.allocUnsafe(65536);
  for (;;) {
    let n: number;
    try {
      n = readSync(0, buf, 0, buf.length, null);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') continue; // a non-blocking pipe with nothing yet
      if (code === 'EOF' || code === 'EBADF' || code === 'EISDIR' || code === 'ENXIO') break;
      throw err;
    }
    if (n === 0) break;
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(Buffer.concat(chunks));
  } catch {
    throw new CniError(Code.DecodeFailure, 'network configuration is not valid UTF-8');
  }
}

/** Writes everything to fd, synchronously, so nothing is lost when the process exits. */
function writeAll(fd: number, s: string): void {
  const b = Buffer.from(s, 'utf8');
  let off = 0;
  while (off < b.length) {
    try {
      off += writeSync(fd, b, off);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
    }
  }
}

/**
 * Says on stderr, in one line and without a stack trace, that stdout could not be written (a full disk behind it, a
 * closed pipe): nothing more can be said on stdout. Used by the CNI path and by the command line. Never throws.
 */
export function reportStdoutFailure(err: unknown): void {
  try {
    writeAll(2, `vlan-bridge: cannot write to stdout: ${(err as Error)?.message ?? String(err)}\n`);
  } catch {
    // stderr is gone too
  }
}

/** Runs one CNI invocation on the process's stdin, stdout, stderr and environment, then exits with its code. */
export async function runCni(handlers: HandlersLoader): Promise<void> {
  let code: number;
  try {
    code = await dispatch(
      { env: process.env, readStdin: readAllStdin, stdout: (s) => writeAll(1, s), stderr: (s) => writeAll(2, s) },
      handlers,
    );
  } catch (err) {
    // stdout itself failed: dispatch answers every other failure on stdout.
    reportStdoutFailure(err);
    code = 1;
  }
  // Everything is written (synchronously) and every child has been waited for: exit now instead of tearing
  // the environment down piece by piece, which costs a runtime on the pod-start path a few ms per call.
  process.exit(code);
}
