// discover's pure parts: DHCP messages built and parsed byte by byte (RFC 2131/2132), the CIDR Harvester derives
// (mask applied to the router), the report's precedence between answers, options, and ICMP echo.
import { describe, expect, it } from 'vitest';
import {
  DhcpFormatError,
  REQUESTED_OPTIONS,
  buildRequest,
  cidrOf,
  maskToPrefix,
  parsePacket,
  readAnswer,
} from '../../src/tools/dhcp-packet.js';
import { parseDiscoverArgs, summarize, type DiscoverArgs } from '../../src/tools/discover.js';
import { Exit, ToolError, UsageError } from '../../src/tools/errors.js';
import { buildEchoRequest, inetChecksum, parseEchoReply } from '../../src/tools/ping.js';

const MAC = '02:42:ac:11:00:02';

/** The options area of a packet built by buildRequest, as [code, bytes] in order (END excluded). */
function optionsOf(p: Buffer): Array<[number, number[]]> {
  const out: Array<[number, number[]]> = [];
  let off = 240;
  while (p[off] !== 255) {
    const code = p[off]!;
    const len = p[off + 1]!;
    out.push([code, [...p.subarray(off + 2, off + 2 + len)]]);
    off += 2 + len;
  }
  return out;
}

/** A server's BOOTREPLY: fixed part, cookie, then raw option bytes as given. */
function reply(opts: {
  xid?: number;
  yiaddr?: string;
  siaddr?: string;
  options: number[];
  sname?: number[];
  file?: number[];
  cookie?: number;
}): Buffer {
  const b = Buffer.alloc(240);
  b[0] = 2;
  b[1] = 1;
  b[2] = 6;
  b.writeUInt32BE(opts.xid ?? 0x11223344, 4);
  Buffer.from((opts.yiaddr ?? '10.100.0.57').split('.').map(Number)).copy(b, 16);
  Buffer.from((opts.siaddr ?? '0.0.0.0').split('.').map(Number)).copy(b, 20);
  Buffer.from(MAC.split(':').map((h) => parseInt(h, 16))).copy(b, 28);
  if (opts.sname) Buffer.from(opts.sname).copy(b, 44);
  if (opts.file) Buffer.from(opts.file).copy(b, 108);
  b.writeUInt32BE(opts.cookie ?? 0x63825363, 236);
  return Buffer.concat([b, Buffer.from(opts.options)]);
}

const OFFER_OPTIONS = [
  53,
  1,
  2, // OFFER
  54,
  4,
  10,
  100,
  0,
  1, // server id
  51,
  4,
  0,
  0,
  0x0e,
  0x10, // lease 3600
  1,
  4,
  255,
  255,
  255,
  0, // mask
  3,
  8,
  10,
  100,
  0,
  1,
  10,
  100,
  0,
  2, // two routers
  6,
  8,
  10,
  100,
  0,
  53,
  8,
  8,
  8,
  8, // two DNS servers
  26,
  2,
  0x05,
  0x78, // MTU 1400
  15,
  7,
  ...Buffer.from('example'), // domain
  255,
];

describe('DHCP requests', () => {
  it('DISCOVER: BOOTREQUEST header, broadcast flag, chaddr, cookie, options in order, padded to 300 bytes', () => {
    const p = buildRequest({
      type: 'DISCOVER',
      xid: 0xdeadbeef,
      mac: MAC,
      secs: 3,
      broadcast: true,
      maxMessageSize: 1472,
    });
    expect(p.length).toBe(300);
    expect([p[0], p[1], p[2], p[3]]).toEqual([1, 1, 6, 0]);
    expect(p.readUInt32BE(4)).toBe(0xdeadbeef);
    expect(p.readUInt16BE(8)).toBe(3);
    expect(p.readUInt16BE(10)).toBe(0x8000);
    expect(p.subarray(12, 28).every((x) => x === 0)).toBe(true); // ciaddr yiaddr siaddr giaddr
    expect([...p.subarray(28, 34)]).toEqual([0x02, 0x42, 0xac, 0x11, 0x00, 0x02]);
    expect(p.subarray(34, 236).every((x) => x === 0)).toBe(true); // chaddr padding, sname, file
    expect(p.readUInt32BE(236)).toBe(0x63825363);
    expect(optionsOf(p)).toEqual([
      [53, [1]],
      [61, [1, 0x02, 0x42, 0xac, 0x11, 0x00, 0x02]],
      [57, [0x05, 0xc0]],
      [55, REQUESTED_OPTIONS],
    ]);
    expect(REQUESTED_OPTIONS).toEqual(expect.arrayContaining([1, 3, 6, 26, 51, 54]));
  });

  it('REQUEST selecting an offer carries the requested address and the chosen server', () => {
    const p = buildRequest({
      type: 'REQUEST',
      xid: 1,
      mac: MAC,
      broadcast: true,
      requestedIp: '10.100.0.57',
      serverId: '10.100.0.1',
    });
    const o = new Map(optionsOf(p));
    expect(o.get(53)).toEqual([3]);
    expect(o.get(50)).toEqual([10, 100, 0, 57]);
    expect(o.get(54)).toEqual([10, 100, 0, 1]);
    expect(p.subarray(12, 16).every((x) => x === 0)).toBe(true);
  });

  it('INFORM sets ciaddr and asks for a unicast answer (no broadcast flag)', () => {
    const p = buildRequest({ type: 'INFORM', xid: 2, mac: MAC, ciaddr: '10.100.0.9' });
    expect([...p.subarray(12, 16)]).toEqual([10, 100, 0, 9]);
    expect(p.readUInt16BE(10)).toBe(0);
    expect(new Map(optionsOf(p)).get(53)).toEqual([8]);
  });

  it('RELEASE names the server and asks for nothing', () => {
    const p = buildRequest({ type: 'RELEASE', xid: 3, mac: MAC, ciaddr: '10.100.0.57', serverId: '10.100.0.1' });
    const o = new Map(optionsOf(p));
    expect(o.get(53)).toEqual([7]);
    expect(o.get(54)).toEqual([10, 100, 0, 1]);
    expect(o.has(55)).toBe(false);
    expect(o.has(57)).toBe(false);
  });

  it('keeps the maximum message size at 576 or more and refuses a malformed MAC or address', () => {
    const p = buildRequest({ type: 'DISCOVER', xid: 1, mac: MAC, maxMessageSize: 100 });
    expect(new Map(optionsOf(p)).get(57)).toEqual([0x02, 0x40]);
    expect(() => buildRequest({ type: 'DISCOVER', xid: 1, mac: '02:42:ac:11:00' })).toThrow(/MAC/);
    expect(() => buildRequest({ type: 'INFORM', xid: 1, mac: MAC, ciaddr: '10.1.2' })).toThrow(/IPv4/);
  });
});

describe('DHCP answers', () => {
  it('reads an OFFER: type, address, server, mask, routers, DNS, MTU, lease time, domain', () => {
    const p = parsePacket(reply({ options: OFFER_OPTIONS }));
    expect(p).toMatchObject({ op: 2, xid: 0x11223344, chaddr: MAC, yiaddr: '10.100.0.57' });
    expect(readAnswer(p)).toEqual({
      type: 'OFFER',
      address: '10.100.0.57',
      server: '10.100.0.1',
      subnetMask: '255.255.255.0',
      routers: ['10.100.0.1', '10.100.0.2'],
      dns: ['10.100.0.53', '8.8.8.8'],
      mtu: 1400,
      leaseTime: 3600,
      domain: 'example',
    });
  });

  it('skips PAD bytes one at a time and stops at END', () => {
    const a = readAnswer(
      parsePacket(reply({ options: [0, 0, 53, 1, 5, 0, 1, 4, 255, 255, 0, 0, 255, 3, 4, 9, 9, 9, 9] })),
    );
    expect(a.type).toBe('ACK');
    expect(a.subnetMask).toBe('255.255.0.0');
    expect(a.routers).toEqual([]); // after END: ignored
  });

  it('concatenates an option split over several instances (RFC 3396)', () => {
    const a = readAnswer(parsePacket(reply({ options: [53, 1, 2, 6, 4, 10, 0, 0, 1, 6, 4, 10, 0, 0, 2, 255] })));
    expect(a.dns).toEqual(['10.0.0.1', '10.0.0.2']);
  });

  it('reads options from file and sname when option 52 says they are overloaded', () => {
    const p = parsePacket(
      reply({
        options: [53, 1, 2, 52, 1, 3, 255],
        file: [1, 4, 255, 255, 255, 128, 255],
        sname: [3, 4, 10, 0, 0, 129, 255],
      }),
    );
    expect(readAnswer(p)).toMatchObject({ subnetMask: '255.255.255.128', routers: ['10.0.0.129'] });
  });

  it('takes siaddr as the server when option 54 is missing', () => {
    expect(readAnswer(parsePacket(reply({ siaddr: '10.0.0.7', options: [53, 1, 2, 255] }))).server).toBe('10.0.0.7');
    expect(readAnswer(parsePacket(reply({ options: [53, 1, 2, 255] }))).server).toBeUndefined();
  });

  it('ignores an MTU below 68, reads a NAK message', () => {
    expect(readAnswer(parsePacket(reply({ options: [53, 1, 2, 26, 2, 0, 20, 255] }))).mtu).toBeUndefined();
    expect(
      readAnswer(parsePacket(reply({ options: [53, 1, 6, 56, 8, ...Buffer.from('no lease'), 255] }))),
    ).toMatchObject({ type: 'NAK', message: 'no lease' });
  });

  it.each([
    ['too short', Buffer.alloc(100), /too short/],
    ['no magic cookie', reply({ cookie: 0x01020304, options: [255] }), /cookie/],
    ['an option running past the end', reply({ options: [53, 1, 2, 3, 8, 10, 0, 0, 1] }), /runs past/],
    ['an option without its length', reply({ options: [53, 1, 2, 3] }), /no length/],
  ])('refuses a packet with %s', (_, buf, msg) => {
    expect(() => parsePacket(buf)).toThrow(DhcpFormatError);
    expect(() => parsePacket(buf)).toThrow(msg);
  });

  it.each([
    ['a router list not a multiple of 4 bytes', [53, 1, 2, 3, 5, 1, 2, 3, 4, 5, 255], /option 3/],
    ['a 3-byte subnet mask', [53, 1, 2, 1, 3, 255, 255, 0, 255], /option 1/],
    ['no message type', [1, 4, 255, 255, 255, 0, 255], /message type/],
    ['an unknown message type', [53, 1, 42, 255], /message type/],
  ])('refuses an answer with %s', (_, options, msg) => {
    expect(() => readAnswer(parsePacket(reply({ options })))).toThrow(msg);
  });

  it('leaves out malformed options it can do without (DNS, MTU, broadcast, lease times) and names them', () => {
    const a = readAnswer(
      parsePacket(
        reply({
          options: [
            53, 1, 2, 1, 4, 255, 255, 255, 0, 3, 4, 10, 0, 0, 1, 6, 3, 1, 2, 3, 26, 3, 5, 220, 0, 51, 2, 0, 1, 28, 0,
            58, 1, 9, 255,
          ],
        }),
      ),
    );
    expect(a).toEqual({
      type: 'OFFER',
      address: '10.100.0.57',
      subnetMask: '255.255.255.0',
      routers: ['10.0.0.1'],
      dns: [],
      ignored: [
        'option 6 must hold IPv4 addresses (got 3 bytes): ignored',
        'option 26 must be 2 bytes (got 3): ignored',
        'option 28 must be one IPv4 address (got 0 bytes): ignored',
        'option 51 must be 4 bytes (got 2): ignored',
        'option 58 must be 4 bytes (got 1): ignored',
      ],
    });
  });

  it('refuses a BOOTREQUEST as an answer', () => {
    const req = buildRequest({ type: 'DISCOVER', xid: 1, mac: MAC });
    expect(() => readAnswer(parsePacket(req))).toThrow(/BOOTREPLY/);
  });
});

describe('CIDR from a subnet mask', () => {
  it.each([
    ['10.100.0.1', '255.255.255.0', '10.100.0.0/24'],
    ['10.100.0.129', '255.255.255.128', '10.100.0.128/25'],
    ['172.16.5.1', '255.240.0.0', '172.16.0.0/12'],
    ['192.168.1.1', '255.255.255.255', '192.168.1.1/32'],
    ['192.168.1.1', '0.0.0.0', '0.0.0.0/0'],
    ['10.0.0.1', '255.255.255.254', '10.0.0.0/31'],
  ])('%s with %s is %s', (ip, mask, cidr) => {
    expect(cidrOf(ip, mask)).toBe(cidr);
  });

  it('refuses a mask that is not contiguous', () => {
    expect(() => maskToPrefix('255.0.255.0')).toThrow(/not contiguous/);
    expect(() => maskToPrefix('255.255.255.1')).toThrow(/not contiguous/);
    expect(maskToPrefix('255.255.254.0')).toBe(23);
  });
});

describe('the discover report', () => {
  const args: DiscoverArgs = { bridge: 'mgmt-br', vlan: 100, timeoutMs: 10_000, ping: false };
  const offer = readAnswer(parsePacket(reply({ options: OFFER_OPTIONS })));

  it('applies the mask to the router (Harvester auto mode), not to the offered address', () => {
    const o = { ...offer, routers: ['10.100.1.1'], subnetMask: '255.255.254.0' };
    expect(summarize(args, { offer: o }, o.address)).toEqual({
      bridge: 'mgmt-br',
      vlan: 100,
      method: 'discover',
      cidr: '10.100.0.0/23',
      gateway: '10.100.1.1',
      server: '10.100.0.1',
      leaseTime: 3600,
      dns: ['10.100.0.53', '8.8.8.8'],
      mtu: 1400,
      domain: 'example',
      address: '10.100.0.57',
    });
  });

  it('names the options left out of the answers, once each', () => {
    const bad = { ...offer, ignored: ['option 26 must be 2 bytes (got 3): ignored'] };
    expect(summarize(args, { offer: bad, ack: bad }, bad.address).ignored).toEqual([
      'option 26 must be 2 bytes (got 3): ignored',
    ]);
    expect(summarize(args, { offer }, offer.address)).not.toHaveProperty('ignored');
  });

  it('with no router: the mask applied to the address, and no gateway', () => {
    const r = summarize(args, { offer: { ...offer, routers: [] } }, '10.100.0.57');
    expect(r.cidr).toBe('10.100.0.0/24');
    expect(r.gateway).toBeNull();
  });

  it('prefers what the INFORM answer says, keeps the lease time of the offer, omits MTU when not offered', () => {
    const inform = {
      type: 'ACK' as const,
      address: '0.0.0.0',
      server: '10.100.0.2',
      subnetMask: '255.255.0.0',
      routers: ['10.100.0.254'],
      dns: [],
    };
    const r = summarize(
      { ...args, server: '10.100.0.2' },
      { inform, offer: { ...offer, mtu: undefined } },
      '10.100.0.57',
    );
    expect(r).toMatchObject({
      method: 'inform',
      cidr: '10.100.0.0/16',
      gateway: '10.100.0.254',
      server: '10.100.0.2',
      leaseTime: 3600,
      dns: ['10.100.0.53', '8.8.8.8'],
    });
    expect(r).not.toHaveProperty('mtu');
  });

  it('an INFORM alone has no lease time', () => {
    const inform = {
      type: 'ACK' as const,
      address: '0.0.0.0',
      server: '10.100.0.2',
      subnetMask: '255.255.255.0',
      routers: ['10.100.0.1'],
      dns: [],
    };
    expect(summarize({ ...args, server: '10.100.0.2' }, { inform }, '10.100.0.9').leaseTime).toBeNull();
  });

  it('an answer without a subnet mask is unusable (exit 6)', () => {
    let err: unknown;
    try {
      summarize(args, { offer: { ...offer, subnetMask: undefined } }, offer.address);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ToolError);
    expect((err as ToolError).exit).toBe(Exit.BadAnswer);
    expect((err as Error).message).toMatch(/subnet mask/);
  });
});

describe('discover options', () => {
  it('reads bridge, VLAN, server, address, timeout and ping', () => {
    expect(parseDiscoverArgs(['--bridge', 'mgmt-br', '--vlan', '100'])).toEqual({
      bridge: 'mgmt-br',
      vlan: 100,
      timeoutMs: 10_000,
      ping: false,
    });
    expect(
      parseDiscoverArgs([
        '--bridge=mgmt-br',
        '--vlan=0',
        '--server',
        '10.0.0.2',
        '--address',
        '10.0.0.9/24',
        '--timeout',
        '2.5',
        '--ping',
      ]),
    ).toEqual({
      bridge: 'mgmt-br',
      vlan: 0,
      server: '10.0.0.2',
      address: { ip: '10.0.0.9', prefix: 24 },
      timeoutMs: 2500,
      ping: true,
    });
    // A server behind a router (a relay's address on this VLAN): --gateway, in the address's subnet.
    expect(
      parseDiscoverArgs([
        '--bridge',
        'br',
        '--vlan',
        '5',
        '--server',
        '10.9.9.9',
        '--address',
        '10.0.0.9/24',
        '--gateway',
        '10.0.0.1',
      ]),
    ).toMatchObject({
      server: '10.9.9.9',
      address: { ip: '10.0.0.9', prefix: 24 },
      gateway: '10.0.0.1',
    });
  });

  it.each([
    [[], /missing --bridge and --vlan/],
    [['--bridge', 'br'], /missing --vlan/],
    [['--bridge', 'br', '--vlan', '4095'], /--vlan must be an integer from 0 to 4094/],
    [['--bridge', 'br', '--vlan', '1e2'], /--vlan must be an integer/],
    [['--bridge', 'br', '--vlan', '5', '--timeout', '0'], /--timeout/],
    [['--bridge', 'br', '--vlan', '5', '--timeout', 'soon'], /--timeout/],
    [['--bridge', 'br', '--vlan', '5', '--server', '10.0.0.256'], /--server must be an IPv4 address/],
    [['--bridge', 'br', '--vlan', '5', '--address', '10.0.0.9/24'], /needs --server/],
    [['--bridge', 'br', '--vlan', '5', '--server', '10.0.0.1', '--address', '10.0.0.9'], /ip\/prefix/],
    [
      ['--bridge', 'br', '--vlan', '5', '--server', '10.9.9.9', '--address', '10.0.0.9/24'],
      /--server 10\.9\.9\.9 is not in 10\.0\.0\.9\/24: give --gateway/,
    ],
    [
      ['--bridge', 'br', '--vlan', '5', '--server', '10.9.9.9', '--address', '10.0.0.9/24', '--gateway', '10.1.0.1'],
      /--gateway 10\.1\.0\.1 is not in 10\.0\.0\.9\/24/,
    ],
    [['--bridge', 'br', '--vlan', '5', '--gateway', '10.0.0.1'], /--gateway routes from --address/],
    [['--bridge', 'a-name-longer-than-15', '--vlan', '5'], /--bridge/],
    [['--bridge', 'br', '--vlan', '5', '--bogus'], /^unknown option "--bogus"$/],
    [['--bridge', 'br', '--vlan', '5', '--pnig'], /^unknown option "--pnig" \(did you mean "--ping"\?\)$/],
    [['--bridge', 'br', '--vlan', '5', 'extra'], /^unexpected argument "extra"$/],
    [['--bridge', 'br', '--vlan', '5', '-p'], /^unexpected argument "-p" \(options are spelt --name\)$/],
    [['--bridge', 'br', '--vlan'], /^--vlan needs a value <id>$/],
    [['--bridge', 'br', '--vlan', '--ping'], /^--vlan needs a value <id>$/],
    [['--bridge', 'br', '--vlan', '5', '--ping=yes'], /^--ping takes no value \(got "yes"\)$/],
  ])('refuses %j', (argv, msg) => {
    expect(() => parseDiscoverArgs(argv)).toThrow(UsageError);
    expect(() => parseDiscoverArgs(argv)).toThrow(msg);
  });
});

describe('ICMP echo', () => {
  it('computes the Internet checksum (RFC 1071 example) and builds a request that sums to zero', () => {
    expect(inetChecksum(Buffer.from([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]))).toBe(~0xddf2 & 0xffff);
    const req = buildEchoRequest(0x1234, 7);
    expect(req[0]).toBe(8);
    expect(inetChecksum(req)).toBe(0);
    expect(req.readUInt16BE(4)).toBe(0x1234);
    expect(req.readUInt16BE(6)).toBe(7);
  });

  it('reads an echo reply after the IP header (options included) and nothing else', () => {
    const ip = Buffer.alloc(24);
    ip[0] = 0x46; // IPv4, IHL 6 (24 bytes)
    const echo = buildEchoRequest(0x1234, 7);
    echo[0] = 0; // reply
    expect(parseEchoReply(Buffer.concat([ip, echo]))).toEqual({ id: 0x1234, seq: 7 });
    const unreachable = Buffer.from(echo);
    unreachable[0] = 3;
    expect(parseEchoReply(Buffer.concat([ip, unreachable]))).toBeNull();
    expect(parseEchoReply(Buffer.alloc(10))).toBeNull();
  });
});
