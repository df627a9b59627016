// src/ip.ts: the one IP module (its validators are tested with the results in result.test.ts).
import { describe, expect, it } from 'vitest';
import {
  bytesToIp,
  familyOf,
  firstHost,
  ipToBytes,
  ipv4ToBytes,
  maskPrefix,
  parseCidr,
  sameSubnet,
  subnetOf,
} from '../../src/ip.js';

describe('addresses as bytes', () => {
  it.each([
    ['10.1.2.3', '0a010203'],
    ['::1', '00000000000000000000000000000001'],
    ['fd00::5', 'fd000000000000000000000000000005'],
  ])('%s', (ip, hex) => {
    expect(ipToBytes(ip).toString('hex')).toBe(hex);
    expect(bytesToIp(Buffer.from(hex, 'hex'))).toBe(ip);
  });

  it('refuses what is no address', () => {
    expect(() => ipToBytes('10.1.2')).toThrow('not an IP address: "10.1.2"');
    expect(() => ipv4ToBytes('fd00::1')).toThrow('not an IPv4 address: "fd00::1"');
    expect(() => familyOf('')).toThrow(/not an IP address/);
  });
});

describe('subnets', () => {
  it('parses a CIDR without reducing it', () => {
    expect(parseCidr('10.1.2.3/24')).toEqual({ ip: '10.1.2.3', prefix: 24, family: 4 });
    expect(() => parseCidr('10.1.2.3')).toThrow(/not a CIDR/);
    expect(() => parseCidr('10.1.2.3/33')).toThrow(/bad prefix/);
  });

  it.each([
    ['10.1.2.3/24', '10.1.2.0/24', '10.1.2.1'],
    ['10.1.2.3/0', '0.0.0.0/0', '0.0.0.1'],
    ['10.1.2.3/32', '10.1.2.3/32', '10.1.2.4'],
    ['fd00::5/64', 'fd00::/64', 'fd00::1'],
  ])('%s: subnet %s, first host %s', (cidr, subnet, first) => {
    expect(subnetOf(cidr)).toBe(subnet);
    expect(firstHost(cidr)).toBe(first);
  });

  it('compares subnets at the shorter prefix', () => {
    expect(sameSubnet('10.0.0.9/32', '10.0.0.1/24')).toBe(true);
    expect(sameSubnet('10.0.1.9/32', '10.0.0.1/24')).toBe(false);
    expect(sameSubnet('10.0.0.1/24', 'fd00::1/64')).toBe(false);
  });

  it.each([
    ['255.255.255.0', 24],
    ['255.255.254.0', 23],
    ['0.0.0.0', 0],
    ['255.255.255.255', 32],
    ['255.0.255.0', undefined],
  ])('mask %s is /%s', (mask, prefix) => {
    expect(maskPrefix(mask)).toBe(prefix);
  });
});
