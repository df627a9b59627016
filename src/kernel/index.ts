// The kernel layer's public face. It knows nothing of CNI.
import { loadLibc } from './native.js';
import { maybeIn, type Netns } from './netns.js';
import { NetlinkSocket } from './netlink/socket.js';
import { KernelError } from './errors.js';

export * from './errors.js';
export * from './netns.js';
export * from './link.js';
export * from './bridge-vlan.js';
export * from './addr.js';
export * from './route.js';
export * from './neigh.js';
export { IcmpSocket } from './icmp.js';
export { NetlinkSocket } from './netlink/socket.js';
export { RT_SCOPE_UNIVERSE, RT_TABLE_MAIN } from './netlink/constants.js';

const SOL_SOCKET = 1;
/** asm-generic/socket.h; Linux 5.14 and later. */
const SO_NETNS_COOKIE = 71;

/**
 * The cookie of the network namespace socket `fd` lives in (SO_NETNS_COOKIE): a number the kernel gives each
 * namespace once per boot and never reuses, unlike the namespace's nsfs inode, which a later namespace may get.
 * Throws KernelError (ENOPROTOOPT before Linux 5.14).
 */
export function netnsCookie(fd: number): bigint {
  const libc = loadLibc();
  const value = Buffer.alloc(8);
  const len = new Uint32Array([8]);
  if (libc.getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, value, len) !== 0)
    throw new KernelError('getsockopt(SO_NETNS_COOKIE)', libc.errno());
  return value.readBigUInt64LE(0);
}

/** A NETLINK_ROUTE socket bound to `ns` (null: the host) for its whole life: enter, create, leave. */
export function openNetlink(ns: Netns | null): NetlinkSocket {
  const libc = loadLibc();
  return maybeIn(ns, () => NetlinkSocket.open(libc));
}
