// VLANs on bridge ports (AF_BRIDGE, IFLA_AF_SPEC / IFLA_BRIDGE_VLAN_INFO), as `bridge vlan add/del/show`.
// Whole ranges travel as RANGE_BEGIN/RANGE_END pairs and many entries share one request, so a 2-4094 trunk is
// one round trip (the reference plugin sends one request per VID).
import { isErrno } from './errors.js';
import { attr, attrMap, nest, parseAttrs, u16, u32 } from './netlink/attrs.js';
import * as C from './netlink/constants.js';
import { IFINFOMSG_LEN, ifinfomsg } from './netlink/headers.js';
import type { NetlinkSocket } from './netlink/socket.js';
import { formatRanges } from '../vids.js';

export interface VlanRange {
  min: number;
  max: number;
  pvid?: boolean;
  untagged?: boolean;
}

/** struct bridge_vlan_info { u16 flags; u16 vid; } */
function vlanInfo(flags: number, vid: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt16LE(flags, 0);
  b.writeUInt16LE(vid, 2);
  return attr(C.IFLA_BRIDGE_VLAN_INFO, b);
}

function encode(ranges: readonly VlanRange[]): Buffer[] {
  const out: Buffer[] = [];
  for (const r of ranges) {
    if (r.min < 1 || r.max > 4094 || r.min > r.max) throw new Error(`bad VLAN range ${r.min}-${r.max}`);
    const flags = (r.pvid ? C.BRIDGE_VLAN_INFO_PVID : 0) | (r.untagged ? C.BRIDGE_VLAN_INFO_UNTAGGED : 0);
    if (r.min === r.max) {
      out.push(vlanInfo(flags, r.min));
    } else {
      if (r.pvid) throw new Error(`a PVID cannot be a range (${r.min}-${r.max})`);
      out.push(
        vlanInfo(flags | C.BRIDGE_VLAN_INFO_RANGE_BEGIN, r.min),
        vlanInfo(flags | C.BRIDGE_VLAN_INFO_RANGE_END, r.max),
      );
    }
  }
  return out;
}

function vlanRequest(
  sock: NetlinkSocket,
  type: number,
  index: number,
  ranges: readonly VlanRange[],
  self: boolean,
  op: string,
): void {
  if (ranges.length === 0) return;
  const spec = nest(C.IFLA_AF_SPEC, ...(self ? [u16(C.IFLA_BRIDGE_FLAGS, BRIDGE_FLAGS_SELF)] : []), ...encode(ranges));
  sock.request(type, 0, Buffer.concat([ifinfomsg({ index, family: C.AF_BRIDGE }), spec]), op);
}

/** IFLA_BRIDGE_FLAGS value addressing the bridge device itself rather than a port (BRIDGE_FLAGS_SELF). */
const BRIDGE_FLAGS_SELF = 2;

/** Adds VLANs to a bridge port (or, with self, to the bridge device itself), all in one request. */
export function addVlans(sock: NetlinkSocket, index: number, ranges: readonly VlanRange[], self = false): void {
  vlanRequest(sock, C.RTM_SETLINK, index, ranges, self, `add VLANs ${formatRanges(ranges)} on link ${index}`);
}

/** Removes VLANs from a bridge port (or, with self, from the bridge device itself), all in one request. */
export function delVlans(sock: NetlinkSocket, index: number, ranges: readonly VlanRange[], self = false): void {
  vlanRequest(sock, C.RTM_DELLINK, index, ranges, self, `delete VLANs ${formatRanges(ranges)} on link ${index}`);
}

/** Ranges from bridge_vlan_info entries (flags, vid), RANGE_BEGIN/RANGE_END pairs joined, in the kernel's order. */
function rangesOf(infos: Iterable<Buffer>): VlanRange[] {
  const ranges: VlanRange[] = [];
  let begin: number | undefined;
  for (const v of infos) {
    if (v.length < 4) continue;
    const flags = v.readUInt16LE(0);
    const vid = v.readUInt16LE(2);
    const pvid = (flags & C.BRIDGE_VLAN_INFO_PVID) !== 0;
    const untagged = (flags & C.BRIDGE_VLAN_INFO_UNTAGGED) !== 0;
    if (flags & C.BRIDGE_VLAN_INFO_RANGE_BEGIN) begin = vid;
    else if (flags & C.BRIDGE_VLAN_INFO_RANGE_END) {
      ranges.push({ min: begin ?? vid, max: vid, pvid, untagged });
      begin = undefined;
    } else ranges.push({ min: vid, max: vid, pvid, untagged });
  }
  return ranges;
}

/**
 * Every port's VLANs (bridges' own entries included), as compressed ranges in VID order, by ifindex: one AF_BRIDGE
 * RTM_GETLINK dump (`rtnl_bridge_getlink`, which takes no filter but IFLA_EXT_MASK), about 0.4 KiB per bridge port of
 * the namespace (Linux 6.18). For what reads the whole node (doctor, the uplink VLAN reconcile); one port's VLANs:
 * portVlans.
 */
export function dumpVlans(sock: NetlinkSocket): Map<number, VlanRange[]> {
  const req = Buffer.concat([
    ifinfomsg({ family: C.AF_BRIDGE }),
    u32(C.IFLA_EXT_MASK, C.RTEXT_FILTER_BRVLAN_COMPRESSED),
  ]);
  const out = new Map<number, VlanRange[]>();
  for (const m of sock.dump(C.RTM_GETLINK, req, 'dump bridge VLANs')) {
    if (m.type !== C.RTM_NEWLINK) continue;
    const spec = attrMap(m.data, IFINFOMSG_LEN).get(C.IFLA_AF_SPEC);
    if (!spec) continue;
    const infos = parseAttrs(spec)
      .filter(([type]) => type === C.IFLA_BRIDGE_VLAN_INFO)
      .map(([, v]) => v);
    out.set(m.data.readInt32LE(4), rangesOf(infos));
  }
  return out;
}

/**
 * Whether RTM_GETVLAN may be asked for one device: the request exists since Linux 5.8 (8dcea187088b, "net: bridge:
 * vlan: add rtm definitions and dump support"), but until 5.17 a dump for one ifindex never ended (it repeated the
 * same entries; fixed by dcb2c5c6ca9b "net: bridge: vlan: fix single net device option dumping", also in the 5.15
 * and 5.16 stable series, which a version number cannot tell). Before 5.17 by `uname -r`, portVlans takes the dump of
 * every port instead. Undefined until the first call; false once the kernel refused the request.
 */
let getVlanByIndex: boolean | undefined;

/** Whether `uname -r` is at least major.minor (node:os loaded only here, on the first call that needs it). */
function kernelAtLeast(major: number, minor: number): boolean {
  const { release } = process.getBuiltinModule('node:os') as typeof import('node:os');
  const m = /^(\d+)\.(\d+)/.exec(release());
  return m !== null && (Number(m[1]) > major || (Number(m[1]) === major && Number(m[2]) >= minor));
}

/**
 * VLANs of one port ([] when it has none, is not a bridge port or does not exist), as compressed ranges in VID
 * order. One RTM_GETVLAN dump filtered by ifindex (struct br_vlan_msg, `br_vlan_rtm_dump` in net/bridge/br_vlan.c,
 * read in Linux 6.18): a reply of a few dozen bytes, whatever the number of ports. Falls back to dumpVlans (every
 * port's, then this one picked) on a kernel before 5.17 (see getVlanByIndex) or one that refuses RTM_GETVLAN
 * (EOPNOTSUPP: built without CONFIG_BRIDGE_VLAN_FILTERING, or before 5.8), and for a link that is no bridge port
 * (EINVAL), which the dump of every port answers with [] as before. Throws KernelError.
 */
export function portVlans(sock: NetlinkSocket, index: number): VlanRange[] {
  return vlansByIndex(sock, index) ?? dumpVlans(sock).get(index) ?? [];
}

/**
 * The VLANs of the ports `indexes` (a bridge's, from listPorts), by ifindex: one RTM_GETVLAN request per port, so
 * that the ports of other bridges cost nothing; on a kernel where portVlans falls back, one dump of every port
 * instead (never one per port). Throws KernelError.
 */
export function portsVlans(sock: NetlinkSocket, indexes: readonly number[]): Map<number, VlanRange[]> {
  const out = new Map<number, VlanRange[]>();
  for (const index of indexes) {
    const v = vlansByIndex(sock, index);
    if (v === undefined) break;
    out.set(index, v);
  }
  if (out.size === indexes.length) return out;
  const all = dumpVlans(sock);
  for (const index of indexes) out.set(index, all.get(index) ?? []);
  return out;
}

/** RTM_GETVLAN for one ifindex; undefined where portVlans says it falls back. Throws KernelError. */
function vlansByIndex(sock: NetlinkSocket, index: number): VlanRange[] | undefined {
  getVlanByIndex ??= kernelAtLeast(5, 17);
  if (!getVlanByIndex) return undefined;
  const req = Buffer.alloc(8); // struct br_vlan_msg: u8 family, u8 + u16 reserved, u32 ifindex
  req.writeUInt8(C.AF_BRIDGE, 0);
  req.writeUInt32LE(index, 4);
  try {
    const infos: Buffer[] = [];
    for (const m of sock.dump(C.RTM_GETVLAN, req, `dump VLANs of link ${index}`)) {
      if (m.type !== C.RTM_NEWVLAN || m.data.length < 8 || m.data.readUInt32LE(4) !== index) continue;
      for (const [type, entry] of parseAttrs(m.data, 8))
        if (type === C.BRIDGE_VLANDB_ENTRY) infos.push(...infosOf(entry));
    }
    return rangesOf(infos);
  } catch (err) {
    if (isErrno(err, 'ENODEV')) return [];
    // EINVAL: the link is no bridge port (`br_vlan_dump_dev` refuses it); answered by the dump of every port, which
    // has no entry for it. Errno 95 (Node names it ENOTSUP): no RTM_GETVLAN on this kernel.
    if (isErrno(err, 'EOPNOTSUPP', 'ENOTSUP')) getVlanByIndex = false;
    else if (!isErrno(err, 'EINVAL')) throw err;
    return undefined;
  }
}

/**
 * One BRIDGE_VLANDB_ENTRY as bridge_vlan_info entries: its INFO, or for a range the same flags from its first VID
 * to BRIDGE_VLANDB_ENTRY_RANGE as a RANGE_BEGIN/RANGE_END pair.
 */
function infosOf(entry: Buffer): Buffer[] {
  const e = attrMap(entry);
  const info = e.get(C.BRIDGE_VLANDB_ENTRY_INFO);
  if (!info || info.length < 4) return [];
  const end = e.get(C.BRIDGE_VLANDB_ENTRY_RANGE);
  if (!end || end.length < 2 || end.readUInt16LE(0) <= info.readUInt16LE(2)) return [info];
  const flags = info.readUInt16LE(0);
  const first = Buffer.alloc(4);
  first.writeUInt16LE(flags | C.BRIDGE_VLAN_INFO_RANGE_BEGIN, 0);
  first.writeUInt16LE(info.readUInt16LE(2), 2);
  const last = Buffer.alloc(4);
  last.writeUInt16LE(flags | C.BRIDGE_VLAN_INFO_RANGE_END, 0);
  last.writeUInt16LE(end.readUInt16LE(0), 2);
  return [first, last];
}
