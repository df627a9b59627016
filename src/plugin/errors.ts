// Kernel-layer failures turned into CNI errors that say what failed, with the object quoted.
import { CniError, Code } from '../cni/errors.js';
import { KernelError, NetnsError, RuntimeEnvError } from '../kernel/index.js';

/**
 * A failure as a CNI error: NetnsError 101, KernelError 100 (ETIMEDOUT: 11), RuntimeEnvError 110 (named by its own
 * step, not by `what`: the request had nothing to do with it), anything else 999 prefixed with `what`.
 */
export function kernelFailure(what: string, err: unknown): CniError {
  if (err instanceof CniError) return err;
  if (err instanceof RuntimeEnvError)
    return new CniError(Code.RuntimeEnv, `the plugin's own environment is unusable: ${err.message}`, '', {
      cause: err,
    });
  if (err instanceof NetnsError) return new CniError(Code.Netns, `${what}: ${err.message}`, '', { cause: err });
  if (err instanceof KernelError) {
    if (err.code === 'ETIMEDOUT')
      return new CniError(Code.TryAgainLater, `${what}: ${err.message}`, '', { cause: err });
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
