// DHCPv4 messages (RFC 2131) and the options discover reads (RFC 2132), as bytes. Pure: no sockets here.
//
// Building: a BOOTREQUEST with the magic cookie and options, padded to the 300 bytes BOOTP relays expect.
// Parsing: bounds-checked; an option that appears more than once is concatenated (RFC 3396), and the sname/file
// fields are read for options when option 52 (overload) says so. Anything malformed is a DhcpFormatError.
// Addresses and masks are src/ip.ts's.
import { bytesToIp, ipv4ToBytes, maskPrefix, subnetOf } from '../ip.js';

export const MessageType = {
  DISCOVER: 1,
  OFFER: 2,
  REQUEST: 3,
  DECLINE: 4,
  ACK: 5,
  NAK: 6,
  RELEASE: 7,
  INFORM: 8,
} as const;
export type MessageTypeName = keyof typeof MessageType;

export const Option = {
  PAD: 0,
  SUBNET_MASK: 1,
  ROUTER: 3,
  DNS: 6,
  DOMAIN_NAME: 15,
  INTERFACE_MTU: 26,
  BROADCAST: 28,
  REQUESTED_IP: 50,
  LEASE_TIME: 51,
  OVERLOAD: 52,
  MESSAGE_TYPE: 53,
  SERVER_ID: 54,
  PARAMETER_LIST: 55,
  MESSAGE: 56,
  MAX_MESSAGE_SIZE: 57,
  RENEWAL_TIME: 58,
  REBINDING_TIME: 59,
  CLIENT_ID: 61,
  END: 255,
} as const;

export const SERVER_PORT = 67;
export const CLIENT_PORT = 68;
const BOOTREQUEST = 1;
const BOOTREPLY = 2;
const HTYPE_ETHERNET = 1;
const MAGIC_COOKIE = 0x63825363;
/** op..file: the fixed BOOTP part before the cookie. */
const FIXED = 236;
const MIN_PACKET = 300;
const FLAG_BROADCAST = 0x8000;

/** What discover asks every server for: mask, router, DNS, domain, MTU, broadcast, lease and server id, T1/T2. */
export const REQUESTED_OPTIONS = [1, 3, 6, 15, 26, 28, 51, 54, 58, 59];

export class DhcpFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DhcpFormatError';
  }
}

/** The IPv4 address in the 4 bytes at `off`. */
const bufToIp = (b: Buffer, off = 0): string => bytesToIp(b.subarray(off, off + 4));

export function macToBuf(mac: string): Buffer {
  const parts = mac.split(/[:-]/);
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p)))
    throw new Error(`not a MAC address: ${JSON.stringify(mac)}`);
  return Buffer.from(parts.map((p) => parseInt(p, 16)));
}

export interface RequestSpec {
  type: MessageTypeName;
  xid: number;
  mac: string;
  /** Seconds since the client began (the `secs` field). */
  secs?: number;
  /** The client's address: only for INFORM and RELEASE (and RENEW, unused here). */
  ciaddr?: string;
  /** Ask servers to broadcast their answer: needed while the client has no address (RFC 2131 4.1). */
  broadcast?: boolean;
  /** Option 50: the offered address, in a REQUEST that selects an offer. */
  requestedIp?: string;
  /** Option 54: the server chosen (REQUEST after an offer) or released from (RELEASE). */
  serverId?: string;
  /** Option 57; 576 at least. */
  maxMessageSize?: number;
  /** Option 55; REQUESTED_OPTIONS unless given. Not sent in RELEASE. */
  parameters?: number[];
}

function opt(code: number, data: Buffer): Buffer {
  if (data.length > 255) throw new Error(`option ${code} is too long (${data.length} bytes)`);
  return Buffer.concat([Buffer.from([code, data.length]), data]);
}

const u16 = (v: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v);
  return b;
};

/** A BOOTREQUEST carrying one DHCP message. */
export function buildRequest(r: RequestSpec): Buffer {
  const mac = macToBuf(r.mac);
  const fixed = Buffer.alloc(FIXED);
  fixed.writeUInt8(BOOTREQUEST, 0);
  fixed.writeUInt8(HTYPE_ETHERNET, 1);
  fixed.writeUInt8(6, 2);
  fixed.writeUInt32BE(r.xid >>> 0, 4);
  fixed.writeUInt16BE(Math.min(Math.max(0, Math.floor(r.secs ?? 0)), 0xffff), 8);
  fixed.writeUInt16BE(r.broadcast ? FLAG_BROADCAST : 0, 10);
  if (r.ciaddr) ipv4ToBytes(r.ciaddr).copy(fixed, 12);
  mac.copy(fixed, 28);
  const cookie = Buffer.alloc(4);
  cookie.writeUInt32BE(MAGIC_COOKIE);
  const options = [opt(Option.MESSAGE_TYPE, Buffer.from([MessageType[r.type]]))];
  options.push(opt(Option.CLIENT_ID, Buffer.concat([Buffer.from([HTYPE_ETHERNET]), mac])));
  if (r.requestedIp) options.push(opt(Option.REQUESTED_IP, ipv4ToBytes(r.requestedIp)));
  if (r.serverId) options.push(opt(Option.SERVER_ID, ipv4ToBytes(r.serverId)));
  if (r.type !== 'RELEASE') {
    options.push(opt(Option.MAX_MESSAGE_SIZE, u16(Math.max(576, Math.min(r.maxMessageSize ?? 1500, 0xffff)))));
    options.push(opt(Option.PARAMETER_LIST, Buffer.from(r.parameters ?? REQUESTED_OPTIONS)));
  }
  options.push(Buffer.from([Option.END]));
  const packet = Buffer.concat([fixed, cookie, ...options]);
  return packet.length >= MIN_PACKET ? packet : Buffer.concat([packet, Buffer.alloc(MIN_PACKET - packet.length)]);
}

export interface Packet {
  op: number;
  xid: number;
  flags: number;
  ciaddr: string;
  yiaddr: string;
  siaddr: string;
  giaddr: string;
  /** Client hardware address, for Ethernet (hlen 6); '' otherwise. */
  chaddr: string;
  /** Options by code, repeated instances concatenated. */
  options: Map<number, Buffer>;
}

/** Walks one options area into `into`; END stops it, PAD is one byte. */
function readOptions(buf: Buffer, start: number, end: number, into: Map<number, Buffer>, where: string): void {
  let off = start;
  while (off < end) {
    const code = buf[off]!;
    if (code === Option.END) return;
    if (code === Option.PAD) {
      off++;
      continue;
    }
    if (off + 1 >= end) throw new DhcpFormatError(`option ${code} in ${where} has no length byte`);
    const len = buf[off + 1]!;
    if (off + 2 + len > end) throw new DhcpFormatError(`option ${code} in ${where} runs past the end (${len} bytes)`);
    const data = buf.subarray(off + 2, off + 2 + len);
    const had = into.get(code);
    into.set(code, had ? Buffer.concat([had, data]) : Buffer.from(data));
    off += 2 + len;
  }
}

export function parsePacket(buf: Buffer): Packet {
  if (buf.length < FIXED + 4) throw new DhcpFormatError(`too short for a DHCP message (${buf.length} bytes)`);
  if (buf.readUInt32BE(FIXED) !== MAGIC_COOKIE) throw new DhcpFormatError('no DHCP magic cookie');
  const htype = buf[1]!;
  const hlen = buf[2]!;
  const options = new Map<number, Buffer>();
  readOptions(buf, FIXED + 4, buf.length, options, 'the options field');
  const overload = options.get(Option.OVERLOAD)?.[0] ?? 0;
  // RFC 2132 9.3: 1 = file holds options, 2 = sname does, 3 = both; read file first, then sname.
  if (overload & 1) readOptions(buf, 108, 236, options, 'the file field');
  if (overload & 2) readOptions(buf, 44, 108, options, 'the sname field');
  return {
    op: buf[0]!,
    xid: buf.readUInt32BE(4),
    flags: buf.readUInt16BE(10),
    ciaddr: bufToIp(buf, 12),
    yiaddr: bufToIp(buf, 16),
    siaddr: bufToIp(buf, 20),
    giaddr: bufToIp(buf, 24),
    chaddr:
      htype === HTYPE_ETHERNET && hlen === 6
        ? Array.from(buf.subarray(28, 34), (x) => x.toString(16).padStart(2, '0')).join(':')
        : '',
    options,
  };
}

/** What a server said, decoded. Fields are absent when the server did not send the option. */
export interface Answer {
  type: MessageTypeName;
  /** yiaddr: the address offered or acknowledged (0.0.0.0 in an ACK to INFORM). */
  address: string;
  /** Option 54, else the packet's siaddr when set. */
  server?: string;
  subnetMask?: string;
  routers: string[];
  dns: string[];
  domain?: string;
  mtu?: number;
  broadcast?: string;
  leaseTime?: number;
  renewalTime?: number;
  rebindingTime?: number;
  /** Option 56, a server's explanation (in a NAK). */
  message?: string;
  /** Malformed options discover can do without, left out of the fields above: one line each. */
  ignored?: string[];
}

function ipList(b: Buffer | undefined, code: number): string[] {
  if (!b) return [];
  if (b.length === 0 || b.length % 4 !== 0)
    throw new DhcpFormatError(`option ${code} must hold IPv4 addresses (got ${b.length} bytes)`);
  const out: string[] = [];
  for (let i = 0; i < b.length; i += 4) out.push(bufToIp(b, i));
  return out;
}

function oneIp(b: Buffer | undefined, code: number): string | undefined {
  if (!b) return undefined;
  if (b.length !== 4) throw new DhcpFormatError(`option ${code} must be one IPv4 address (got ${b.length} bytes)`);
  return bufToIp(b);
}

function uint(b: Buffer | undefined, code: number, size: 2 | 4): number | undefined {
  if (!b) return undefined;
  if (b.length !== size) throw new DhcpFormatError(`option ${code} must be ${size} bytes (got ${b.length})`);
  return size === 2 ? b.readUInt16BE(0) : b.readUInt32BE(0);
}

const NAMES = Object.fromEntries(Object.entries(MessageType).map(([k, v]) => [v, k])) as Record<
  number,
  MessageTypeName
>;

/**
 * Decodes a BOOTREPLY into the fields discover reports. A malformed message type, server identifier, subnet mask
 * or router throws DhcpFormatError (the answer cannot be used); a malformed option discover can do without (DNS,
 * domain, MTU, broadcast, lease times) is left out and named in `ignored`, so one bad option does not cost the
 * whole answer.
 */
export function readAnswer(p: Packet): Answer {
  if (p.op !== BOOTREPLY) throw new DhcpFormatError(`not a BOOTREPLY (op ${p.op})`);
  const t = p.options.get(Option.MESSAGE_TYPE);
  if (!t || t.length !== 1 || !NAMES[t[0]!]) throw new DhcpFormatError('no valid DHCP message type (option 53)');
  const ignored: string[] = [];
  const soft = <T>(read: () => T): T | undefined => {
    try {
      return read();
    } catch (err) {
      if (!(err instanceof DhcpFormatError)) throw err;
      ignored.push(`${err.message}: ignored`);
      return undefined;
    }
  };
  const a: Answer = {
    type: NAMES[t[0]!]!,
    address: p.yiaddr,
    routers: ipList(p.options.get(Option.ROUTER), Option.ROUTER),
    dns: soft(() => ipList(p.options.get(Option.DNS), Option.DNS)) ?? [],
  };
  const server =
    oneIp(p.options.get(Option.SERVER_ID), Option.SERVER_ID) ?? (p.siaddr !== '0.0.0.0' ? p.siaddr : undefined);
  if (server) a.server = server;
  const mask = oneIp(p.options.get(Option.SUBNET_MASK), Option.SUBNET_MASK);
  if (mask) a.subnetMask = mask;
  const mtu = soft(() => uint(p.options.get(Option.INTERFACE_MTU), Option.INTERFACE_MTU, 2));
  // RFC 2132 5.1: the minimum legal value is 68; a smaller one is ignored rather than trusted.
  if (mtu !== undefined && mtu >= 68) a.mtu = mtu;
  const bc = soft(() => oneIp(p.options.get(Option.BROADCAST), Option.BROADCAST));
  if (bc) a.broadcast = bc;
  const lease = soft(() => uint(p.options.get(Option.LEASE_TIME), Option.LEASE_TIME, 4));
  if (lease !== undefined) a.leaseTime = lease;
  const t1 = soft(() => uint(p.options.get(Option.RENEWAL_TIME), Option.RENEWAL_TIME, 4));
  if (t1 !== undefined) a.renewalTime = t1;
  const t2 = soft(() => uint(p.options.get(Option.REBINDING_TIME), Option.REBINDING_TIME, 4));
  if (t2 !== undefined) a.rebindingTime = t2;
  const domain = p.options.get(Option.DOMAIN_NAME);
  if (domain?.length) a.domain = domain.toString('latin1').replace(/\0+$/, '');
  const msg = p.options.get(Option.MESSAGE);
  if (msg?.length) a.message = msg.toString('utf8').replace(/\0+$/, '');
  if (ignored.length) a.ignored = ignored;
  return a;
}

/**
 * The prefix length of a subnet mask (option 1). Throws DhcpFormatError on a mask that is not contiguous
 * (255.0.255.0), and `not an IPv4 address` on one that is no dotted quad.
 */
export function maskToPrefix(mask: string): number {
  const prefix = maskPrefix(mask);
  if (prefix === undefined) throw new DhcpFormatError(`subnet mask ${mask} is not contiguous`);
  return prefix;
}

/**
 * The subnet mask applied to an IPv4 address, as Harvester derives a VLAN network's CIDR from the router:
 * ('10.0.0.1', '255.255.255.0') gives '10.0.0.0/24'. Throws as maskToPrefix, or `not an IPv4 address` for `ip`.
 */
export function cidrOf(ip: string, mask: string): string {
  const prefix = maskToPrefix(mask);
  return subnetOf(`${bytesToIp(ipv4ToBytes(ip))}/${prefix}`);
}
