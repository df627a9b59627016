// ICMP echo from inside the probe's namespace, with no ping binary: echo requests and replies (RFC 792) built and
// read here, carried by the kernel layer's ICMP socket (src/kernel/icmp.ts), connected to the gateway.
import { IcmpSocket, type Netns } from '../kernel/index.js';
import { step } from './errors.js';

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

export interface PingResult {
  reachable: boolean;
  sent: number;
  /** Round trip of the first reply. */
  rttMs?: number;
}

/** Up to `tries` echo requests to `dst`, `waitMs` apart; stops at the first reply. */
export async function ping(ns: Netns, dst: string, signal: AbortSignal, tries = 3, waitMs = 1000): Promise<PingResult> {
  const sock = step('open an ICMP socket in the discover namespace', () => IcmpSocket.open(ns));
  try {
    step(`connect an ICMP socket to ${dst}`, () => sock.connect(dst));
    const id = (process.pid ^ Math.floor(Math.random() * 0xffff)) & 0xffff;
    const rx = Buffer.alloc(2048);
    for (let seq = 1; seq <= tries; seq++) {
      signal.throwIfAborted();
      const req = buildEchoRequest(id, seq);
      const t0 = performance.now();
      // Not sent for now (unreachable yet, or busy): a lost probe, not a failure.
      step(`send an ICMP echo to ${dst}`, () => sock.send(req));
      const until = t0 + waitMs;
      while (performance.now() < until) {
        signal.throwIfAborted();
        const n = sock.receive(rx);
        if (n > 0) {
          const r = parseEchoReply(rx.subarray(0, n));
          if (r && r.id === id && r.seq === seq)
            return { reachable: true, sent: seq, rttMs: Math.round((performance.now() - t0) * 100) / 100 };
          continue;
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    return { reachable: false, sent: tries };
  } finally {
    sock.close();
  }
}
