// ICMP echo from inside the probe's namespace, with no ping binary: a raw socket (we are root) through libc,
// created there synchronously, connected to the gateway (so only its packets arrive) and read without blocking.
import { KernelError, inNetns, type Netns } from '../kernel/index.js';
import { libcFunction, loadLibc } from '../kernel/native.js';
import { ipToBuf } from './dhcp-packet.js';
import { asToolError, step } from './errors.js';

const AF_INET = 2;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0x80000;
const IPPROTO_ICMP = 1;
const MSG_DONTWAIT = 0x40;
const EAGAIN = 11;
const EINTR = 4;
const ENETUNREACH = 101;
const EHOSTUNREACH = 113;
const ICMP_ECHO_REPLY = 0;
const ICMP_ECHO_REQUEST = 8;

/** The Internet checksum (RFC 1071) of b. */
export function inetChecksum(b: Buffer): number {
  let sum = 0;
  for (let i = 0; i + 1 < b.length; i += 2) sum += b.readUInt16BE(i);
  if (b.length % 2) sum += b[b.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

export function buildEchoRequest(id: number, seq: number, payload: Buffer = Buffer.alloc(56)): Buffer {
  const b = Buffer.alloc(8 + payload.length);
  b.writeUInt8(ICMP_ECHO_REQUEST, 0);
  b.writeUInt16BE(id & 0xffff, 4);
  b.writeUInt16BE(seq & 0xffff, 6);
  payload.copy(b, 8);
  b.writeUInt16BE(inetChecksum(b), 2);
  return b;
}

/** An echo reply's id and seq from what a raw IPv4 ICMP socket reads (the IP header first), else null. */
export function parseEchoReply(b: Buffer): { id: number; seq: number } | null {
  if (b.length < 20 || b[0]! >> 4 !== 4) return null;
  const ihl = (b[0]! & 0x0f) * 4;
  if (ihl < 20 || b.length < ihl + 8) return null;
  if (b[ihl] !== ICMP_ECHO_REPLY || b[ihl + 1] !== 0) return null;
  return { id: b.readUInt16BE(ihl + 4), seq: b.readUInt16BE(ihl + 6) };
}

function sockaddrIn(ip: string): Buffer {
  const sa = Buffer.alloc(16);
  sa.writeUInt16LE(AF_INET, 0);
  ipToBuf(ip).copy(sa, 4);
  return sa;
}

export interface PingResult {
  reachable: boolean;
  sent: number;
  /** Round trip of the first reply. */
  rttMs?: number;
}

/** Up to `tries` echo requests to `dst`, `waitMs` apart; stops at the first reply. */
export async function ping(ns: Netns, dst: string, signal: AbortSignal, tries = 3, waitMs = 1000): Promise<PingResult> {
  const libc = loadLibc();
  const connect = libcFunction('int connect(int, const void *, uint32_t)');
  const fd = step('open an ICMP socket in the discover namespace', () => inNetns(ns, () => {
    const s = libc.socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
    if (s < 0) throw new KernelError('socket(AF_INET, SOCK_RAW, ICMP)', libc.errno());
    return s;
  }));
  try {
    const sa = sockaddrIn(dst);
    if (connect(fd, sa, sa.length) !== 0) throw asToolError(`connect an ICMP socket to ${dst}`, new KernelError('connect', libc.errno()));
    const id = (process.pid ^ Math.floor(Math.random() * 0xffff)) & 0xffff;
    const rx = Buffer.alloc(2048);
    for (let seq = 1; seq <= tries; seq++) {
      signal.throwIfAborted();
      const req = buildEchoRequest(id, seq);
      const t0 = performance.now();
      if (libc.send(fd, req, req.length, 0) < 0) {
        const errno = libc.errno();
        // Unreachable for now (EHOSTUNREACH, ENETUNREACH) or busy: a lost probe, not a failure.
        if (![EAGAIN, EINTR, EHOSTUNREACH, ENETUNREACH].includes(errno)) throw asToolError(`send an ICMP echo to ${dst}`, new KernelError('send', errno));
      }
      const until = t0 + waitMs;
      while (performance.now() < until) {
        signal.throwIfAborted();
        const n = libc.recv(fd, rx, rx.length, MSG_DONTWAIT);
        if (n > 0) {
          const r = parseEchoReply(rx.subarray(0, n));
          if (r && r.id === id && r.seq === seq) return { reachable: true, sent: seq, rttMs: Math.round((performance.now() - t0) * 100) / 100 };
          continue;
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    return { reachable: false, sent: tries };
  } finally {
    libc.close(fd);
  }
}
