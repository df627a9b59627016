// Kernel-layer failures turned into CNI errors that say what failed, with the object quoted.
import { CniError, Code } from '../cni/errors.js';
import { KernelError, NetnsError } from '../kernel/index.js';

export function kernelFailure(what: string, err: unknown): CniError {
  if (err instanceof CniError) return err;
  if (err instanceof NetnsError) return new CniError(Code.Netns, `${what}: ${err.message}`, '', { cause: err });
  if (err instanceof KernelError) {
    if (err.code === 'ETIMEDOUT') return new CniError(Code.TryAgainLater, `${what}: ${err.message}`, '', { cause: err });
    return new CniError(Code.Kernel, `${what}: ${err.message}`, `errno ${err.code}`, { cause: err });
  }
  return new CniError(Code.Internal, `${what}: ${(err as Error)?.message ?? String(err)}`, '', { cause: err });
}

/** Runs fn; rethrows any failure as a CNI error prefixed with `what`. */
export function step<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw kernelFailure(what, err);
  }
}
