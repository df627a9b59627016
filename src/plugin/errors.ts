// The one place where a failure becomes a CNI error, as pkg/skel is for the reference plugins: the table below
// gives every kind of failure that the layers under the commands throw its CNI code, whatever the call site. The
// commands' boundary (handlers.ts) runs it on whatever a command throws; step() and Failures run it earlier only
// to put the step's name in front of the message. What the table does not know (a TypeError, a RangeError) is a
// bug of ours: 999, with the error kept as the cause, so that the log gets its stack trace (dispatch.ts).
//
// | thrown                                                        | code                                       |
// | ------------------------------------------------------------- | ------------------------------------------ |
// | CniError (a step that knows better: 102, 103, 104, 106, 108)  | its own                                    |
// | KernelError, SpawnError or file error ETIMEDOUT or EAGAIN     | 11, try again later (details: the errno)   |
// | KernelError (a netlink request, a libc call on the kernel)    | 100, details "errno E..."                  |
// | file error on a kernel setting (/proc/sys, /sys)              | 100, details "errno E..."                  |
// | NetnsError (CNI_NETNS missing, not a network namespace)       | 101                                        |
// | RuntimeEnvError (libc cannot be bound)                        | 110, the plugin's own environment          |
// | StateDirError (the uplink VLAN records' directory)            | 110, details the errno when there is one   |
// | file error elsewhere (the state directory, a lock file)       | 110                                        |
// | SpawnError (a program could not be started)                   | 110; IPAM (104) and iptables/nft (106)     |
// |                                                               | answer their own code where they run       |
// | anything else                                                 | 999, a bug                                 |
import { CniError, Code, cut, type CodeNumber } from '../cni/errors.js';
import { KernelError, NetnsError, RuntimeEnvError } from '../kernel/index.js';
import { SpawnError } from '../kernel/spawn.js';
import { StateDirError } from './uplink-vlans/record.js';

/** errnos that say "not now" rather than "no": a netlink request that got no answer, a resource busy for now. */
const TRANSIENT = new Set(['ETIMEDOUT', 'EAGAIN', 'EWOULDBLOCK']);

/** A file system error as Node and Bun throw them: an errno name in `code`, and the call or the errno number. */
interface FileError extends Error {
  code: string;
  path?: string;
}

function isFileError(err: unknown): err is FileError {
  if (!(err instanceof Error)) return false;
  const e = err as Partial<NodeJS.ErrnoException>;
  return (
    typeof e.code === 'string' &&
    /^E[A-Z0-9]+$/.test(e.code) &&
    (typeof e.errno === 'number' || typeof e.syscall === 'string')
  );
}

/** A kernel setting rather than a file of ours: what the kernel refuses there is a kernel refusal. */
const isKernelSetting = (path: string | undefined): boolean =>
  path !== undefined && (path.startsWith('/proc/sys/') || path.startsWith('/sys/'));

/** The code and details of a failure the table knows, or undefined for a bug. */
function classify(err: unknown): { code: CodeNumber; details: string } | undefined {
  if (err instanceof RuntimeEnvError) return { code: Code.RuntimeEnv, details: '' };
  if (err instanceof StateDirError) return { code: Code.RuntimeEnv, details: err.errno ? `errno ${err.errno}` : '' };
  if (err instanceof NetnsError) return { code: Code.Netns, details: '' };
  let errno: string;
  let code: CodeNumber;
  if (err instanceof KernelError) [errno, code] = [err.code, Code.Kernel];
  else if (err instanceof SpawnError) [errno, code] = [err.code, Code.RuntimeEnv];
  else if (isFileError(err)) [errno, code] = [err.code, isKernelSetting(err.path) ? Code.Kernel : Code.RuntimeEnv];
  else return undefined;
  return { code: TRANSIENT.has(errno) ? Code.TryAgainLater : code, details: `errno ${errno}` };
}

/**
 * `err` as a CNI error by the table above; `what` (the step) prefixes the message. A CniError passes through as it
 * is; a RuntimeEnvError or StateDirError is named by its own step, not by `what` (the request had nothing to do
 * with it).
 */
export function toCniError(err: unknown, what?: string): CniError {
  if (err instanceof CniError) return err;
  // A namespace path comes from CNI_NETNS, as long as the runtime likes: quoted once, cut.
  const message = err instanceof NetnsError ? `${cut(err.path)}: ${err.why}` : ((err as Error)?.message ?? String(err));
  const known = classify(err);
  if (known?.code === Code.RuntimeEnv && (err instanceof RuntimeEnvError || err instanceof StateDirError))
    return new CniError(Code.RuntimeEnv, `the plugin's own environment is unusable: ${message}`, known.details, {
      cause: err,
    });
  const msg = what ? `${what}: ${message}` : message;
  if (!known) return new CniError(Code.Internal, msg, '', { cause: err });
  return new CniError(known.code, msg, known.details, { cause: err });
}

/** Runs fn; rethrows any failure as a CNI error (toCniError) prefixed with `what`. */
export function step<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw toCniError(err, what);
  }
}
