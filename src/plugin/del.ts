// DEL: idempotent and best effort. A missing netns, a missing interface and a repeated DEL all succeed; IPAM
// DEL always runs; firewall rules are found by the attachment's comment and the host veth by its ifalias, so
// both go even when the netns is already gone.
import type { Ctx } from '../cni/context.js';
import type { DelRequest } from '../cni/env.js';
import {
  Netns,
  NetnsError,
  deleteLink,
  getLink,
  getLinkInNsid,
  isErrno,
  openNetlink,
  type Link,
  type NetlinkSocket,
} from '../kernel/index.js';
import { ipamCall, ipamDel } from '../ipam/delegate.js';
import { teardownAttachment } from '../firewall/index.js';
import { attachmentOf, hostVethName, isHostVethOf, parseAlias } from './attachment.js';
import { Failures } from './failures.js';
import { peerInHost } from './pod.js';
import { syncUplinkVlans } from './uplink-vlans/sync.js';

/**
 * Whose the pod's CNI_IFNAME is ('ours': this attachment's; 'foreign': another attachment's on this host;
 * 'unrelated': no pod end of a host veth). Ours: a veth whose host end is this attachment's (our alias
 * for it, or the attachment's host veth name while the alias is not set yet: attachment.ts), or (an attachment the
 * reference plugin made before this one was installed) a host end with no alias of ours on our bridge or named in
 * prevResult. Another
 * network's interface of the same name (an ADD refused with code 102) is left alone.
 * The peer's index means something only in the peer's namespace, which the kernel names (IFLA_LINK_NETNSID, in
 * the pod's numbering): it is looked up in the host only when that namespace is the host's, and in a third
 * namespace through that nsid (farPeer). A peer in the pod itself (no IFLA_LINK_NETNSID) is never ours, whatever
 * host link has that index.
 */
function isOurs(
  host: NetlinkSocket,
  podSock: NetlinkSocket,
  l: Link,
  req: DelRequest,
  ctx: Ctx,
): 'ours' | 'foreign' | 'unrelated' {
  if (l.kind !== 'veth' || !l.peerIndex) return 'unrelated';
  if (!peerInHost(podSock, l)) return farPeer(podSock, l, req, ctx);
  const peer = getLink(host, l.peerIndex);
  if (!peer || peer.kind !== 'veth') return 'unrelated';
  // From here on the interface is a pod end whose host end is on this host: ours, or another attachment's.
  if (isHostVethOf(peer, attachmentOf(ctx.conf.name, req))) return 'ours';
  if (parseAlias(peer.alias)) return 'foreign';
  // The runtime's prevResult names the host veth (as the reference's result lists it: no sandbox), also when it
  // was taken off the bridge since.
  if (ctx.prevResult?.interfaces?.some((i) => !i.sandbox && i.name === peer.name)) return 'ours';
  const br = getLink(host, ctx.conf.bridge);
  return br !== null && peer.master === br.index ? 'ours' : 'foreign';
}

/**
 * isOurs for a pod end whose peer is in a third namespace (a host veth someone moved out of the host): ours when that
 * peer is this attachment's host veth (its alias, or its name while the alias is not set yet), looked up there by
 * the pod's nsid for it; else unrelated, never 'foreign': that namespace may be the pod's to make, and an alias
 * there must not be able to spare this attachment's firewall objects (a 'foreign' verdict keeps them). A peer in
 * the pod itself, or one the kernel cannot look up across namespaces (before Linux 4.20), is not ours. Throws
 * KernelError.
 */
function farPeer(podSock: NetlinkSocket, l: Link, req: DelRequest, ctx: Ctx): 'ours' | 'unrelated' {
  if (l.linkNetnsId === undefined) return 'unrelated';
  const peer = getLinkInNsid(podSock, l.linkNetnsId, l.peerIndex!);
  return peer?.kind === 'veth' && isHostVethOf(peer, attachmentOf(ctx.conf.name, req)) ? 'ours' : 'unrelated';
}

/**
 * Deletes the pod's CNI_IFNAME when it is this attachment's (`remove`), or only looks; returns 'foreign' when the
 * pod has an interface of that name that is another attachment's (another network's: an ADD of this one was
 * refused with code 102).
 */
function podEnd(host: NetlinkSocket, netns: string, req: DelRequest, ctx: Ctx, remove: boolean): 'foreign' | undefined {
  let pod: Netns;
  try {
    pod = Netns.open(netns);
  } catch (err) {
    // The container is gone: its end of the veth went with it.
    if (err instanceof NetnsError && err.kind === 'missing') return;
    // Not a namespace at all (a FIFO, a directory, another kind of namespace): no pod end of ours can be behind
    // it. DEL still removes the host side and the IPAM allocation and succeeds, since a DEL that can never
    // succeed wedges the runtime's teardown; the path is logged.
    if (err instanceof NetnsError && err.kind === 'not-netns') {
      ctx.log.warn(`DEL: CNI_NETNS is not a network namespace, left alone: ${err.message}`);
      return;
    }
    throw err;
  }
  const sock = openNetlink(pod);
  try {
    const l = getLink(sock, req.ifname);
    if (!l) return undefined;
    const whose = isOurs(host, sock, l, req, ctx);
    // Another attachment's pod end (its host end another network's veth): left alone, and so are its firewall
    // objects. Anything else that is not ours (a veth with its peer in the pod itself, as with CNI_NETNS_OVERRIDE)
    // is left alone too, and DEL goes on with the host side.
    if (whose === 'foreign') return 'foreign';
    if (whose === 'ours' && remove) deleteLink(sock, l.index);
  } catch (err) {
    if (!isErrno(err, 'ENODEV')) throw err;
  } finally {
    sock.close();
    pod.close();
  }
}

/**
 * Deletes the attachment's host veth, looked up by the name it was created with (hostVethName, one request whatever
 * the node holds): a veth of that name that is this attachment's (its alias, or no alias yet). A host veth renamed
 * since is not found here; while its pod end lives, podEnd deleted the pair through it, and once the pod's
 * namespace is gone the kernel deleted both ends with it.
 */
function deleteHostEnd(host: NetlinkSocket, req: DelRequest, ctx: Ctx): void {
  const id = attachmentOf(ctx.conf.name, req);
  const l = getLink(host, hostVethName(id));
  if (!l || !isHostVethOf(l, id)) return;
  try {
    deleteLink(host, l.index);
  } catch (err) {
    if (!isErrno(err, 'ENODEV')) throw err;
  }
}

export async function cmdDel(req: DelRequest, ctx: Ctx): Promise<void> {
  if (req.unmade !== undefined) {
    ctx.log.info(`DEL: nothing to do, ADD refuses this environment, so nothing of it exists: ${req.unmade}`);
    return;
  }
  const failures = new Failures();
  let host: NetlinkSocket | undefined;
  failures.attempt('open netlink socket', () => (host = openNetlink(null)));
  // Looked at first, deleted after IPAM DEL: the dhcp IPAM plugin releases its lease through the pod's interface.
  let foreign: 'foreign' | undefined;
  if (host && req.netns) {
    const h = host;
    failures.attempt(`look up "${req.ifname}" in the pod`, () => (foreign = podEnd(h, req.netns!, req, ctx, false)));
  }
  if (ctx.conf.hasIpam) failures.attempt(`IPAM DEL (${ctx.conf.ipam.type})`, () => ipamDel(ipamCall(req, ctx)));
  // The firewall objects' names carry no network (macspoofchk) or no ifname (iptables): while the pod's CNI_IFNAME
  // is another network's attachment, the objects of that name are its own, and stay.
  if ((ctx.conf.ipMasq || ctx.conf.macspoofchk) && foreign !== 'foreign') {
    // prevResult's addresses of this interface: the container's other interfaces on the network keep their
    // masquerading (the reference's iptables chain is per container: firewall/iptables.ts).
    const prev = ctx.prevResult;
    const own = prev?.ips
      ?.filter((ip) => ip.interface === undefined || prev.interfaces?.[ip.interface]?.name === req.ifname)
      .map((ip) => ip.address);
    failures.attempt('remove firewall rules', () =>
      teardownAttachment(ctx.conf, attachmentOf(ctx.conf.name, req), own?.length ? own : undefined),
    );
  } else if (foreign === 'foreign') {
    ctx.log.info(`DEL: "${req.ifname}" in ${req.netns} is another attachment's: its firewall objects stay`);
  }
  if (host) {
    const h = host;
    if (req.netns && foreign !== 'foreign')
      failures.attempt(`delete "${req.ifname}" in the pod`, () => podEnd(h, req.netns!, req, ctx, true));
    failures.attempt('delete the host veth', () => deleteHostEnd(h, req, ctx));
    failures.attempt('remove unused VIDs from the uplinks', () =>
      syncUplinkVlans(h, ctx.conf.bridge, { to: 'none' }, ctx.env, ctx.log),
    );
    h.close();
  }
  const err = failures.toError('DEL');
  if (err) throw err;
}
