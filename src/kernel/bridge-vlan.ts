// VLANs on bridge ports (AF_BRIDGE, IFLA_AF_SPEC / IFLA_BRIDGE_VLAN_INFO), as `bridge vlan add/del/show`.
// Whole ranges travel as RANGE_BEGIN/RANGE_END pairs and many entries share one request, so a 2-4094 trunk is
// one round trip (the reference plugin sends one request per VID).
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

/** Every port's VLANs (bridges' own entries included), as compressed ranges in VID order. */
export function dumpVlans(sock: NetlinkSocket): Map<number, VlanRange[]> {
  const req = Buffer.concat([
    ifinfomsg({ family: C.AF_BRIDGE }),
    u32(C.IFLA_EXT_MASK, C.RTEXT_FILTER_BRVLAN_COMPRESSED),
  ]);
  const out = new Map<number, VlanRange[]>();
  for (const m of sock.dump(C.RTM_GETLINK, req, 'dump bridge VLANs')) {
    if (m.type !== C.RTM_NEWLINK) continue;
    const index = m.data.readInt32LE(4);
    const spec = attrMap(m.data, IFINFOMSG_LEN).get(C.IFLA_AF_SPEC);
    if (!spec) continue;
    const ranges: VlanRange[] = [];
    let begin: number | undefined;
    for (const [type, v] of parseAttrs(spec)) {
      if (type !== C.IFLA_BRIDGE_VLAN_INFO || v.length < 4) continue;
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
    out.set(index, ranges);
  }
  return out;
}

/** VLANs of one port ([] when it has none or is not a bridge port). */
export function portVlans(sock: NetlinkSocket, index: number): VlanRange[] {
  return dumpVlans(sock).get(index) ?? [];
}
