// The kernel layer's fixed values and headers, checked against an independent source: errno numbers against
// Node's (libuv's, compiled against the C library's headers), struct ifinfomsg against its C layout.
import { constants } from 'node:os';
import { describe, expect, it } from 'vitest';
import * as E from '../../src/kernel/errno.js';
import { AF_BRIDGE, IFF_UP } from '../../src/kernel/netlink/constants.js';
import { IFINFOMSG_LEN, ifinfomsg } from '../../src/kernel/netlink/headers.js';

describe('errno names', () => {
  it.each(Object.entries(E))("%s is the C library's", (name, value) => {
    expect(value).toBe(constants.errno[name as keyof typeof constants.errno]);
  });
});

describe('struct ifinfomsg', () => {
  it('is 16 bytes of zeros by default (AF_UNSPEC, no index: a dump or a request by name)', () => {
    expect(IFINFOMSG_LEN).toBe(16);
    expect(ifinfomsg()).toEqual(Buffer.alloc(16));
  });

  it('puts family at 0, index at 4, flags at 8 and change at 12, host byte order', () => {
    const b = ifinfomsg({ family: AF_BRIDGE, index: 0x01020304, flags: IFF_UP, change: 0xffffffff });
    expect([...b]).toEqual([AF_BRIDGE, 0, 0, 0, 4, 3, 2, 1, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
  });
});
