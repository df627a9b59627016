// ICMP echo over a raw IPv4 socket (SOCK_RAW, IPPROTO_ICMP: root), as `ping` uses one, through libc: opened inside
// a namespace synchronously, connected to one peer so that only its packets arrive, and read without blocking.
// What travels in it (echo request and reply) is the caller's business.
import { ipv4ToBytes } from '../ip.js';
import { EAGAIN, EHOSTUNREACH, EINTR, ENETUNREACH } from './errno.js';
import { KernelError } from './errors.js';
import { loadLibc, type Libc } from './native.js';
import { AF_INET, IPPROTO_ICMP, MSG_DONTWAIT, SOCK_CLOEXEC, SOCK_RAW } from './netlink/constants.js';
import { inNetns, type Netns } from './netns.js';

/** errnos of send(2) that lose one packet rather than the socket: busy, or no route or neighbour for now. */
const TRANSIENT = [EAGAIN, EINTR, EHOSTUNREACH, ENETUNREACH];

/** struct sockaddr_in (linux/in.h) for `ip`, port 0: family in host order, the address in network order. */
function sockaddrIn(ip: string): Buffer {
  const sa = Buffer.alloc(16);
  sa.writeUInt16LE(AF_INET, 0);
  ipv4ToBytes(ip).copy(sa, 4);
  return sa;
}

export class IcmpSocket {
  private closed = false;

  private constructor(
    private readonly libc: Libc,
    readonly fd: number,
  ) {}

  /**
   * A raw ICMP socket created inside `ns` (it stays in that namespace after the thread leaves it). Throws
   * KernelError: 'socket(AF_INET, SOCK_RAW, ICMP)' (EPERM without CAP_NET_RAW), or setns when `ns` cannot be entered.
   */
  static open(ns: Netns): IcmpSocket {
    const libc = loadLibc();
    return inNetns(ns, () => {
      const fd = libc.socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
      if (fd < 0) throw new KernelError('socket(AF_INET, SOCK_RAW, ICMP)', libc.errno());
      return new IcmpSocket(libc, fd);
    });
  }

  /**
   * connect(2) to the IPv4 address `dst`: sends go there and only its packets are read. Throws KernelError
   * ('connect').
   */
  connect(dst: string): void {
    const sa = sockaddrIn(dst);
    if (this.libc.connect(this.fd, sa, sa.length) !== 0) throw new KernelError('connect', this.libc.errno());
  }

  /**
   * Sends one ICMP message (header and payload; the kernel adds the IP header). False when it was not sent for now
   * (EAGAIN, EINTR, EHOSTUNREACH, ENETUNREACH: a lost probe); any other failure throws KernelError ('send').
   */
  send(packet: Buffer): boolean {
    if (this.libc.send(this.fd, packet, packet.length, 0) >= 0) return true;
    const errno = this.libc.errno();
    if (TRANSIENT.includes(errno)) return false;
    throw new KernelError('send', errno);
  }

  /**
   * Reads one waiting datagram into `buf` without blocking (MSG_DONTWAIT) and returns its length: the IPv4 header
   * first, then the ICMP message. 0 when nothing waits; a pending socket error (an ICMP unreachable) reads as 0 too.
   */
  receive(buf: Buffer): number {
    const n = this.libc.recv(this.fd, buf, buf.length, MSG_DONTWAIT);
    return n > 0 ? n : 0;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.libc.close(this.fd);
  }
}
