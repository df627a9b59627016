// Link verbs over one netlink socket: get, list, create bridge / veth, set, delete, bridge options and port flags.
import { ENODEV } from './errno.js';
import { KernelError, isErrno } from './errors.js';
import { attrMap, bytes, nest, readStr, readU16, readU32, readU8, str, u32, u8 } from './netlink/attrs.js';
import * as C from './netlink/constants.js';
import { IFINFOMSG_LEN, ifinfomsg } from './netlink/headers.js';
import type { NetlinkSocket } from './netlink/socket.js';

export interface Link {
  index: number;
  name: string;
  /** IFLA_INFO_KIND: 'bridge', 'veth', 'bond', 'vlan', ... (absent for plain devices such as lo). */
  kind?: string;
  mtu: number;
  mac?: string;
  /** Administratively up (IFF_UP). */
  up: boolean;
  /** Carrier (IFF_LOWER_UP). */
  lowerUp: boolean;
  /** IFF_PROMISC as set by the administrator. */
  promisc: boolean;
  operstate: string;
  master?: number;
  alias?: string;
  /** IFLA_LINK: for a veth, the peer's index (in the peer's namespace). */
  peerIndex?: number;
  /** Set when IFLA_LINK refers to another namespace. */
  linkNetnsId?: number;
  /**
   * For a bridge. `vlanFilteringSupported`: the kernel has bridge VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING): it
   * reports the bridge's VLAN attributes (IFLA_BR_VLAN_DEFAULT_PVID and others) only then
   * (net/bridge/br_netlink.c `br_fill_info`), while IFLA_BR_VLAN_FILTERING (0) is always there.
   */
  bridge?: { vlanFiltering: boolean; vlanFilteringSupported: boolean; defaultPvid?: number };
  /** Present when the link is a bridge port. */
  port?: { state?: string; hairpin?: boolean; isolated?: boolean };
}

const macBytes = (mac: string): Buffer => Buffer.from(mac.split(/[:-]/).map((h) => parseInt(h, 16)));
const macString = (b: Buffer): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':');

/** A link from an RTM_NEWLINK message's payload (struct ifinfomsg, then IFLA_* attributes). */
export function parseLink(data: Buffer): Link {
  const index = data.readInt32LE(4);
  const flags = data.readUInt32LE(8);
  const a = attrMap(data, IFINFOMSG_LEN);
  const link: Link = {
    index,
    name: readStr(a.get(C.IFLA_IFNAME)) ?? '',
    mtu: readU32(a.get(C.IFLA_MTU)) ?? 0,
    up: (flags & C.IFF_UP) !== 0,
    lowerUp: (flags & C.IFF_LOWER_UP) !== 0,
    promisc: (flags & C.IFF_PROMISC) !== 0,
    operstate: C.OPERSTATES[readU8(a.get(C.IFLA_OPERSTATE)) ?? 0] ?? 'unknown',
  };
  const addr = a.get(C.IFLA_ADDRESS);
  if (addr && addr.length === 6) link.mac = macString(addr);
  const master = readU32(a.get(C.IFLA_MASTER));
  if (master) link.master = master;
  const alias = readStr(a.get(C.IFLA_IFALIAS));
  if (alias) link.alias = alias;
  const nsid = a.get(C.IFLA_LINK_NETNSID);
  if (nsid) link.linkNetnsId = nsid.readInt32LE(0);
  const info = a.get(C.IFLA_LINKINFO);
  if (info) {
    const i = attrMap(info);
    const kind = readStr(i.get(C.IFLA_INFO_KIND));
    if (kind) link.kind = kind;
    // For a veth, IFLA_LINK is the peer's index in the peer's namespace (it may equal our own index there).
    const peer = readU32(a.get(C.IFLA_LINK));
    if (kind === 'veth' && peer) link.peerIndex = peer;
    const data = i.get(C.IFLA_INFO_DATA);
    if (kind === 'bridge' && data) {
      const d = attrMap(data);
      link.bridge = {
        vlanFiltering: readU8(d.get(C.IFLA_BR_VLAN_FILTERING)) === 1,
        vlanFilteringSupported: d.has(C.IFLA_BR_VLAN_DEFAULT_PVID),
      };
      const pvid = readU16(d.get(C.IFLA_BR_VLAN_DEFAULT_PVID));
      if (pvid !== undefined) link.bridge.defaultPvid = pvid;
    }
    const slaveData = i.get(C.IFLA_INFO_SLAVE_DATA);
    if (readStr(i.get(C.IFLA_INFO_SLAVE_KIND)) === 'bridge' && slaveData) {
      const s = attrMap(slaveData);
      const state = readU8(s.get(C.IFLA_BRPORT_STATE));
      link.port = {
        hairpin: readU8(s.get(C.IFLA_BRPORT_MODE)) === 1,
        isolated: readU8(s.get(C.IFLA_BRPORT_ISOLATED)) === 1,
      };
      if (state !== undefined) link.port.state = C.BRPORT_STATES[state] ?? String(state);
    }
  }
  return link;
}

/**
 * IFLA_EXT_MASK asking for no statistics (RTEXT_FILTER_SKIP_STATS, since 2015; a kernel without it ignores the bit):
 * about a fifth to half of a link message is IFLA_STATS64, IFLA_STATS and the inet6 counters, which nothing here
 * reads.
 */
const noStats = (): Buffer => u32(C.IFLA_EXT_MASK, C.RTEXT_FILTER_SKIP_STATS);

/**
 * The link with this name or index, or null when there is none: one RTM_GETLINK request (by ifi_index, or by
 * IFLA_IFNAME, which every kernel since 2.6 looks up by name in `rtnl_getlink`), answered with one message, whatever
 * the number of links in the namespace. Without statistics (noStats). Throws KernelError for other failures.
 */
export function getLink(sock: NetlinkSocket, which: string | number): Link | null {
  const body =
    typeof which === 'number'
      ? Buffer.concat([ifinfomsg({ index: which }), noStats()])
      : Buffer.concat([ifinfomsg(), str(C.IFLA_IFNAME, which), noStats()]);
  try {
    const msgs = sock.request(C.RTM_GETLINK, 0, body, `get link ${JSON.stringify(which)}`);
    const m = msgs.find((x) => x.type === C.RTM_NEWLINK);
    return m ? parseLink(m.data) : null;
  } catch (err) {
    if (isErrno(err, 'ENODEV')) return null;
    throw err;
  }
}

/**
 * The link with index `index` in the namespace that `nsid` names in the socket's own numbering (a veth's
 * IFLA_LINK_NETNSID): one RTM_GETLINK with IFLA_TARGET_NETNSID (Linux 4.20, `rtnl_getlink`'s tgt_net). Null when
 * there is none, or when the kernel did not answer from that namespace: a kernel without the attribute ignores it
 * and answers from the socket's own, so only a reply that carries IFLA_TARGET_NETNSID back counts. Throws
 * KernelError for other failures.
 */
export function getLinkInNsid(sock: NetlinkSocket, nsid: number, index: number): Link | null {
  const target = Buffer.alloc(4);
  target.writeInt32LE(nsid);
  const body = Buffer.concat([ifinfomsg({ index }), bytes(C.IFLA_TARGET_NETNSID, target), noStats()]);
  try {
    const msgs = sock.request(C.RTM_GETLINK, 0, body, `get link ${index} of namespace id ${nsid}`);
    const m = msgs.find((x) => x.type === C.RTM_NEWLINK);
    if (!m || attrMap(m.data, IFINFOMSG_LEN).get(C.IFLA_TARGET_NETNSID)?.readInt32LE(0) !== nsid) return null;
    return parseLink(m.data);
  } catch (err) {
    // ENODEV: no such link there; EINVAL: no such nsid (or a kernel that refuses the attribute).
    if (isErrno(err, 'ENODEV', 'EINVAL')) return null;
    throw err;
  }
}

/**
 * Every link of the socket's namespace (RTM_GETLINK dump, without statistics): as many messages as the namespace has
 * links (about 1.3 KiB each on Linux 6.18). For what reads the whole node: GC, doctor.
 */
export function listLinks(sock: NetlinkSocket): Link[] {
  return sock
    .dump(C.RTM_GETLINK, Buffer.concat([ifinfomsg(), noStats()]), 'list links')
    .filter((m) => m.type === C.RTM_NEWLINK)
    .map((m) => parseLink(m.data));
}

/**
 * A bridge port as listPorts reads it: what tells an uplink from a pod's or a VM's port and what the callers use
 * (MTU inheritance, the uplink VLAN reconcile, the gateway's rollback). Not a whole Link: no MAC, no bridge port
 * state, no peer index.
 */
export type Port = Pick<Link, 'index' | 'name' | 'kind' | 'mtu' | 'master' | 'alias' | 'linkNetnsId' | 'up'>;

/**
 * Reads a Port from an RTM_NEWLINK payload in place (buf[start, end): struct ifinfomsg, then IFLA_* attributes),
 * walking the top-level attributes once and IFLA_LINKINFO for IFLA_INFO_KIND; nothing else is decoded or copied. A
 * dump of a thousand ports is parsed in this loop, by the interpreter (the executable does not JIT: scripts/build.mjs),
 * so it reads bytes rather than building a Map per message as parseLink does.
 */
function scanPort(b: Buffer, start: number, end: number): Port {
  const port: Port = {
    index: b.readInt32LE(start + 4),
    name: '',
    mtu: 0,
    up: (b.readUInt32LE(start + 8) & C.IFF_UP) !== 0,
  };
  const str0 = (from: number, to: number) => {
    const nul = b.indexOf(0, from);
    return b.toString('utf8', from, nul === -1 || nul > to ? to : nul);
  };
  let off = start + IFINFOMSG_LEN;
  while (off + 4 <= end) {
    const len = b[off]! | (b[off + 1]! << 8);
    if (len < 4 || off + len > end) break;
    const type = (b[off + 2]! | (b[off + 3]! << 8)) & 0x3fff;
    const v = off + 4;
    if (type === C.IFLA_IFNAME) port.name = str0(v, off + len);
    else if (type === C.IFLA_MTU && len >= 8) port.mtu = b.readUInt32LE(v);
    else if (type === C.IFLA_MASTER && len >= 8) {
      const m = b.readUInt32LE(v);
      if (m) port.master = m;
    } else if (type === C.IFLA_IFALIAS && len > 4) {
      const alias = str0(v, off + len);
      if (alias) port.alias = alias;
    } else if (type === C.IFLA_LINK_NETNSID && len >= 8) port.linkNetnsId = b.readInt32LE(v);
    else if (type === C.IFLA_LINKINFO) {
      let i = v;
      while (i + 4 <= off + len) {
        const ilen = b[i]! | (b[i + 1]! << 8);
        if (ilen < 4) break;
        if (((b[i + 2]! | (b[i + 3]! << 8)) & 0x3fff) === C.IFLA_INFO_KIND) {
          const kind = str0(i + 4, i + ilen);
          if (kind) port.kind = kind;
          break;
        }
        i += (ilen + 3) & ~3;
      }
    }
    off += (len + 3) & ~3;
  }
  return port;
}

/**
 * Every link of the socket's namespace as a Port (scanPort: name, kind, MTU, master, alias, peer namespace id, up),
 * from one dump without statistics read in place. For what must read the whole node and needs no more of each link
 * (GC: its attachments' veths by alias): a thousand links cost the interpreter a tenth of what listLinks' parseLink
 * costs. Throws KernelError.
 */
export function listLinkSummaries(sock: NetlinkSocket): Port[] {
  return sock.dumpEach(C.RTM_GETLINK, Buffer.concat([ifinfomsg(), noStats()]), 'list links', (b, s, e, t) =>
    t === C.RTM_NEWLINK ? scanPort(b, s, e) : undefined,
  ).items;
}

/**
 * The ports of the bridge (or bond) with index `master`, optionally only those of one `kind` (IFLA_INFO_KIND, e.g.
 * 'veth'): one RTM_GETLINK dump that the kernel filters (IFLA_MASTER and IFLA_LINKINFO/IFLA_INFO_KIND in the request,
 * `rtnl_dump_ifinfo` in net/core/rtnetlink.c, read in Linux 6.18; absent from 4.4, present in 4.8), without
 * statistics, read in place (scanPort). The kernel still walks every link, but sends only the matching ones (about
 * 1.4 KiB each on Linux 6.18): the reply grows with the ports of this bridge, not with the node. Where the kernel did
 * not filter (no NLM_F_DUMP_FILTERED on the reply: an older kernel), or could not filter by `kind` (a kind whose
 * driver is not loaded is silently no filter: `linkinfo_to_kind_ops`), the filter is applied here, so the answer is
 * the same on every kernel. Throws KernelError.
 */
export function listPorts(sock: NetlinkSocket, master: number, o: { kind?: string } = {}): Port[] {
  const attrs = [u32(C.IFLA_MASTER, master), noStats()];
  if (o.kind !== undefined) attrs.push(nest(C.IFLA_LINKINFO, str(C.IFLA_INFO_KIND, o.kind)));
  const what = `list the ${o.kind ? `${o.kind} ` : ''}ports of link ${master}`;
  const { items, filtered } = sock.dumpEach(
    C.RTM_GETLINK,
    Buffer.concat([ifinfomsg(), ...attrs]),
    what,
    (b, s, e, t) => (t === C.RTM_NEWLINK ? scanPort(b, s, e) : undefined),
  );
  if (filtered && o.kind === undefined) return items;
  return items.filter((l) => l.master === master && (o.kind === undefined || l.kind === o.kind));
}

function mustGet(sock: NetlinkSocket, name: string): Link {
  const l = getLink(sock, name);
  if (!l) throw new KernelError(`get link ${JSON.stringify(name)} right after creating it`, ENODEV);
  return l;
}

export interface BridgeOptions {
  name: string;
  mtu?: number;
  vlanFiltering?: boolean;
}

/** Creates a bridge (fails with EEXIST when the name is taken) and returns it. */
export function createBridge(sock: NetlinkSocket, o: BridgeOptions): Link {
  const data: Buffer[] = [];
  if (o.vlanFiltering !== undefined) data.push(u8(C.IFLA_BR_VLAN_FILTERING, o.vlanFiltering ? 1 : 0));
  const body = Buffer.concat([
    ifinfomsg(),
    str(C.IFLA_IFNAME, o.name),
    ...(o.mtu ? [u32(C.IFLA_MTU, o.mtu)] : []),
    nest(C.IFLA_LINKINFO, str(C.IFLA_INFO_KIND, 'bridge'), ...(data.length ? [nest(C.IFLA_INFO_DATA, ...data)] : [])),
  ]);
  sock.request(C.RTM_NEWLINK, C.NLM_F_CREATE | C.NLM_F_EXCL, body, `create bridge ${JSON.stringify(o.name)}`);
  return mustGet(sock, o.name);
}

export interface VethEnd {
  name: string;
  mtu?: number;
  mac?: string;
  /** Index of a bridge to enslave this end to in the creating request itself (IFLA_MASTER in RTM_NEWLINK). */
  master?: number;
}

/**
 * Creates a veth pair: `local` here, `peer` placed directly into the namespace open at `peerNetnsFd` and named
 * there as asked (no rename, no move afterwards). Returns the local end.
 */
export function createVeth(sock: NetlinkSocket, local: VethEnd, peer: VethEnd & { netnsFd: number }): Link {
  const end = (e: VethEnd) => [
    str(C.IFLA_IFNAME, e.name),
    ...(e.mtu ? [u32(C.IFLA_MTU, e.mtu)] : []),
    ...(e.mac ? [bytes(C.IFLA_ADDRESS, macBytes(e.mac))] : []),
    ...(e.master ? [u32(C.IFLA_MASTER, e.master)] : []),
  ];
  const peerMsg = Buffer.concat([ifinfomsg(), ...end(peer), u32(C.IFLA_NET_NS_FD, peer.netnsFd)]);
  const body = Buffer.concat([
    ifinfomsg(),
    ...end(local),
    nest(C.IFLA_LINKINFO, str(C.IFLA_INFO_KIND, 'veth'), nest(C.IFLA_INFO_DATA, bytes(C.VETH_INFO_PEER, peerMsg))),
  ]);
  sock.request(
    C.RTM_NEWLINK,
    C.NLM_F_CREATE | C.NLM_F_EXCL,
    body,
    `create veth ${JSON.stringify(local.name)} with peer ${JSON.stringify(peer.name)}`,
  );
  return mustGet(sock, local.name);
}

export interface LinkChanges {
  up?: boolean;
  promisc?: boolean;
  mtu?: number;
  mac?: string;
  /** Index of the new master; 0 detaches. */
  master?: number;
  alias?: string;
}

/**
 * Changes what `c` names on a link in one RTM_SETLINK (flags through ifi_flags/ifi_change, the rest as IFLA_*
 * attributes); what `c` leaves out stays. `mtu` in bytes. Throws KernelError (ENODEV: no such link).
 */
export function setLink(sock: NetlinkSocket, index: number, c: LinkChanges): void {
  let flags = 0;
  let change = 0;
  if (c.up !== undefined) {
    change |= C.IFF_UP;
    if (c.up) flags |= C.IFF_UP;
  }
  if (c.promisc !== undefined) {
    change |= C.IFF_PROMISC;
    if (c.promisc) flags |= C.IFF_PROMISC;
  }
  const attrs: Buffer[] = [];
  if (c.mtu !== undefined) attrs.push(u32(C.IFLA_MTU, c.mtu));
  if (c.mac !== undefined) attrs.push(bytes(C.IFLA_ADDRESS, macBytes(c.mac)));
  if (c.master !== undefined) attrs.push(u32(C.IFLA_MASTER, c.master));
  if (c.alias !== undefined) attrs.push(str(C.IFLA_IFALIAS, c.alias));
  const what = Object.entries(c)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(' ');
  sock.request(
    C.RTM_SETLINK,
    0,
    Buffer.concat([ifinfomsg({ index, flags, change }), ...attrs]),
    `set link ${index} ${what}`,
  );
}

/** Bridge port flags, through the AF_BRIDGE family (as `bridge link set`). */
export function setBridgePort(sock: NetlinkSocket, index: number, p: { hairpin?: boolean; isolated?: boolean }): void {
  const attrs: Buffer[] = [];
  if (p.hairpin !== undefined) attrs.push(u8(C.IFLA_BRPORT_MODE, p.hairpin ? 1 : 0));
  if (p.isolated !== undefined) attrs.push(u8(C.IFLA_BRPORT_ISOLATED, p.isolated ? 1 : 0));
  if (attrs.length === 0) return;
  const body = Buffer.concat([
    ifinfomsg({ index, family: C.AF_BRIDGE }),
    nest(C.IFLA_PROTINFO | C.NLA_F_NESTED, ...attrs),
  ]);
  sock.request(C.RTM_SETLINK, 0, body, `set bridge port flags on link ${index}`);
}

/** Deletes a link (RTM_DELLINK); for a veth, its peer goes too. Throws KernelError (ENODEV: no such link). */
export function deleteLink(sock: NetlinkSocket, index: number): void {
  sock.request(C.RTM_DELLINK, 0, ifinfomsg({ index }), `delete link ${index}`);
}

/**
 * The id (IFLA_LINK_NETNSID's numbering) under which the socket's namespace knows the namespace open at `nsFd`,
 * or undefined when it has none (NETNSA_NSID_NOT_ASSIGNED): RTM_GETNSID, as `ip netns list-id` asks it. A link's
 * `linkNetnsId` names the peer's namespace in this numbering; with no `linkNetnsId` the peer is in the link's own
 * namespace.
 */
export function nsidOf(sock: NetlinkSocket, nsFd: number): number | undefined {
  const body = Buffer.concat([Buffer.from([C.AF_UNSPEC, 0, 0, 0]), u32(C.NETNSA_FD, nsFd)]);
  const m = sock
    .request(C.RTM_GETNSID, 0, body, `get nsid of namespace fd ${nsFd}`)
    .find((x) => x.type === C.RTM_NEWNSID);
  const id = m ? attrMap(m.data, 4).get(C.NETNSA_NSID) : undefined;
  if (!id || id.length < 4) return undefined;
  const n = id.readInt32LE(0);
  return n < 0 ? undefined : n;
}
