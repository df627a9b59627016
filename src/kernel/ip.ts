// Addresses to and from the bytes netlink carries.
import { isIPv4, isIPv6 } from 'node:net';
import { Address4, Address6 } from 'ip-address';

export type Family = 4 | 6;

export function familyOf(ip: string): Family {
  if (isIPv4(ip)) return 4;
  if (isIPv6(ip)) return 6;
  throw new Error(`not an IP address: ${JSON.stringify(ip)}`);
}

export function ipToBytes(ip: string): Buffer {
  if (familyOf(ip) === 4) return Buffer.from(ip.split('.').map(Number));
  // toUnsignedByteArray drops leading zero bytes (it is a big integer's bytes): left-pad to 16.
  const bytes = new Address6(ip).toUnsignedByteArray();
  const out = Buffer.alloc(16);
  Buffer.from(bytes).copy(out, 16 - bytes.length);
  return out;
}

export function bytesToIp(b: Buffer): string {
  if (b.length === 4) return Array.from(b).join('.');
  return Address6.fromUnsignedByteArray(Array.from(b)).correctForm();
}

export interface Cidr {
  ip: string;
  prefix: number;
  family: Family;
}

export function parseCidr(cidr: string): Cidr {
  const slash = cidr.lastIndexOf('/');
  if (slash === -1) throw new Error(`not a CIDR: ${JSON.stringify(cidr)}`);
  const ip = cidr.slice(0, slash);
  const family = familyOf(ip);
  const prefix = Number(cidr.slice(slash + 1));
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > (family === 4 ? 32 : 128)) throw new Error(`bad prefix in ${JSON.stringify(cidr)}`);
  return { ip, prefix, family };
}

/** The IPv4 broadcast address of ip/prefix (none for /31 and /32). */
export function broadcast4(ip: string, prefix: number): string | undefined {
  if (prefix >= 31) return undefined;
  const n = ip.split('.').reduce((a, o) => (a << 8) | Number(o), 0) >>> 0;
  const bc = (n | (0xffffffff >>> prefix)) >>> 0;
  return [bc >>> 24, (bc >>> 16) & 255, (bc >>> 8) & 255, bc & 255].join('.');
}

/** Whether two CIDRs share a subnet, at the shorter of their prefixes ('10.0.0.9/32' lies in '10.0.0.1/24'). */
export function sameSubnet(a: string, b: string): boolean {
  const pa = parseCidr(a);
  const pb = parseCidr(b);
  if (pa.family !== pb.family) return false;
  const prefix = Math.min(pa.prefix, pb.prefix);
  if (pa.family === 4) return new Address4(`${pa.ip}/${prefix}`).startAddress().address === new Address4(`${pb.ip}/${prefix}`).startAddress().address;
  return new Address6(`${pa.ip}/${prefix}`).startAddress().correctForm() === new Address6(`${pb.ip}/${prefix}`).startAddress().correctForm();
}
