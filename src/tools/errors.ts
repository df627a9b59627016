// Exit codes of the operator tools (listed in the README) and the error that carries one.
import { KernelError, NetnsError } from '../kernel/errors.js';

export const Exit = {
  Ok: 0,
  /** Anything unexpected (a bug): the message says what. */
  Internal: 1,
  /** Unknown subcommand, unknown or malformed option. */
  Usage: 2,
  /** A kernel request failed (netlink, namespace, socket). */
  Kernel: 3,
  /** The bridge cannot be used: missing, not a bridge, VLAN filtering off for a VLAN. */
  Bridge: 4,
  /** discover: no DHCP server answered within --timeout. */
  NoAnswer: 5,
  /** discover: the server refused (DHCPNAK) or its answer lacks what a route needs (subnet mask). */
  BadAnswer: 6,
  /** discover --ping: the gateway did not answer (the JSON is printed all the same). */
  GatewayDown: 7,
  /** doctor: warnings only. */
  Warnings: 8,
  /** doctor: at least one error. */
  Problems: 9,
  /** Interrupted by SIGHUP / SIGINT / SIGTERM (128 + signal number), after removing what the tool made. */
  SigHup: 129,
  SigInt: 130,
  SigTerm: 143,
} as const;

export class ToolError extends Error {
  constructor(
    readonly exit: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ToolError';
  }
}

export class UsageError extends ToolError {
  constructor(message: string) {
    super(Exit.Usage, message);
    this.name = 'UsageError';
  }
}

/** Interrupted by a signal: the abort reason discover's steps see. */
export class Interrupted extends ToolError {
  constructor(readonly signal: 'SIGHUP' | 'SIGINT' | 'SIGTERM') {
    super(
      signal === 'SIGHUP' ? Exit.SigHup : signal === 'SIGINT' ? Exit.SigInt : Exit.SigTerm,
      `interrupted by ${signal}`,
    );
    this.name = 'Interrupted';
  }
}

/** Runs fn; a kernel failure becomes a ToolError (exit 3) that says which step failed. */
export function step<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw asToolError(what, err);
  }
}

export function asToolError(what: string, err: unknown): ToolError {
  if (err instanceof ToolError) return err;
  // Kernel-layer errors, and Node's own system errors (a socket call that failed).
  if (
    err instanceof KernelError ||
    err instanceof NetnsError ||
    typeof (err as NodeJS.ErrnoException)?.syscall === 'string'
  ) {
    return new ToolError(Exit.Kernel, `${what}: ${(err as Error).message}`, { cause: err });
  }
  return new ToolError(Exit.Internal, `${what}: ${(err as Error)?.message ?? String(err)}`, { cause: err });
}
