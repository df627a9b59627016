// Addresses (RTM_NEWADDR / RTM_GETADDR / RTM_DELADDR), IPv4 and IPv6.
import { broadcast4, bytesToIp, ipToBytes, parseCidr, type Family } from '../ip.js';
import { attrMap, bytes, u32 } from './netlink/attrs.js';
import * as C from './netlink/constants.js';
import type { NetlinkSocket } from './netlink/socket.js';

export interface Address {
  index: number;
  family: Family;
  /** "10.1.0.5/24" */
  cidr: string;
  ip: string;
  prefix: number;
  scope: number;
  flags: number;
}

const afOf = (f: Family) => (f === 4 ? C.AF_INET : C.AF_INET6);

function ifaddrmsg(family: number, prefix: number, index: number, flags = 0): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt8(family, 0);
  b.writeUInt8(prefix, 1);
  b.writeUInt8(flags & 0xff, 2);
  b.writeUInt32LE(index, 4);
  return b;
}

function body(index: number, cidr: string, noDad: boolean): Buffer {
  const { ip, prefix, family } = parseCidr(cidr);
  const raw = ipToBytes(ip);
  const attrs = [bytes(C.IFA_LOCAL, raw), bytes(C.IFA_ADDRESS, raw)];
  const bc = family === 4 ? broadcast4(ip, prefix) : undefined;
  if (bc) attrs.push(bytes(C.IFA_BROADCAST, ipToBytes(bc)));
  const flags = noDad ? C.IFA_F_NODAD : 0;
  if (flags) attrs.push(u32(C.IFA_FLAGS, flags));
  return Buffer.concat([ifaddrmsg(afOf(family), prefix, index, flags), ...attrs]);
}

/** Adds ip/prefix to a link; `replace` turns an existing equal address into a no-op rather than EEXIST. */
export function addAddress(
  sock: NetlinkSocket,
  index: number,
  cidr: string,
  o: { noDad?: boolean; replace?: boolean } = {},
): void {
  const flags = C.NLM_F_CREATE | (o.replace ? C.NLM_F_REPLACE : C.NLM_F_EXCL);
  sock.request(C.RTM_NEWADDR, flags, body(index, cidr, o.noDad ?? false), `add address ${cidr} to link ${index}`);
}

/** Removes ip/prefix from a link (RTM_DELADDR). Throws KernelError: EADDRNOTAVAIL when it is not there. */
export function delAddress(sock: NetlinkSocket, index: number, cidr: string): void {
  sock.request(C.RTM_DELADDR, 0, body(index, cidr, false), `delete address ${cidr} from link ${index}`);
}

/**
 * The addresses of every link (RTM_GETADDR dump), or of one link or family. `scope` is the kernel's rtm_scope number
 * (RT_SCOPE_UNIVERSE for global addresses); `flags` are IFA_F_* (IFA_FLAGS when present, else the 8-bit ifa_flags).
 */
export function listAddresses(sock: NetlinkSocket, filter: { index?: number; family?: Family } = {}): Address[] {
  const fam = filter.family ? afOf(filter.family) : C.AF_UNSPEC;
  const out: Address[] = [];
  for (const m of sock.dump(C.RTM_GETADDR, ifaddrmsg(fam, 0, 0), 'list addresses')) {
    if (m.type !== C.RTM_NEWADDR) continue;
    const family: Family = m.data.readUInt8(0) === C.AF_INET ? 4 : 6;
    const prefix = m.data.readUInt8(1);
    const index = m.data.readUInt32LE(4);
    if (filter.index !== undefined && index !== filter.index) continue;
    if (filter.family !== undefined && family !== filter.family) continue;
    const a = attrMap(m.data, 8);
    const raw = a.get(C.IFA_LOCAL) ?? a.get(C.IFA_ADDRESS);
    if (!raw) continue;
    const ip = bytesToIp(raw);
    const flagsAttr = a.get(C.IFA_FLAGS);
    out.push({
      index,
      family,
      ip,
      prefix,
      cidr: `${ip}/${prefix}`,
      scope: m.data.readUInt8(3),
      flags: flagsAttr ? flagsAttr.readUInt32LE(0) : m.data.readUInt8(2),
    });
  }
  return out;
}
