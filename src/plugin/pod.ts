// The pod's side of a request: its network namespace, and how the pod's namespace numbers the host's.
import { Netns, nsidOf, type Link, type NetlinkSocket } from '../kernel/index.js';
import { step } from './errors.js';

/** Opens CNI_NETNS; throws CniError 101 (NetnsError) or 110 through step(). */
export function openPodNetns(path: string): Netns {
  return step('open network namespace', () => Netns.open(path));
}

/**
 * Whether the peer of veth `podEnd` (a link read through `podSock`, in the pod) is in the host's namespace (this
 * process's). The peer's index means something only in the namespace the kernel names for the peer
 * (IFLA_LINK_NETNSID, in the pod's numbering), so a pair with both ends in the pod (no IFLA_LINK_NETNSID) or its
 * peer in a third namespace is not the host's. Throws KernelError when the pod cannot be asked (RTM_GETNSID).
 */
export function peerInHost(podSock: NetlinkSocket, podEnd: Link): boolean {
  if (podEnd.linkNetnsId === undefined) return false;
  const self = Netns.current();
  try {
    return nsidOf(podSock, self.fd) === podEnd.linkNetnsId;
  } finally {
    self.close();
  }
}
