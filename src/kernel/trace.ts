// A hook through which a caller sees each kernel step as it ends: every netlink request and dump (named by its
// `op`) and every program run, with its duration. The plugin connects it to its debug log (src/main.ts); the
// kernel layer knows nothing of who listens, and with no listener nothing is measured.

/** One step: a netlink exchange, or a program run by spawnBounded. `ms`: its duration in milliseconds. */
export type KernelStep =
  | { step: 'netlink'; op: string; ms: number; error?: string }
  | {
      step: 'run';
      file: string;
      args: string[];
      ms: number;
      status?: number | null;
      signal?: string | null;
      timedOut?: boolean;
      error?: string;
    };

type Listener = (s: KernelStep) => void;
let listener: Listener | undefined;

/** Sets (or, with undefined, removes) the one listener. It must not throw; if it does, the error is ignored. */
export function setKernelTrace(fn: Listener | undefined): void {
  listener = fn;
}

/** Whether a listener is set: callers skip measuring otherwise. */
export const tracing = (): boolean => listener !== undefined;

/** Tells the listener about a step that ended. */
export function traceStep(s: KernelStep): void {
  try {
    listener?.(s);
  } catch {
    // a log that cannot be written must not fail a kernel step
  }
}

/** Milliseconds since `t0` (a performance.now() value), to 0.01 ms. */
export const since = (t0: number): number => Math.round((performance.now() - t0) * 100) / 100;
