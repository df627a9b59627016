import { describe, expect, it } from 'vitest';
import { CniError, Code } from '../../src/cni/errors.js';
import { convertResult, parseResult, type Result } from '../../src/cni/result.js';
import { cidrFamily, ipFamily } from '../../src/ip.js';
import { SUPPORTED_VERSIONS } from '../../src/cni/versions.js';
import { thrown as thrownAs } from '../lab/thrown.js';

const thrown = (fn: () => unknown): CniError => thrownAs(CniError, fn);

// What host-local (containernetworking/plugins) prints for ranges 10.10.0.0/16 (gateway .1) and fd00:10::/64,
// with routes 0.0.0.0/0 and ::/0. Before 1.0.0 libcni printed an empty "dns": {}.
const hostLocal = {
  v4: {
    '0.2.0': {
      cniVersion: '0.2.0',
      ip4: { ip: '10.10.0.5/16', gateway: '10.10.0.1', routes: [{ dst: '0.0.0.0/0' }] },
      dns: {},
    },
    '0.3.1': {
      cniVersion: '0.3.1',
      ips: [{ version: '4', address: '10.10.0.5/16', gateway: '10.10.0.1' }],
      routes: [{ dst: '0.0.0.0/0' }],
      dns: {},
    },
    '0.4.0': {
      cniVersion: '0.4.0',
      ips: [{ version: '4', address: '10.10.0.5/16', gateway: '10.10.0.1' }],
      routes: [{ dst: '0.0.0.0/0' }],
      dns: {},
    },
    '1.0.0': {
      cniVersion: '1.0.0',
      ips: [{ address: '10.10.0.5/16', gateway: '10.10.0.1' }],
      routes: [{ dst: '0.0.0.0/0' }],
    },
  },
  dual: {
    '0.2.0': {
      cniVersion: '0.2.0',
      ip4: { ip: '10.10.0.5/16', gateway: '10.10.0.1', routes: [{ dst: '0.0.0.0/0' }] },
      ip6: { ip: 'fd00:10::5/64', gateway: 'fd00:10::1', routes: [{ dst: '::/0' }] },
      dns: {},
    },
    '0.3.1': {
      cniVersion: '0.3.1',
      ips: [
        { version: '4', address: '10.10.0.5/16', gateway: '10.10.0.1' },
        { version: '6', address: 'fd00:10::5/64', gateway: 'fd00:10::1' },
      ],
      routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0' }],
      dns: {},
    },
    '0.4.0': {
      cniVersion: '0.4.0',
      ips: [
        { version: '4', address: '10.10.0.5/16', gateway: '10.10.0.1' },
        { version: '6', address: 'fd00:10::5/64', gateway: 'fd00:10::1' },
      ],
      routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0' }],
      dns: {},
    },
    '1.0.0': {
      cniVersion: '1.0.0',
      ips: [
        { address: '10.10.0.5/16', gateway: '10.10.0.1' },
        { address: 'fd00:10::5/64', gateway: 'fd00:10::1' },
      ],
      routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0' }],
    },
  },
};

const parsedV4: Result = {
  cniVersion: '1.1.0',
  ips: [{ address: '10.10.0.5/16', gateway: '10.10.0.1' }],
  routes: [{ dst: '0.0.0.0/0' }],
};
const parsedDual: Result = {
  cniVersion: '1.1.0',
  ips: [
    { address: '10.10.0.5/16', gateway: '10.10.0.1' },
    { address: 'fd00:10::5/64', gateway: 'fd00:10::1' },
  ],
  routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0' }],
};

describe('parseResult: host-local output in every version', () => {
  const cases = [
    ...Object.entries(hostLocal.v4).map(([v, doc]) => [`v4 ${v}`, doc, parsedV4] as const),
    ...Object.entries(hostLocal.dual).map(([v, doc]) => [`dual-stack ${v}`, doc, parsedDual] as const),
  ];
  it.each(cases)('%s', (_name, doc, want) => {
    expect(parseResult(doc, { code: Code.Ipam, root: 'ipam' })).toEqual(want);
  });

  it.each(cases)('%s survives a trip to its own version and back', (_name, doc, want) => {
    const wire = convertResult(parseResult(doc), doc.cniVersion);
    expect(parseResult(JSON.parse(JSON.stringify(wire)))).toEqual(want);
  });

  it('prints 1.0.0 host-local output back byte for byte', () => {
    expect(JSON.stringify(convertResult(parseResult(hostLocal.dual['1.0.0']), '1.0.0'))).toBe(
      JSON.stringify(hostLocal.dual['1.0.0']),
    );
  });
});

describe('parseResult: other shapes', () => {
  it('reads a 0.1.0 result without cniVersion using the fallback version', () => {
    const doc = { ip4: { ip: '192.168.1.7/24' }, dns: { nameservers: ['192.168.1.1'] } };
    const want = { cniVersion: '1.1.0', ips: [{ address: '192.168.1.7/24' }], dns: { nameservers: ['192.168.1.1'] } };
    expect(parseResult(doc, { fallbackVersion: '0.1.0' })).toEqual(want);
    expect(parseResult(doc)).toEqual(want); // no fallback: guessed from ip4
  });

  it('reads a versionless ips-shaped result as the newest version when no fallback is given', () => {
    expect(parseResult({ ips: [{ address: '10.0.0.2/8' }] })).toEqual({
      cniVersion: '1.1.0',
      ips: [{ address: '10.0.0.2/8' }],
    });
  });

  it('reads a 0.3.0 bridge result, dropping fields 0.3.0 does not have', () => {
    const doc = {
      cniVersion: '0.3.0',
      interfaces: [
        { name: 'cni0', mac: '0a:58:0a:f4:00:01', mtu: 1500 },
        { name: 'net1', mac: '0a:58:0a:f4:00:05', sandbox: '/var/run/netns/x' },
      ],
      ips: [{ version: '4', interface: 1, address: '10.244.0.5/24', gateway: '10.244.0.1' }],
    };
    expect(parseResult(doc)).toEqual({
      cniVersion: '1.1.0',
      interfaces: [
        { name: 'cni0', mac: '0a:58:0a:f4:00:01' },
        { name: 'net1', mac: '0a:58:0a:f4:00:05', sandbox: '/var/run/netns/x' },
      ],
      ips: [{ interface: 1, address: '10.244.0.5/24', gateway: '10.244.0.1' }],
    });
  });

  it('reads a 1.1.0 result with every field, ignoring unknown keys and nulls', () => {
    const doc = {
      cniVersion: '1.1.0',
      interfaces: [{ name: 'net1', mac: '02:00:00:00:00:01', mtu: 9000, socketPath: '/s', pciID: '0000:03:00.1' }],
      ips: [{ address: '10.0.0.2/24', gateway: null, interface: 0, extra: 1 }],
      routes: [{ dst: '10.1.0.0/16', gw: '10.0.0.1', mtu: 1400, advmss: 1360, priority: 5, table: 0, scope: 253 }],
      dns: { nameservers: ['10.0.0.53'], domain: 'example.org', search: ['example.org'], options: ['ndots:2'] },
      somethingNew: true,
    };
    const { somethingNew: _ignored, ...want } = doc;
    expect(parseResult(doc)).toEqual({ ...want, ips: [{ address: '10.0.0.2/24', interface: 0 }] });
  });

  it('reads an L2-only result', () => {
    expect(parseResult({ cniVersion: '0.3.1', interfaces: [{ name: 'net1' }], dns: {} })).toEqual({
      cniVersion: '1.1.0',
      interfaces: [{ name: 'net1' }],
    });
  });
});

describe('parseResult: invalid shapes', () => {
  it.each([
    ['not an object', 'nope', 'prevResult: expected an object (got "nope")'],
    ['an array', [], 'prevResult: expected an object (got [])'],
    ['numeric cniVersion', { cniVersion: 1 }, 'prevResult.cniVersion: expected a string (got 1)'],
    [
      'unknown cniVersion',
      { cniVersion: '0.5.0' },
      'prevResult.cniVersion: not a supported version (0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0) (got "0.5.0")',
    ],
    [
      'address without prefix',
      { cniVersion: '1.0.0', ips: [{ address: '10.1.2.3' }] },
      'prevResult.ips[0].address: not an IP address with prefix length (got "10.1.2.3")',
    ],
    [
      'prefix too long',
      { cniVersion: '1.0.0', ips: [{ address: '10.1.2.3/24' }, { address: '10.1.2.4/33' }] },
      'prevResult.ips[1].address: not an IP address with prefix length (got "10.1.2.4/33")',
    ],
    [
      'bad gateway',
      { cniVersion: '1.1.0', routes: [{ dst: '0.0.0.0/0' }, { dst: '10.0.0.0/8', gw: '10.0.0.256' }] },
      'prevResult.routes[1].gw: not an IP address (got "10.0.0.256")',
    ],
    [
      'gateway with prefix',
      { cniVersion: '0.4.0', ips: [{ version: '4', address: '10.0.0.2/8', gateway: '10.0.0.1/8' }] },
      'prevResult.ips[0].gateway: not an IP address (got "10.0.0.1/8")',
    ],
    [
      'IPv6 zone',
      { cniVersion: '1.0.0', ips: [{ address: 'fe80::1%eth0/64' }] },
      'prevResult.ips[0].address: not an IP address with prefix length (got "fe80::1%eth0/64")',
    ],
    [
      'interface index not a number',
      { cniVersion: '1.0.0', ips: [{ address: '10.0.0.2/8', interface: '2' }] },
      'prevResult.ips[0].interface: Invalid input: expected number, received string (got "2")',
    ],
    [
      'interface without name',
      { cniVersion: '1.0.0', interfaces: [{ mac: '02:00:00:00:00:01' }] },
      'prevResult.interfaces[0].name: required, a string (missing)',
    ],
    [
      'version not matching family',
      { cniVersion: '0.3.1', ips: [{ version: '6', address: '10.0.0.2/8' }] },
      'prevResult.ips[0].version: does not match the address family (got "6")',
    ],
    [
      'IPv6 address in ip4',
      { cniVersion: '0.2.0', ip4: { ip: 'fd00::2/64' } },
      'prevResult.ip4.ip: not an IPv4 address with prefix length (got "fd00::2/64")',
    ],
    [
      'IPv4 gateway in ip6',
      { cniVersion: '0.2.0', ip6: { ip: 'fd00::2/64', gateway: '10.0.0.1' } },
      'prevResult.ip6.gateway: not an IPv6 address (got "10.0.0.1")',
    ],
    [
      'a route whose gateway is of another family (the kernel would refuse it)',
      { cniVersion: '1.0.0', routes: [{ dst: '10.8.0.0/16', gw: 'fd00::1' }] },
      'prevResult.routes[0].gw: is not of the family of dst (got "fd00::1")',
    ],
    [
      'two problems at once',
      { cniVersion: '1.0.0', ips: [{ address: 'x' }], dns: { nameservers: '10.0.0.53' } },
      'prevResult.ips[0].address: not an IP address with prefix length (got "x"); ' +
        'prevResult.dns.nameservers: Invalid input: expected array, received string (got "10.0.0.53")',
    ],
  ])('%s', (_name, doc, details) => {
    const err = thrown(() => parseResult(doc));
    expect([err.code, err.message, err.details]).toEqual([Code.InvalidConfig, 'invalid prevResult', details]);
  });

  it('uses the caller code and root for IPAM output', () => {
    const doc = { cniVersion: '0.4.0', ips: [{ address: 'bogus' }] };
    const err = thrown(() => parseResult(doc, { code: Code.Ipam, root: 'ipam' }));
    expect([err.code, err.message, err.details]).toEqual([
      Code.Ipam,
      'invalid ipam',
      'ipam.ips[0].address: not an IP address with prefix length (got "bogus")',
    ]);
  });
});

const full: Result = {
  cniVersion: '1.1.0',
  interfaces: [
    { name: 'mgmt-br', mac: '02:aa:bb:cc:dd:01', mtu: 9000 },
    { name: 'veth1a2b3c4d', mac: '02:aa:bb:cc:dd:02', mtu: 9000 },
    {
      name: 'net1',
      mac: '02:aa:bb:cc:dd:03',
      mtu: 9000,
      sandbox: '/var/run/netns/cni-1234',
      socketPath: '/run/vhost/net1.sock',
      pciID: '0000:00:1f.6',
    },
  ],
  ips: [
    { address: '10.10.0.5/16', gateway: '10.10.0.1', interface: 2 },
    { address: '10.10.1.5/16', interface: 2 },
    { address: 'fd00:10::5/64', gateway: 'fd00:10::1', interface: 2 },
  ],
  routes: [
    { dst: '0.0.0.0/0', gw: '10.10.0.1', mtu: 1400, advmss: 1360, priority: 100, table: 100, scope: 0 },
    { dst: '192.168.0.0/16' },
    { dst: '::/0', gw: 'fd00:10::1', priority: 1024 },
  ],
  dns: { nameservers: ['10.10.0.53'], domain: 'cluster.local', search: ['svc.cluster.local'], options: ['ndots:5'] },
};

const dns = full.dns;
const interfaces04 = [
  { name: 'mgmt-br', mac: '02:aa:bb:cc:dd:01' },
  { name: 'veth1a2b3c4d', mac: '02:aa:bb:cc:dd:02' },
  { name: 'net1', mac: '02:aa:bb:cc:dd:03', sandbox: '/var/run/netns/cni-1234' },
];
const ips04 = [
  { version: '4', interface: 2, address: '10.10.0.5/16', gateway: '10.10.0.1' },
  { version: '4', interface: 2, address: '10.10.1.5/16' },
  { version: '6', interface: 2, address: 'fd00:10::5/64', gateway: 'fd00:10::1' },
];
const routes04 = [{ dst: '0.0.0.0/0', gw: '10.10.0.1' }, { dst: '192.168.0.0/16' }, { dst: '::/0', gw: 'fd00:10::1' }];
const wire02 = (v: string) => ({
  cniVersion: v,
  ip4: {
    ip: '10.10.0.5/16',
    gateway: '10.10.0.1',
    routes: [{ dst: '0.0.0.0/0', gw: '10.10.0.1' }, { dst: '192.168.0.0/16' }],
  },
  ip6: { ip: 'fd00:10::5/64', gateway: 'fd00:10::1', routes: [{ dst: '::/0', gw: 'fd00:10::1' }] },
  dns,
});

describe('convertResult: a full result to every version', () => {
  it.each([
    ['1.1.0', full],
    ['1.0.0', { ...full, cniVersion: '1.0.0' }],
    ['0.4.0', { cniVersion: '0.4.0', interfaces: interfaces04, ips: ips04, routes: routes04, dns }],
    ['0.3.1', { cniVersion: '0.3.1', interfaces: interfaces04, ips: ips04, routes: routes04, dns }],
    ['0.3.0', { cniVersion: '0.3.0', interfaces: interfaces04, ips: ips04, routes: routes04, dns }],
    ['0.2.0', wire02('0.2.0')],
    ['0.1.0', wire02('0.1.0')],
  ])('%s', (v, want) => {
    expect(convertResult(full, v)).toEqual(want);
  });

  it('covers every supported version', () => {
    for (const v of SUPPORTED_VERSIONS) expect(() => convertResult(full, v)).not.toThrow();
  });

  it('does not modify its input', () => {
    const copy = structuredClone(full);
    for (const v of SUPPORTED_VERSIONS) convertResult(full, v);
    expect(full).toEqual(copy);
  });

  it('prints keys in the spec order and no nulls', () => {
    expect(JSON.stringify(convertResult(full, '0.4.0'))).toBe(
      JSON.stringify({ cniVersion: '0.4.0', interfaces: interfaces04, ips: ips04, routes: routes04, dns }),
    );
    expect(JSON.stringify(convertResult(full, '0.4.0'))).toContain(
      '{"version":"4","interface":2,"address":"10.10.0.5/16","gateway":"10.10.0.1"}',
    );
  });

  it('omits zero mtu/advmss/priority (libcni omitempty) but keeps table/scope 0', () => {
    const r: Result = {
      cniVersion: '1.1.0',
      interfaces: [{ name: 'net1', mtu: 0 }],
      routes: [{ dst: '10.0.0.0/8', mtu: 0, advmss: 0, priority: 0, table: 0, scope: 0 }],
      dns: { nameservers: [], domain: '' },
    };
    expect(convertResult(r, '1.0.0')).toEqual({
      cniVersion: '1.0.0',
      interfaces: [{ name: 'net1' }],
      routes: [{ dst: '10.0.0.0/8', table: 0, scope: 0 }],
    });
  });

  it('files 0.2.0 routes by the family of dst and drops routes of a family with no address', () => {
    const r: Result = {
      cniVersion: '1.1.0',
      ips: [{ address: 'fd00::5/64' }],
      routes: [
        { dst: '0.0.0.0/0', gw: '10.0.0.1' },
        { dst: '::/0', gw: 'fd00::1' },
      ],
    };
    expect(convertResult(r, '0.2.0')).toEqual({
      cniVersion: '0.2.0',
      ip6: { ip: 'fd00::5/64', routes: [{ dst: '::/0', gw: 'fd00::1' }] },
    });
  });
});

describe('convertResult: L2-only results', () => {
  const l2: Result = {
    cniVersion: '1.1.0',
    interfaces: [
      { name: 'mgmt-br', mac: '02:aa:bb:cc:dd:01', mtu: 1500 },
      { name: 'veth1a2b3c4d', mac: '02:aa:bb:cc:dd:02', mtu: 1500 },
      { name: 'pod0123456789a', mac: '02:aa:bb:cc:dd:03', mtu: 1500, sandbox: '/proc/4242/ns/net' },
    ],
  };
  const l2Interfaces04 = [
    { name: 'mgmt-br', mac: '02:aa:bb:cc:dd:01' },
    { name: 'veth1a2b3c4d', mac: '02:aa:bb:cc:dd:02' },
    { name: 'pod0123456789a', mac: '02:aa:bb:cc:dd:03', sandbox: '/proc/4242/ns/net' },
  ];

  it.each([
    ['1.1.0', l2],
    ['1.0.0', { ...l2, cniVersion: '1.0.0' }],
    ['0.4.0', { cniVersion: '0.4.0', interfaces: l2Interfaces04 }],
    ['0.3.1', { cniVersion: '0.3.1', interfaces: l2Interfaces04 }],
    ['0.3.0', { cniVersion: '0.3.0', interfaces: l2Interfaces04 }],
  ])('converts to %s', (v, want) => {
    expect(convertResult(l2, v)).toEqual(want);
  });

  it.each(['0.2.0', '0.1.0'])('refuses %s with code 107 and libcni wording', (v) => {
    const err = thrown(() => convertResult(l2, v));
    expect([err.code, err.message]).toEqual([Code.ResultConversion, 'cannot convert: no valid IP addresses']);
  });
});

describe('convertResult: target version', () => {
  it.each(['0.5.0', '2.0.0', ''])('rejects %j with code 1', (v) => {
    const err = thrown(() => convertResult(full, v));
    expect(err.code).toBe(Code.IncompatibleVersion);
    expect(err.message).toBe(`incompatible CNI version "${v}"`);
  });
});

describe('round trips', () => {
  it.each([...SUPPORTED_VERSIONS])('parse(convert(full, %s)) keeps what that version can carry', (v) => {
    const back = parseResult(JSON.parse(JSON.stringify(convertResult(full, v))));
    expect(convertResult(back, v)).toEqual(convertResult(full, v));
  });

  it('1.0.0 -> 1.1.0 keeps everything', () => {
    expect(parseResult(convertResult(full, '1.0.0'))).toEqual(full);
  });
});

describe('address helpers', () => {
  it.each([
    ['10.1.2.3', 4, undefined],
    ['10.1.2.3/24', undefined, 4],
    ['0.0.0.0/0', undefined, 4],
    ['fd00::1', 6, undefined],
    ['::/0', undefined, 6],
    ['2001:db8::1/128', undefined, 6],
    ['2001:db8::1/129', undefined, undefined],
    ['010.1.2.3', undefined, undefined],
    ['10.1.2.3/', undefined, undefined],
    ['10.1.2.3/024', undefined, undefined],
    ['fe80::1%eth0', undefined, undefined],
    ['', undefined, undefined],
  ])('%j: ip %s, cidr %s', (s, ip, cidr) => {
    expect(ipFamily(s)).toBe(ip);
    expect(cidrFamily(s)).toBe(cidr);
  });
});
