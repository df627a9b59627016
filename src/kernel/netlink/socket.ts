// One NETLINK_ROUTE socket: requests with sequence numbers and ACKs, dumps with multipart and a retry on
// NLM_F_DUMP_INTR, kernel errors as KernelError with the extended-ACK message. Synchronous by design: it is
// used while the thread sits in another network namespace, where nothing asynchronous may run.
import { KernelError } from '../errors.js';
import { EAGAIN, EINTR, EIO, ETIMEDOUT } from '../errno.js';
import type { Libc } from '../native.js';
import { attrMap, readStr } from './attrs.js';
import * as C from './constants.js';
import { since, traceStep, tracing } from '../trace.js';
import { count } from './counters.js';

export interface Message {
  type: number;
  flags: number;
  /** The payload after the 16-byte header (a copy, safe to keep). */
  data: Buffer;
}

/**
 * Reads one message of a dump where it lies, in the socket's receive buffer (valid only during the call):
 * `buf[start, end)` is the payload after the netlink header. Returns what to keep, or undefined for nothing.
 */
export type Visitor<T> = (buf: Buffer, start: number, end: number, type: number) => T | undefined;

/** A dump's messages, and whether the kernel applied the request's filter attributes. */
export interface FilteredDump {
  msgs: Message[];
  /**
   * NLM_F_DUMP_FILTERED (linux/netlink.h) on the replies: the kernel filtered by the request's attributes. False when
   * it ignored them (a kernel older than the filter), and then the caller filters. A dump with no reply message at
   * all counts as filtered: only a filter can leave a link dump empty (every namespace has `lo`).
   */
  filtered: boolean;
}

const RX_SIZE = 1 << 20;
const DUMP_RETRIES = 5;

function errorText(data: Buffer, flags: number): string | undefined {
  // With NETLINK_CAP_ACK the original request is not echoed: nlmsgerr is the error plus the 16-byte header.
  if (!(flags & C.NLM_F_ACK_TLVS) || data.length <= 20) return undefined;
  return readStr(attrMap(data, 20).get(C.NLMSGERR_ATTR_MSG));
}

export class NetlinkSocket {
  private seq = Math.floor(Math.random() * 0x7fffffff);
  // Not zero-filled: pages the kernel never writes stay out of the process's resident memory.
  private readonly rx = Buffer.allocUnsafe(RX_SIZE);
  private closed = false;

  private constructor(
    private readonly libc: Libc,
    readonly fd: number,
  ) {}

  /** Opens a socket in the calling thread's current network namespace. */
  static open(libc: Libc, timeoutMs = 10_000): NetlinkSocket {
    const fd = libc.socket(C.AF_NETLINK, C.SOCK_RAW | C.SOCK_CLOEXEC, C.NETLINK_ROUTE);
    if (fd < 0) throw new KernelError('socket(AF_NETLINK)', libc.errno());
    const sock = new NetlinkSocket(libc, fd);
    try {
      const addr = Buffer.alloc(12);
      addr.writeUInt16LE(C.AF_NETLINK, 0);
      if (libc.bind(fd, addr, addr.length) < 0) throw new KernelError('bind(AF_NETLINK)', libc.errno());
      const one = Buffer.alloc(4);
      one.writeInt32LE(1);
      // Best effort: kernels without these still work, with less detail in errors.
      libc.setsockopt(fd, C.SOL_NETLINK, C.NETLINK_CAP_ACK, one, 4);
      libc.setsockopt(fd, C.SOL_NETLINK, C.NETLINK_EXT_ACK, one, 4);
      const tv = Buffer.alloc(16);
      tv.writeBigInt64LE(BigInt(Math.floor(timeoutMs / 1000)), 0);
      tv.writeBigInt64LE(BigInt((timeoutMs % 1000) * 1000), 8);
      if (libc.setsockopt(fd, C.SOL_SOCKET, C.SO_RCVTIMEO, tv, 16) < 0)
        throw new KernelError('setsockopt(SO_RCVTIMEO)', libc.errno());
    } catch (err) {
      sock.close();
      throw err;
    }
    return sock;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.libc.close(this.fd);
  }

  private send(type: number, flags: number, body: Buffer, op: string): number {
    if (this.closed) throw new Error(`${op}: netlink socket is closed`);
    this.seq = (this.seq + 1) & 0x7fffffff;
    const msg = Buffer.alloc(C.NLMSG_HDRLEN + body.length);
    msg.writeUInt32LE(msg.length, 0);
    msg.writeUInt16LE(type, 4);
    msg.writeUInt16LE(flags | C.NLM_F_REQUEST, 6);
    msg.writeUInt32LE(this.seq, 8);
    body.copy(msg, C.NLMSG_HDRLEN);
    count({ requests: 1, dumps: (flags & C.NLM_F_DUMP) === C.NLM_F_DUMP ? 1 : 0 });
    for (;;) {
      const n = this.libc.send(this.fd, msg, msg.length, 0);
      if (n === msg.length) return this.seq;
      const errno = n < 0 ? this.libc.errno() : 0;
      if (errno !== EINTR) throw new KernelError(`${op}: send`, errno || EIO);
    }
  }

  /** Reads datagrams until `done` says the exchange for `seq` is over; returns the messages before that. */
  private receive<T = Message>(
    seq: number,
    op: string,
    dump: boolean,
    visit?: Visitor<T>,
  ): { msgs: T[]; interrupted: boolean; filtered: boolean } {
    const msgs: T[] = [];
    let interrupted = false;
    let filtered = false;
    let seen = 0; // data messages of this exchange
    for (;;) {
      const n = this.libc.recv(this.fd, this.rx, RX_SIZE, 0);
      if (n < 0) {
        const errno = this.libc.errno();
        if (errno === EINTR) continue;
        throw new KernelError(`${op}: no answer from the kernel`, errno === EAGAIN ? ETIMEDOUT : errno);
      }
      let off = 0;
      let messages = 0;
      while (off + C.NLMSG_HDRLEN <= n) {
        const len = this.rx.readUInt32LE(off);
        if (len < C.NLMSG_HDRLEN || off + len > n) break;
        messages++;
        const type = this.rx.readUInt16LE(off + 4);
        const flags = this.rx.readUInt16LE(off + 6);
        const mseq = this.rx.readUInt32LE(off + 8);
        const start = off + C.NLMSG_HDRLEN;
        off += (len + 3) & ~3;
        if (mseq !== seq) continue; // a late answer to an earlier request
        if (flags & C.NLM_F_DUMP_INTR) interrupted = true;
        if (type === C.NLMSG_ERROR || type === C.NLMSG_DONE) {
          count({ rxBytes: n, rxMessages: messages });
          const data = this.rx.subarray(start, start + len - C.NLMSG_HDRLEN);
          const error = data.length >= 4 ? data.readInt32LE(0) : 0;
          if (error < 0) throw new KernelError(op, -error, errorText(data, flags));
          return { msgs, interrupted, filtered: filtered || (dump && seen === 0) };
        }
        if (type === C.NLMSG_NOOP) continue;
        if (flags & C.NLM_F_DUMP_FILTERED) filtered = true;
        seen++;
        if (visit) {
          const kept = visit(this.rx, start, start + len - C.NLMSG_HDRLEN, type);
          if (kept !== undefined) msgs.push(kept);
        } else {
          const data = Buffer.from(this.rx.subarray(start, start + len - C.NLMSG_HDRLEN));
          msgs.push({ type, flags, data } as T);
        }
        // A single answer (e.g. RTM_GETLINK by name) is followed by the ACK that ends the exchange; a dump's parts
        // by NLMSG_DONE.
      }
      count({ rxBytes: n, rxMessages: messages });
    }
  }

  /** A request that the kernel ACKs; returns any messages it answered with before the ACK. */
  request(type: number, flags: number, body: Buffer, op: string): Message[] {
    return this.traced(op, (): Message[] => {
      const seq = this.send(type, flags | C.NLM_F_ACK, body, op);
      return this.receive(seq, op, false).msgs;
    });
  }

  /** A dump; retried from the start when the kernel says it was interrupted by a concurrent change. */
  dump(type: number, body: Buffer, op: string): Message[] {
    return this.dumpFiltered(type, body, op).msgs;
  }

  /**
   * A dump whose request carries filter attributes (RTM_GETLINK's IFLA_MASTER, IFLA_LINKINFO kind): its messages and
   * whether the kernel applied the filter (NLM_F_DUMP_FILTERED), so that the caller filters when it did not.
   */
  dumpFiltered(type: number, body: Buffer, op: string): FilteredDump {
    return this.traced(op, () => {
      for (let attempt = 0; ; attempt++) {
        const seq = this.send(type, C.NLM_F_DUMP, body, op);
        const { msgs, interrupted, filtered } = this.receive(seq, op, true);
        if (!interrupted || attempt >= DUMP_RETRIES) return { msgs, filtered };
      }
    });
  }

  /**
   * A dump read in place: `visit` sees each message in the receive buffer and returns what to keep, so a dump of
   * many messages copies none of them (a bridge's ports: see listPorts). Retried from the start, with the kept
   * values of the interrupted attempt dropped, like dump(). `filtered` as dumpFiltered's.
   */
  dumpEach<T>(type: number, body: Buffer, op: string, visit: Visitor<T>): { items: T[]; filtered: boolean } {
    return this.traced(op, () => {
      for (let attempt = 0; ; attempt++) {
        const seq = this.send(type, C.NLM_F_DUMP, body, op);
        const { msgs, interrupted, filtered } = this.receive(seq, op, true, visit);
        if (!interrupted || attempt >= DUMP_RETRIES) return { items: msgs, filtered };
      }
    });
  }

  /** Runs one exchange, telling the kernel trace (./trace.ts) how it ended when someone listens. */
  private traced<T>(op: string, fn: () => T): T {
    if (!tracing()) return fn();
    const t0 = performance.now();
    try {
      const msgs = fn();
      traceStep({ step: 'netlink', op, ms: since(t0) });
      return msgs;
    } catch (err) {
      traceStep({ step: 'netlink', op, ms: since(t0), error: (err as Error).message });
      throw err;
    }
  }
}
