// The neighbour table (RTM_GETNEIGH dump), read only: which next hops are still being resolved.
import { bytesToIp } from '../ip.js';
import { attrMap } from './netlink/attrs.js';
import * as C from './netlink/constants.js';
import type { NetlinkSocket } from './netlink/socket.js';

export interface Neighbour {
  index: number;
  ip: string;
  /** NUD_* bits of ndm_state (include/uapi/linux/neighbour.h): NUD_INCOMPLETE 0x01 while ARP/ND is unanswered. */
  state: number;
}

/** include/uapi/linux/neighbour.h */
export const NUD_INCOMPLETE = 0x01;

/**
 * The IPv4 neighbour entries of link `index` (RTM_GETNEIGH dump of AF_INET, struct ndmsg of 12 bytes, NDA_DST
 * the address). A packet to an entry in NUD_INCOMPLETE waits in the kernel's queue for the answer and is lost if
 * the link goes first. Throws KernelError.
 */
export function listNeighbours(sock: NetlinkSocket, index: number): Neighbour[] {
  const ndmsg = Buffer.alloc(12);
  ndmsg.writeUInt8(C.AF_INET, 0);
  ndmsg.writeInt32LE(index, 4);
  const out: Neighbour[] = [];
  for (const m of sock.dump(C.RTM_GETNEIGH, ndmsg, `list the neighbours of link ${index}`)) {
    if (m.type !== C.RTM_NEWNEIGH || m.data.length < 12) continue;
    if (m.data.readInt32LE(4) !== index) continue;
    const dst = attrMap(m.data, 12).get(C.NDA_DST);
    if (dst?.length !== 4) continue;
    out.push({ index, ip: bytesToIp(dst), state: m.data.readUInt16LE(8) });
  }
  return out;
}
