// IP addresses and subnets, as text and as bytes: the one module every layer uses for them (the CNI results'
// validation, netlink's address and route messages, DHCP packets, masquerade rules, the default gateway). It knows
// neither CNI nor Linux, so src/cni (which must not import src/kernel) and src/kernel both import it. The
// arithmetic is the `ip-address` package's where it has it (validation, IPv6 bytes, subnet start addresses).
import type * as IpAddress from 'ip-address';

let loaded: typeof IpAddress | undefined;

/**
 * The ip-address package, loaded on first use: an L2 attachment never handles an address, so its calls never load
 * it (a plain require, which Bun's bundler keeps lazy, because the functions here are synchronous).
 */
function ipAddress(): typeof IpAddress {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- see above: a synchronous load on first use
  return (loaded ??= require('ip-address') as typeof IpAddress);
}

export type Family = 4 | 6;

/**
 * Family of a plain IP address in text (no prefix length, no IPv6 zone such as "%eth0"), or undefined when `s` is
 * not one. Leading zeros in IPv4 octets ("010.1.2.3") are refused, as Go's net.ParseIP refuses them.
 */
export function ipFamily(s: string): Family | undefined {
  const { Address4, Address6 } = ipAddress();
  if (s.includes('/') || s.includes('%')) return undefined;
  if (Address4.isValid(s)) return 4;
  return Address6.isValid(s) ? 6 : undefined;
}

/**
 * Family of an address with prefix length ("10.1.2.3/24", "fd00::5/64"), or undefined when `s` is not one: the
 * prefix is decimal without leading zeros, at most 32 (IPv4) or 128 (IPv6).
 */
export function cidrFamily(s: string): Family | undefined {
  const slash = s.indexOf('/');
  if (slash < 0 || !/^(0|[1-9]\d{0,2})$/.test(s.slice(slash + 1))) return undefined;
  const fam = ipFamily(s.slice(0, slash));
  const bits = Number(s.slice(slash + 1));
  return fam !== undefined && bits <= (fam === 4 ? 32 : 128) ? fam : undefined;
}

/** Family of a plain IP address; throws `not an IP address: "<ip>"` when it is none (zoned IPv6 is accepted). */
export function familyOf(ip: string): Family {
  const { isIPv4, isIPv6 } = process.getBuiltinModule('node:net') as typeof import('node:net');
  if (isIPv4(ip)) return 4;
  if (isIPv6(ip)) return 6;
  throw new Error(`not an IP address: ${JSON.stringify(ip)}`);
}

export interface Cidr {
  /** The address as written (not reduced to the subnet): "10.1.0.5". */
  ip: string;
  /** Prefix length in bits. */
  prefix: number;
  family: Family;
}

/**
 * "10.1.0.5/24" into its address, prefix length and family. Throws `not a CIDR` (no slash), `not an IP address`
 * or `bad prefix in` (not an integer from 0 to 32 or 128).
 */
export function parseCidr(cidr: string): Cidr {
  const slash = cidr.lastIndexOf('/');
  if (slash === -1) throw new Error(`not a CIDR: ${JSON.stringify(cidr)}`);
  const ip = cidr.slice(0, slash);
  const family = familyOf(ip);
  const prefix = Number(cidr.slice(slash + 1));
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > (family === 4 ? 32 : 128))
    throw new Error(`bad prefix in ${JSON.stringify(cidr)}`);
  return { ip, prefix, family };
}

/** The 4 bytes of a dotted-quad IPv4 address, network order; throws `not an IPv4 address: "<ip>"` on anything else. */
export function ipv4ToBytes(ip: string): Buffer {
  const parts = ip.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255))
    throw new Error(`not an IPv4 address: ${JSON.stringify(ip)}`);
  return Buffer.from(parts.map(Number));
}

/** An address as bytes in network order: 4 for IPv4, 16 for IPv6. Throws `not an IP address` on anything else. */
export function ipToBytes(ip: string): Buffer {
  const { Address6 } = ipAddress();
  if (familyOf(ip) === 4) return ipv4ToBytes(ip);
  // toUnsignedByteArray drops leading zero bytes (it is a big integer's bytes): left-pad to 16.
  const bytes = new Address6(ip).toUnsignedByteArray();
  const out = Buffer.alloc(16);
  Buffer.from(bytes).copy(out, 16 - bytes.length);
  return out;
}

/** Bytes in network order back to text: 4 bytes as a dotted quad, otherwise (16) IPv6 in its RFC 5952 form. */
export function bytesToIp(b: Buffer): string {
  const { Address6 } = ipAddress();
  if (b.length === 4) return Array.from(b).join('.');
  return Address6.fromUnsignedByteArray(Array.from(b)).correctForm();
}

/** The IPv4 broadcast address of ip/prefix (none for /31 and /32). */
export function broadcast4(ip: string, prefix: number): string | undefined {
  if (prefix >= 31) return undefined;
  const n = ip.split('.').reduce((a, o) => (a << 8) | Number(o), 0) >>> 0;
  const bc = (n | (0xffffffff >>> prefix)) >>> 0;
  return [bc >>> 24, (bc >>> 16) & 255, (bc >>> 8) & 255, bc & 255].join('.');
}

/**
 * The subnet `cidr` lies in, as a CIDR: '10.1.2.3/24' is '10.1.2.0/24', 'fd00::5/64' is 'fd00::/64'. Throws as
 * parseCidr.
 */
export function subnetOf(cidr: string): string {
  const { Address4, Address6 } = ipAddress();
  const { family, prefix } = parseCidr(cidr);
  const start =
    family === 4 ? new Address4(cidr).startAddress().address : new Address6(cidr).startAddress().correctForm();
  return `${start}/${prefix}`;
}

/** Whether two CIDRs share a subnet, at the shorter of their prefixes ('10.0.0.9/32' lies in '10.0.0.1/24'). */
export function sameSubnet(a: string, b: string): boolean {
  const { Address4, Address6 } = ipAddress();
  const pa = parseCidr(a);
  const pb = parseCidr(b);
  if (pa.family !== pb.family) return false;
  const prefix = Math.min(pa.prefix, pb.prefix);
  if (pa.family === 4)
    return (
      new Address4(`${pa.ip}/${prefix}`).startAddress().address ===
      new Address4(`${pb.ip}/${prefix}`).startAddress().address
    );
  return (
    new Address6(`${pa.ip}/${prefix}`).startAddress().correctForm() ===
    new Address6(`${pb.ip}/${prefix}`).startAddress().correctForm()
  );
}

/** The first host address of the subnet of `cidr`: the subnet's address plus one ('10.1.2.3/24' gives '10.1.2.1'). */
export function firstHost(cidr: string): string {
  const { Address4, Address6 } = ipAddress();
  if (familyOf(parseCidr(cidr).ip) === 4)
    return Address4.fromBigInt(new Address4(cidr).startAddress().bigInt() + 1n).address;
  return Address6.fromBigInt(new Address6(cidr).startAddress().bigInt() + 1n).correctForm();
}

/**
 * The prefix length of an IPv4 subnet mask ('255.255.254.0' is 23), or undefined when its one-bits are not
 * contiguous ('255.0.255.0'). Throws `not an IPv4 address` when `mask` is not a dotted quad.
 */
export function maskPrefix(mask: string): number | undefined {
  const host = ~ipv4ToBytes(mask).readUInt32BE(0) >>> 0;
  // Contiguous when the host bits are 2^k - 1.
  if ((host & (host + 1)) >>> 0 !== 0) return undefined;
  let prefix = 32;
  for (let h = host; h !== 0; h >>>= 1) prefix--;
  return prefix;
}
