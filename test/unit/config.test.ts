import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseNetConf } from '../../src/cni/config.js';
import { CniError } from '../../src/cni/errors.js';

const base = { cniVersion: '1.0.0', name: 'vlan100', type: 'vlan-bridge' };

function details(conf: unknown): string[] {
  try {
    parseNetConf(conf);
  } catch (e) {
    if (e instanceof CniError) {
      expect(e.code).toBe(7);
      return e.details.split('; ');
    }
    throw e;
  }
  throw new Error('expected a CniError');
}

describe('parseNetConf defaults', () => {
  it('fills every default of the reference plugin, and ipamTimeout (ours)', () => {
    expect(parseNetConf(base)).toEqual({
      ...base,
      bridge: 'cni0',
      mtu: 0,
      vlan: 0,
      preserveDefaultVlan: false,
      promiscMode: false,
      hairpinMode: false,
      portIsolation: false,
      isGateway: false,
      isDefaultGateway: false,
      forceAddress: false,
      ipMasq: false,
      macspoofchk: false,
      enabledad: false,
      disableContainerInterface: false,
      uplinkVlans: false,
      ipam: {},
      hasIpam: false,
      ipamTimeout: 45,
      vlans: { vlan: 0, trunkRanges: [], preserveDefaultVlan: false },
      gatewayOnBridge: false,
    });
  });

  it('keeps unknown keys (ignored, as the reference ignores them)', () => {
    expect(parseNetConf({ ...base, somethingNew: 1 })).toMatchObject({ somethingNew: 1 });
  });

  it('derives isGateway from isDefaultGateway and hasIpam from ipam.type', () => {
    const c = parseNetConf({ ...base, isDefaultGateway: true, ipam: { type: 'host-local', subnet: '10.0.0.0/24' } });
    expect(c.isGateway).toBe(true);
    expect(c.hasIpam).toBe(true);
    expect(c.ipam).toEqual({ type: 'host-local', subnet: '10.0.0.0/24' });
    expect(parseNetConf({ ...base, ipam: { type: '' } }).hasIpam).toBe(false);
  });

  it('derives the VLAN intent and where the gateway goes, once', () => {
    const ipam = { type: 'host-local', subnet: '10.0.0.0/24' };
    const trunk = parseNetConf({ ...base, vlanTrunk: [{ minID: 10, maxID: 20 }, { id: 21 }, { id: 5 }, {}] });
    expect(trunk.vlans).toEqual({
      vlan: 0,
      trunkRanges: [
        [5, 5],
        [10, 21],
      ],
      preserveDefaultVlan: false,
    });
    const onVlan = parseNetConf({ ...base, bridge: 'br1', vlan: 7, isGateway: true, ipam });
    expect(onVlan.gatewayOnBridge).toBe(false);
    const onBridge = parseNetConf({ ...base, isDefaultGateway: true, ipam });
    expect(onBridge.gatewayOnBridge).toBe(true);
    // No IPAM, no gateway address anywhere.
    const l2 = parseNetConf({ ...base, vlan: 7, isGateway: true });
    expect(l2.gatewayOnBridge).toBe(false);
  });
});

// Every key, one accepted and one rejected value, with the exact detail line.
const cases: Array<[string, unknown, unknown, string]> = [
  ['name', 'net-1.a_b', 'bad name', 'name: must match ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$ (got "bad name")'],
  [
    'bridge',
    'mgmt-br',
    'this-is-too-long0',
    'bridge: interface name is longer than 15 bytes (17 bytes in UTF-8) (got "this-is-too-long0")',
  ],
  ['mtu', 9000, 67, 'mtu: must be 0 (inherit) or 68-65535 (got 67)'],
  ['mtu', 0, 65536, 'mtu: must be 0 (inherit) or 68-65535 (got 65536)'],
  ['mtu', 68, 1500.5, 'mtu: Invalid input: expected int, received number (got 1500.5)'],
  ['vlan', 4094, 4095, 'vlan: Too big: expected number to be <=4094 (got 4095)'],
  ['vlan', 0, -1, 'vlan: Too small: expected number to be >=0 (got -1)'],
  ['vlan', 100, '100', 'vlan: Invalid input: expected number, received string (got "100")'],
  [
    'vlanTrunk',
    [{ id: 1 }, { minID: 2, maxID: 4094 }],
    [{ id: 0 }],
    'vlanTrunk[0].id: Too small: expected number to be >=1 (got 0)',
  ],
  [
    'vlanTrunk',
    [{ id: 4094 }],
    [{ maxID: 4095, minID: 1 }],
    'vlanTrunk[0].maxID: Too big: expected number to be <=4094 (got 4095)',
  ],
  [
    'vlanTrunk',
    [{ id: 5, minID: 10, maxID: 20 }],
    [{ minID: 10 }],
    'vlanTrunk[0]: minID and maxID must be set together (got {"minID":10})',
  ],
  [
    'vlanTrunk',
    [{ minID: 7, maxID: 7 }],
    [{ minID: 8, maxID: 7 }],
    'vlanTrunk[0]: minID must not exceed maxID (got {"minID":8,"maxID":7})',
  ],
  ['vlanTrunk', [], [{ X: 5 }], 'vlanTrunk[0]: entry needs "id" or "minID"/"maxID" (got {"X":5})'],
  // An empty entry is skipped, as the reference 1.9.1 skips it (collectVlanTrunk).
  ['vlanTrunk', [{}, { id: 5 }], [{}, { X: 1 }], 'vlanTrunk[1]: entry needs "id" or "minID"/"maxID" (got {"X":1})'],
  ['vlanTrunk', [], { id: 5 }, 'vlanTrunk: Invalid input: expected array, received object (got {"id":5})'],
  [
    'preserveDefaultVlan',
    true,
    'true',
    'preserveDefaultVlan: Invalid input: expected boolean, received string (got "true")',
  ],
  ['promiscMode', true, 1, 'promiscMode: Invalid input: expected boolean, received number (got 1)'],
  ['hairpinMode', true, 'yes', 'hairpinMode: Invalid input: expected boolean, received string (got "yes")'],
  ['portIsolation', true, 'yes', 'portIsolation: Invalid input: expected boolean, received string (got "yes")'],
  ['isGateway', true, 0, 'isGateway: Invalid input: expected boolean, received number (got 0)'],
  ['isDefaultGateway', true, 0, 'isDefaultGateway: Invalid input: expected boolean, received number (got 0)'],
  ['forceAddress', true, 0, 'forceAddress: Invalid input: expected boolean, received number (got 0)'],
  ['ipMasq', true, 0, 'ipMasq: Invalid input: expected boolean, received number (got 0)'],
  [
    'ipMasqBackend',
    'nftables',
    'pf',
    'ipMasqBackend: Invalid option: expected one of "iptables"|"nftables" (got "pf")',
  ],
  ['macspoofchk', true, 0, 'macspoofchk: Invalid input: expected boolean, received number (got 0)'],
  ['enabledad', true, 0, 'enabledad: Invalid input: expected boolean, received number (got 0)'],
  [
    'disableContainerInterface',
    true,
    0,
    'disableContainerInterface: Invalid input: expected boolean, received number (got 0)',
  ],
  [
    'ipam',
    { type: 'static', addresses: [] },
    'host-local',
    'ipam: Invalid input: expected object, received string (got "host-local")',
  ],
  ['ipam', {}, { type: 5 }, 'ipam.type: Invalid input: expected string, received number (got 5)'],
  [
    'dns',
    { nameservers: ['10.0.0.1'] },
    { nameservers: '10.0.0.1' },
    'dns.nameservers: Invalid input: expected array, received string (got "10.0.0.1")',
  ],
  [
    'args',
    { cni: { mac: '02:00:00:00:00:01' } },
    { cni: { mac: 'xx' } },
    'args.cni.mac: not a 48-bit MAC address (aa:bb:cc:dd:ee:ff) (got "xx")',
  ],
  [
    'args',
    { cni: { ips: ['10.0.0.5/24'] } },
    { cni: { ips: '10.0.0.5/24' } },
    'args.cni.ips: Invalid input: expected array, received string (got "10.0.0.5/24")',
  ],
  [
    'runtimeConfig',
    { mac: '02-00-00-00-00-01' },
    { mac: 'ff:ff:ff:ff:ff:ff' },
    'runtimeConfig.mac: a multicast MAC cannot be an interface address (got "ff:ff:ff:ff:ff:ff")',
  ],
  [
    'runtimeConfig',
    { mac: '0a:00:00:00:00:01' },
    { mac: '00:00:00:00:00:00' },
    'runtimeConfig.mac: the all-zero MAC cannot be an interface address (got "00:00:00:00:00:00")',
  ],
  ['cniVersion', '0.3.1', 3, 'cniVersion: Invalid input: expected string, received number (got 3)'],
  ['type', 'bridge', {}, 'type: Invalid input: expected string, received object (got {})'],
];

describe('keys found as Go finds them (the reference decodes its config with encoding/json)', () => {
  it('takes a key that differs in case from a field as that field, the last of several winning', () => {
    const c = parseNetConf({
      ...base,
      MTU: 1400,
      RuntimeConfig: { MAC: '02:00:00:00:00:01' },
      Args: { CNI: { Mac: '02:00:00:00:00:02' } },
      vlanTrunk: [{ ID: 5 }, { MinId: 7, MAXID: 9 }],
      DNS: { NameServers: ['10.0.0.1'] },
      IPAM: { Type: 'host-local', subnet: '10.0.0.0/24' },
      ISGATEWAY: true,
      unknownKey: 1,
    });
    expect(c).toMatchObject({
      mtu: 1400,
      runtimeConfig: { mac: '02:00:00:00:00:01' },
      args: { cni: { mac: '02:00:00:00:00:02' } },
      vlanTrunk: [{ id: 5 }, { minID: 7, maxID: 9 }],
      dns: { nameservers: ['10.0.0.1'] },
      ipam: { type: 'host-local', subnet: '10.0.0.0/24' },
      isGateway: true,
      hasIpam: true,
      unknownKey: 1,
    });
    expect(parseNetConf({ ...base, vlan: 5, VLAN: 7 }).vlan).toBe(7);
    expect(parseNetConf({ ...base, VLAN: 7, vlan: 5 }).vlan).toBe(5);
  });

  it('takes null as absent, drops __proto__, and folds as Go does (ſ is s)', () => {
    expect(parseNetConf({ ...base, mtu: 1400, Mtu: null, vlan: null, ipam: null }).mtu).toBe(1400);
    const polluted = parseNetConf(JSON.parse('{"name":"n","__proto__":{"mtu":1300,"promiscMode":true}}'));
    expect([polluted.mtu, polluted.promiscMode]).toEqual([0, false]);
    expect(parseNetConf({ ...base, ['ipMaſq']: true, ['macſpoofchk']: true })).toMatchObject({
      ipMasq: true,
      macspoofchk: true,
    });
  });

  it('tears down (DEL, GC, STATUS) with a config whose keys teardown does not use are invalid, not with others', () => {
    const c = parseNetConf({ ...base, vlan: 5000, vlanTrunk: [{ vid: 5 }], mtu: 'x' }, { crossField: false });
    expect([c.vlan, c.vlanTrunk, c.mtu]).toEqual([0, undefined, 0]);
    expect(() => parseNetConf({ ...base, vlan: 5000 })).toThrow(CniError);
    expect(() => parseNetConf({ ...base, ipMasq: 'yes' }, { crossField: false })).toThrow(CniError);
  });

  it('names the field in an error about a key spelt in another case', () => {
    expect(details({ ...base, Vlan: 4095 })).toEqual(['vlan: Too big: expected number to be <=4094 (got 4095)']);
  });
});

describe('parseNetConf per key', () => {
  it.each(cases)('%s: accepts %j, rejects %j', (key, good, bad, line) => {
    expect(() => parseNetConf({ ...base, [key]: good })).not.toThrow();
    expect(details({ ...base, [key]: bad })).toEqual([line]);
  });

  it('requires name', () => {
    expect(details({ cniVersion: '1.0.0' })).toEqual(['name: required, a string (missing)']);
    // Values JSON cannot write are named, not printed as null.
    expect(details({ cniVersion: '1.0.0', name: 'n', vlan: Infinity }).join('; ')).toMatch(
      /^vlan: not a usable number \(got a number beyond the range of a double\)$/,
    );
  });

  it('says a number JSON.parse could not hold is one, and names each field once', () => {
    // "vlan": 9007199254740993 reads as 9007199254740992: not shown as if the user had written that. The field's
    // range is the one problem named, not zod's safe-integer bound as well.
    const text = '{"cniVersion":"1.0.0","name":"n","vlan":9007199254740993,"vlanTrunk":[{"id":-9007199254740993}]}';
    expect(details(JSON.parse(text))).toEqual([
      'vlan: Too big: expected number to be <=4094 (got an integer of magnitude 2^53 or more, not held exactly: about 9.007e+15)',
      'vlanTrunk[0].id: Too small: expected number to be >=1 (got an integer of magnitude 2^53 or more, not held exactly: about -9.007e+15)',
    ]);
    expect(details(JSON.parse('{"cniVersion":"1.0.0","name":"n","mtu":1e400}'))).toEqual([
      'mtu: not a usable number (got a number beyond the range of a double)',
    ]);
  });

  it('refuses promiscMode with hairpinMode, and IPAM with disableContainerInterface', () => {
    expect(details({ ...base, promiscMode: true, hairpinMode: true })).toEqual([
      'hairpinMode: cannot be set together with promiscMode (got true)',
    ]);
    expect(details({ ...base, disableContainerInterface: true, ipam: { type: 'host-local' } })).toEqual([
      'disableContainerInterface: cannot be set together with IPAM (ipam.type "host-local") (got true)',
    ]);
    expect(() => parseNetConf({ ...base, disableContainerInterface: true, ipam: {} })).not.toThrow();
  });

  it('takes uplinkInterface only with uplinkVlans, and only a valid interface name', () => {
    expect(parseNetConf({ ...base, uplinkVlans: true, uplinkInterface: 'mgmt-bo' })).toMatchObject({
      uplinkVlans: true,
      uplinkInterface: 'mgmt-bo',
    });
    expect(details({ ...base, uplinkInterface: 'mgmt-bo' })).toEqual([
      'uplinkInterface: names the uplink that uplinkVlans manages: set "uplinkVlans": true with it (got "mgmt-bo")',
    ]);
    expect(details({ ...base, uplinkVlans: true, uplinkInterface: 'a/b' })[0]).toMatch(
      /^uplinkInterface: .*\(got "a\/b"\)$/,
    );
    expect(details({ ...base, uplinkVlans: 'yes' })).toEqual([
      'uplinkVlans: Invalid input: expected boolean, received string (got "yes")',
    ]);
  });

  it('reports every problem at once, cross-field ones included', () => {
    const lines = details({
      ...base,
      name: '',
      mtu: 1,
      vlan: 9999,
      promiscMode: true,
      hairpinMode: true,
      vlanTrunk: [{ minID: 3 }],
    });
    expect(lines.map((l) => l.split(':')[0])).toEqual(['name', 'mtu', 'vlan', 'vlanTrunk[0]', 'hairpinMode']);
  });

  it('rejects a config that is not an object', () => {
    expect(details([1])).toEqual(['(config): must be a JSON object (got [1])']);
  });

  it('normalizes MACs to lower case with colons', () => {
    expect(parseNetConf({ ...base, runtimeConfig: { mac: '0A-58-0A-F4-00-05' } }).runtimeConfig?.mac).toBe(
      '0a:58:0a:f4:00:05',
    );
  });
});

describe('conf-examples', () => {
  const dir = new URL('../../conf-examples/', import.meta.url);
  const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  it('has examples to load', () => {
    expect(files.length).toBeGreaterThan(0);
  });
  it.each(files)('%s passes the schema', (f) => {
    const c = JSON.parse(readFileSync(new URL(f, dir), 'utf8'));
    expect(() => parseNetConf(c)).not.toThrow();
  });
});
