// The kernel layer's public face. It knows nothing of CNI.
import { loadLibc } from './native.js';
import { maybeIn, type Netns } from './netns.js';
import { NetlinkSocket } from './netlink/socket.js';

export * from './errors.js';
export * from './netns.js';
export * from './link.js';
export * from './bridge-vlan.js';
export * from './addr.js';
export * from './route.js';
export { IcmpSocket } from './icmp.js';
export { NetlinkSocket } from './netlink/socket.js';
export { RT_SCOPE_UNIVERSE, RT_TABLE_MAIN } from './netlink/constants.js';

/** A NETLINK_ROUTE socket bound to `ns` (null: the host) for its whole life: enter, create, leave. */
export function openNetlink(ns: Netns | null): NetlinkSocket {
  const libc = loadLibc();
  return maybeIn(ns, () => NetlinkSocket.open(libc));
}
