// Name rules shared by env parsing and config parsing, as libcni's pkg/utils enforces them
// (ValidateContainerID, ValidateNetworkName, ValidateInterfaceName), and the MAC address rules.

/** libcni's cniReg: container IDs and network names. */
export const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** Linux IFNAMSIZ is 16 bytes including the NUL, so at most 15 bytes (not characters: "é" is 2 bytes in UTF-8). */
export const MAX_IFNAME = 15;

/** Length of `s` in UTF-8 bytes, what the kernel counts in names. */
export const utf8Bytes = (s: string): number => Buffer.byteLength(s, 'utf8');

/** A UTF-16 surrogate without its pair: valid in a JSON string ("\ud800"), not a character, and no UTF-8. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Go's unicode.IsSpace, which libcni's ValidateInterfaceName applies: Unicode's White_Space, that is JavaScript's
 * `\s` with U+0085 (NEL) and without U+FEFF (Go's unicode/graphic.go and tables.go, White_Space).
 */
const GO_SPACE = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/;

/**
 * Why libcni refuses `name` as an interface name, or null: ValidateInterfaceName (pkg/utils/utils.go, in the copy
 * vendored by plugins v1.9.1) exactly: empty, longer than 15 bytes (Go's len: UTF-8 bytes, as the kernel's
 * IFNAMSIZ counts), "." or "..", or a "/", ":" or Go whitespace. What the reference refuses, it never made.
 */
export function libcniIfnameProblem(name: string): string | null {
  if (name.length === 0) return 'interface name is empty';
  const bytes = utf8Bytes(name);
  if (bytes > MAX_IFNAME) return `interface name is longer than ${MAX_IFNAME} bytes (${bytes} bytes in UTF-8)`;
  if (name === '.' || name === '..') return 'interface name is . or ..';
  if (/[/:]/.test(name) || GO_SPACE.test(name)) return 'interface name contains / or : or whitespace';
  return null;
}

/**
 * Returns why `name` is not a valid interface name, or null when it is: libcniIfnameProblem, and U+FFFD and lone
 * surrogates, which libcni lets through: U+FFFD is what a name that was not UTF-8 decodes to, and a lone surrogate
 * ("b\ud800r" in JSON) is encoded as U+FFFD; either way a device would be made under another name than the one
 * asked for.
 */
export function ifnameProblem(name: string): string | null {
  if (name.includes('\uFFFD') || LONE_SURROGATE.test(name))
    return 'interface name is not valid Unicode text (a lone surrogate, or U+FFFD)';
  return libcniIfnameProblem(name);
}

const MAC_RE = /^[0-9a-fA-F]{2}([:-])[0-9a-fA-F]{2}(\1[0-9a-fA-F]{2}){4}$/;

/** Returns why `mac` is not a usable unicast Ethernet address, or null when it is. */
export function macProblem(mac: string): string | null {
  if (!MAC_RE.test(mac)) return 'not a 48-bit MAC address (aa:bb:cc:dd:ee:ff)';
  const first = parseInt(mac.slice(0, 2), 16);
  if (first & 1) return 'a multicast MAC cannot be an interface address';
  if (/^(00[:-]){5}00$/.test(mac)) return 'the all-zero MAC cannot be an interface address';
  return null;
}

/** Canonical lower-case, colon-separated form of a MAC that passed macProblem. */
export function normalizeMac(mac: string): string {
  return mac.toLowerCase().replace(/-/g, ':');
}
