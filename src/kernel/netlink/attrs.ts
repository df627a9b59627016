// Netlink attributes (struct nlattr: u16 len, u16 type, payload padded to 4 bytes), host byte order.

const align4 = (n: number) => (n + 3) & ~3;

export type Attr = Buffer;

export function attr(type: number, payload: Buffer): Attr {
  const len = 4 + payload.length;
  const b = Buffer.alloc(align4(len));
  b.writeUInt16LE(len, 0);
  b.writeUInt16LE(type, 2);
  payload.copy(b, 4);
  return b;
}

export const u8 = (type: number, v: number): Attr => attr(type, Buffer.from([v & 0xff]));
export function u16(type: number, v: number): Attr {
  const p = Buffer.alloc(2);
  p.writeUInt16LE(v);
  return attr(type, p);
}
export function u32(type: number, v: number): Attr {
  const p = Buffer.alloc(4);
  p.writeUInt32LE(v >>> 0);
  return attr(type, p);
}
/** A NUL-terminated string, as IFLA_IFNAME and IFLA_INFO_KIND want. */
export const str = (type: number, s: string): Attr => attr(type, Buffer.from(`${s}\0`, 'utf8'));
export const bytes = (type: number, b: Buffer): Attr => attr(type, b);
/** A nested attribute; NLA_F_NESTED is left to the caller where the kernel's policy demands it. */
export const nest = (type: number, ...children: Attr[]): Attr => attr(type, Buffer.concat(children));

/** All attributes in buf[start, end), in order; repeated types are kept (IFLA_AF_SPEC lists many VLAN infos). */
export function parseAttrs(buf: Buffer, start = 0, end = buf.length): Array<[number, Buffer]> {
  const out: Array<[number, Buffer]> = [];
  let off = start;
  while (off + 4 <= end) {
    const len = buf.readUInt16LE(off);
    if (len < 4 || off + len > end) break;
    out.push([buf.readUInt16LE(off + 2) & 0x3fff, buf.subarray(off + 4, off + len)]);
    off += align4(len);
  }
  return out;
}

/** The last attribute of each type: the usual way to read a message whose types do not repeat. */
export function attrMap(buf: Buffer, start = 0, end = buf.length): Map<number, Buffer> {
  return new Map(parseAttrs(buf, start, end));
}

export const readStr = (b: Buffer | undefined): string | undefined => {
  if (!b) return undefined;
  const nul = b.indexOf(0);
  return b.toString('utf8', 0, nul === -1 ? b.length : nul);
};
export const readU8 = (b: Buffer | undefined): number | undefined => (b && b.length >= 1 ? b.readUInt8(0) : undefined);
export const readU16 = (b: Buffer | undefined): number | undefined =>
  b && b.length >= 2 ? b.readUInt16LE(0) : undefined;
export const readU32 = (b: Buffer | undefined): number | undefined =>
  b && b.length >= 4 ? b.readUInt32LE(0) : undefined;
