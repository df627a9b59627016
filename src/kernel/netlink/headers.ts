// The fixed headers of rtnetlink link messages, built in one place.
import { AF_UNSPEC } from './constants.js';

/** sizeof(struct ifinfomsg) (linux/rtnetlink.h): where a link message's attributes start. */
export const IFINFOMSG_LEN = 16;

export interface IfinfoFields {
  /** ifi_family: AF_UNSPEC (links) by default, AF_BRIDGE for bridge ports and their VLANs. */
  family?: number;
  /** ifi_index; 0 when the link is named by IFLA_IFNAME or for a dump. */
  index?: number;
  /** ifi_flags: IFF_* values to set (only those named in `change` count). */
  flags?: number;
  /** ifi_change: which IFF_* flags the request changes. */
  change?: number;
}

/**
 * struct ifinfomsg (linux/rtnetlink.h), host byte order: u8 family, u8 pad, u16 type (0), s32 index, u32 flags,
 * u32 change; 16 bytes. Every RTM_NEWLINK/GETLINK/SETLINK/DELLINK request starts with it.
 */
export function ifinfomsg(f: IfinfoFields = {}): Buffer {
  const b = Buffer.alloc(IFINFOMSG_LEN);
  b.writeUInt8(f.family ?? AF_UNSPEC, 0);
  b.writeInt32LE(f.index ?? 0, 4);
  b.writeUInt32LE((f.flags ?? 0) >>> 0, 8);
  b.writeUInt32LE((f.change ?? 0) >>> 0, 12);
  return b;
}
