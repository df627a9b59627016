// The netlink socket's protocol logic against a scripted fake libc: ACKs, errors with extended-ACK text, stale
// sequence numbers, multipart dumps and the retry when the kernel flags a dump as interrupted.
import { describe, expect, it } from 'vitest';
import { KernelError } from '../../src/kernel/errors.js';
import type { Libc } from '../../src/kernel/native.js';
import { attr } from '../../src/kernel/netlink/attrs.js';
import * as C from '../../src/kernel/netlink/constants.js';
import { NetlinkSocket } from '../../src/kernel/netlink/socket.js';
import { thrown } from '../lab/thrown.js';

type Reply = (seq: number) => Buffer[];

function msg(type: number, flags: number, seq: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(16);
  h.writeUInt32LE(16 + payload.length, 0);
  h.writeUInt16LE(type, 4);
  h.writeUInt16LE(flags, 6);
  h.writeUInt32LE(seq, 8);
  const pad = Buffer.alloc((4 - (payload.length % 4)) % 4);
  return Buffer.concat([h, payload, pad]);
}
const ack = (seq: number, errno = 0, text?: string) => {
  const p = Buffer.alloc(20);
  p.writeInt32LE(-errno, 0);
  return msg(
    C.NLMSG_ERROR,
    text ? C.NLM_F_ACK_TLVS : 0,
    seq,
    text ? Buffer.concat([p, attr(C.NLMSGERR_ATTR_MSG, Buffer.from(`${text}\0`))]) : p,
  );
};
const done = (seq: number, flags = 0) => msg(C.NLMSG_DONE, C.NLM_F_MULTI | flags, seq, Buffer.alloc(4));
const link = (seq: number, index: number, flags = 0) => {
  const p = Buffer.alloc(16);
  p.writeInt32LE(index, 4);
  return msg(C.RTM_NEWLINK, C.NLM_F_MULTI | flags, seq, p);
};

/** A libc whose recv answers each sent request from `replies`, one datagram per reply buffer. */
function fakeLibc(replies: Reply[]): Libc & { sent: number } {
  const queue: Buffer[] = [];
  const fake = {
    sent: 0,
    socket: () => 7,
    bind: () => 0,
    connect: () => 0,
    setsockopt: () => 0,
    getsockopt: () => 0,
    close: () => 0,
    setns: () => 0,
    unshare: () => 0,
    ioctl: () => 0,
    errno: () => 11,
    send: (_fd: number, b: Buffer, len: number) => {
      const next = replies[fake.sent++];
      if (next) queue.push(...next(b.readUInt32LE(8)));
      return len;
    },
    recv: (_fd: number, b: Buffer) => {
      const d = queue.shift();
      if (!d) return -1; // EAGAIN: the receive timeout
      d.copy(b);
      return d.length;
    },
  };
  return fake;
}

describe('NetlinkSocket', () => {
  it('returns on the ACK and skips answers to earlier requests', () => {
    const libc = fakeLibc([(seq) => [Buffer.concat([ack(seq - 1, 17), ack(seq)])]]);
    expect(NetlinkSocket.open(libc).request(C.RTM_SETLINK, 0, Buffer.alloc(16), 'op')).toEqual([]);
  });

  it('turns a kernel error into a KernelError with the extended-ACK text', () => {
    const libc = fakeLibc([(seq) => [ack(seq, 17, 'Bridge already exists')]]);
    const e = thrown(KernelError, () =>
      NetlinkSocket.open(libc).request(C.RTM_NEWLINK, 0, Buffer.alloc(16), 'create bridge "br0"'),
    );
    expect(e.code).toBe('EEXIST');
    expect(e.extack).toBe('Bridge already exists');
    expect(e.message).toBe('create bridge "br0": file already exists (EEXIST): Bridge already exists');
  });

  it('collects a multipart dump across datagrams until NLMSG_DONE', () => {
    const libc = fakeLibc([
      (seq) => [Buffer.concat([link(seq, 1), link(seq, 2)]), Buffer.concat([link(seq, 3), done(seq)])],
    ]);
    const msgs = NetlinkSocket.open(libc).dump(C.RTM_GETLINK, Buffer.alloc(16), 'list links');
    expect(msgs.map((m) => m.data.readInt32LE(4))).toEqual([1, 2, 3]);
  });

  it('retries a dump the kernel flagged as interrupted, and returns the clean one', () => {
    const libc = fakeLibc([
      (seq) => [Buffer.concat([link(seq, 1, C.NLM_F_DUMP_INTR), done(seq, C.NLM_F_DUMP_INTR)])],
      (seq) => [Buffer.concat([link(seq, 1), link(seq, 2), done(seq)])],
    ]);
    const msgs = NetlinkSocket.open(libc).dump(C.RTM_GETLINK, Buffer.alloc(16), 'list links');
    expect(libc.sent).toBe(2);
    expect(msgs.map((m) => m.data.readInt32LE(4))).toEqual([1, 2]);
  });

  it('reports no answer as a timeout', () => {
    const e = thrown(KernelError, () =>
      NetlinkSocket.open(fakeLibc([])).request(C.RTM_GETLINK, 0, Buffer.alloc(16), 'get link'),
    );
    expect(e.code).toBe('ETIMEDOUT');
  });
});
