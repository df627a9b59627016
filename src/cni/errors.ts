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
   * The plugin's own environment is unusable: libc cannot be bound (bun:ffi), its state directory refused, a program
   * it runs cannot be started.
   */
  RuntimeEnv: 110,
  /** Anything unexpected: a bug. The message says what. */
  Internal: 999,
} as const;

export type CodeNumber = (typeof Code)[keyof typeof Code] | number;

// Errors are bounded whatever the input: kubelet copies a CNI error into the pod's events and its own log, and a
// config or environment may be as large as its author likes (a 10,000-entry vlanTrunk, a 1 MB name). A value
// quoted in an error is cut after MAX_QUOTED characters (show, cut), a list of problems stops after MAX_LISTED
// (listed), and every CniError's msg and details are cut to a size at which its whole JSON stays under 4 KiB.

/** Characters of a value quoted in an error; the rest is left out and counted ("…(N more characters)"). */
export const MAX_QUOTED = 64;
/** Problems listed in one error; the rest is counted ("and N more"). */
export const MAX_LISTED = 20;
/** Bytes (in UTF-8, as JSON) that a list of problems may take before it stops early. */
const LIST_BYTES = 2048;
/** Bytes (in UTF-8, as JSON) of an error's msg and of its details: with the rest of the document, under 4 KiB. */
const MSG_BYTES = 1024;
const DETAILS_BYTES = 2560;

/** Bytes that `s` takes inside a JSON string in UTF-8 (escapes included, quotes not). */
const jsonBytes = (s: string): number => Buffer.byteLength(JSON.stringify(s)) - 2;

/** The first `n` characters of `s`, one fewer when the n-th would split a surrogate pair. */
function head(s: string, n: number): string {
  const c = s.charCodeAt(n - 1);
  return s.slice(0, c >= 0xd800 && c <= 0xdbff ? n - 1 : n);
}

/** `s` with its end cut off and counted. */
const marked = (kept: string, s: string): string => `${kept}…(${s.length - kept.length} more characters)`;

/** `text` cut after `max` characters (default MAX_QUOTED), marked "…(N more characters)"; as it is when shorter. */
export function cut(text: string, max = MAX_QUOTED): string {
  return text.length <= max ? text : marked(head(text, max), text);
}

/** `text` cut, marked as by cut(), so that it takes at most `maxBytes` as a JSON string in UTF-8. */
function fit(text: string, maxBytes: number): string {
  if (text.length <= maxBytes / 6 || jsonBytes(text) <= maxBytes) return text;
  // Every character takes at least one byte: the longest prefix that fits is no longer than maxBytes.
  let lo = 0;
  let hi = Math.min(text.length, maxBytes);
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (jsonBytes(marked(head(text, mid), text)) <= maxBytes) lo = mid;
    else hi = mid - 1;
  }
  return marked(head(text, lo), text);
}

/**
 * Problems joined with `sep`: at most MAX_LISTED of them, and fewer when they would take more than about 2 KiB,
 * then "and N more".
 */
export function listed(items: readonly string[], sep = '; '): string {
  const out: string[] = [];
  let bytes = 0;
  for (const item of items) {
    const b = jsonBytes(item) + sep.length;
    if (out.length === MAX_LISTED || (out.length > 0 && bytes + b > LIST_BYTES)) break;
    out.push(out.length === 0 ? fit(item, LIST_BYTES) : item);
    bytes += b;
  }
  const more = items.length - out.length;
  return more > 0 ? `${out.join(sep)}${sep}and ${more} more` : out.join(sep);
}

export class CniError extends Error {
  readonly code: CodeNumber;
  readonly details: string;

  /** `msg` and `details` are cut (marked) where they would make the error's JSON larger than 4 KiB. */
  constructor(code: CodeNumber, msg: string, details = '', options?: { cause?: unknown }) {
    super(fit(msg, MSG_BYTES), options);
    this.name = 'CniError';
    this.code = code;
    this.details = fit(details, DETAILS_BYTES);
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

/**
 * Quote a value for an error: strings in JSON quotes, everything else as JSON; cut after MAX_QUOTED characters
 * ('"nnnn…(1048517 more characters)'). A number JSON.parse could not hold as written is not shown as the double it
 * became: an integer of magnitude 2^53 or more ("9007199254740993" reads as 9007199254740992) by its magnitude,
 * one beyond the doubles' range (1e400, read as Infinity) as such.
 */
export function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'number' && Number.isNaN(value)) return 'NaN';
  if (typeof value === 'number' && !Number.isFinite(value)) return 'a number beyond the range of a double';
  if (typeof value === 'number' && Number.isInteger(value) && !Number.isSafeInteger(value))
    return `an integer of magnitude 2^53 or more, not held exactly: about ${value.toPrecision(4)}`;
  return cut(JSON.stringify(value) ?? String(value));
}

/** The "(got X)" that ends an error detail line, or "(missing)" when there is no value. */
export function got(value: unknown): string {
  return value === undefined ? '(missing)' : `(got ${show(value)})`;
}
