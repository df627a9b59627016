/**
 * One error model for the whole plugin: every failure is a CniError with a spec code, a message and details.
 * Codes 0-99 are the spec's (CNI spec 1.1.0, "Error" section); 100+ are ours and listed in the README.
 */
export const Code = {
  IncompatibleVersion: 1,
  UnsupportedField: 2,
  UnknownContainer: 3,
  InvalidEnv: 4,
  IoFailure: 5,
  DecodeFailure: 6,
  InvalidConfig: 7,
  /** CNI_NETNS names the plugin's own network namespace (libcni's types.ErrInvalidNetNS, as pkg/skel answers it). */
  InvalidNetns: 8,
  TryAgainLater: 11,
  NotAvailable: 50,
  NotAvailableDegraded: 51,
  // Plugin codes (100+). Keep this list and the README's table in step.
  /** A kernel request failed (netlink errno in details). */
  Kernel: 100,
  /** The network namespace path does not exist or is not a network namespace. */
  Netns: 101,
  /** CNI_IFNAME already exists in the container's namespace. */
  IfnameExists: 102,
  /** The named bridge device exists but is not a bridge, or its state conflicts with the config. */
  BridgeConflict: 103,
  /** The delegated IPAM plugin could not be run or returned something unusable. */
  Ipam: 104,
  /** CHECK found the attachment different from what was configured. */
  CheckMismatch: 105,
  /** A firewall (iptables/nftables) step failed. */
  Firewall: 106,
  /** The result cannot be expressed in the requested spec version. */
  ResultConversion: 107,
  /** The kernel lacks a feature this config needs: details name the kernel option and the config key. */
  KernelFeature: 108,
  /**
   * The plugin's own environment is unusable: its runtime directory refused, its native addon not writable or
   * loadable.
   */
  RuntimeEnv: 110,
  /** Anything unexpected: a bug. The message says what. */
  Internal: 999,
} as const;

export type CodeNumber = (typeof Code)[keyof typeof Code] | number;

export class CniError extends Error {
  readonly code: CodeNumber;
  readonly details: string;

  constructor(code: CodeNumber, msg: string, details = '', options?: { cause?: unknown }) {
    super(msg, options);
    this.name = 'CniError';
    this.code = code;
    this.details = details;
  }

  /** The spec's error document; the version is attached at reply time. */
  toJSON(cniVersion: string): { cniVersion: string; code: number; msg: string; details?: string } {
    const out: { cniVersion: string; code: number; msg: string; details?: string } = {
      cniVersion,
      code: this.code,
      msg: this.message,
    };
    if (this.details) out.details = this.details;
    return out;
  }
}

/** Wrap anything thrown into a CniError: known ones pass through, others become 999 with their message. */
export function asCniError(err: unknown): CniError {
  if (err instanceof CniError) return err;
  if (err instanceof Error) return new CniError(Code.Internal, err.message, '', { cause: err });
  return new CniError(Code.Internal, String(err));
}

/** Quote a value for an error detail: strings in JSON quotes, non-finite numbers by name, everything else as JSON. */
export function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  const s = JSON.stringify(value);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/** The "(got X)" that ends an error detail line, or "(missing)" when there is no value. */
export function got(value: unknown): string {
  return value === undefined ? '(missing)' : `(got ${show(value)})`;
}
