// ADD's result (src/plugin/add.ts `addResult`), a pure function of what ADD made: the three interfaces in the
// reference's order (bridge, host veth, pod interface with its sandbox), every address on the pod interface, and
// DNS only when it says something (CNI spec, "Success"; bridge.go v1.9.1 cmdAdd).
import { describe, expect, it } from 'vitest';
import { parseNetConf } from '../../src/cni/config.js';
import type { Link } from '../../src/kernel/index.js';
import { addResult } from '../../src/plugin/add.js';

const link = (index: number, name: string, mac?: string): Link => ({
  index,
  name,
  mac,
  mtu: 1500,
  up: true,
  lowerUp: true,
  promisc: false,
  operstate: 'up',
});
const br = link(1, 'br0', '02:00:00:00:00:01');
const host = link(2, 'vb-1234', '02:00:00:00:00:02');
const pod = link(3, 'eth0', '02:00:00:00:00:03');

describe('addResult', () => {
  it('L2: three interfaces, no ips, no dns when the config sets none', () => {
    const r = addResult(parseNetConf({ name: 'n' }), br, host, pod, '/run/netns/p', undefined);
    expect(r).toEqual({
      cniVersion: '1.1.0',
      interfaces: [
        { name: 'br0', mac: '02:00:00:00:00:01', mtu: 1500 },
        { name: 'vb-1234', mac: '02:00:00:00:00:02', mtu: 1500 },
        { name: 'eth0', mac: '02:00:00:00:00:03', mtu: 1500, sandbox: '/run/netns/p' },
      ],
    });
  });

  it("L3: every address on the pod interface (index 2), IPAM's routes and the DNS that won", () => {
    const ips = [{ address: '10.1.0.5/24', gateway: '10.1.0.1' }];
    const r = addResult(parseNetConf({ name: 'n' }), br, host, { ...pod, mac: undefined }, '/p', {
      ips,
      routes: [{ dst: '0.0.0.0/0' }],
      dns: { nameservers: ['10.1.0.1'] },
    });
    expect(r.ips).toEqual([{ address: '10.1.0.5/24', gateway: '10.1.0.1', interface: 2 }]);
    expect(ips[0]).not.toHaveProperty('interface'); // IPAM's answer is not changed
    expect(r.routes).toEqual([{ dst: '0.0.0.0/0' }]);
    expect(r.dns).toEqual({ nameservers: ['10.1.0.1'] });
    expect(r.interfaces?.[2]).toEqual({ name: 'eth0', mtu: 1500, sandbox: '/p' }); // no MAC: no key
  });

  it("L2 with a config dns: the config's; an empty one: none", () => {
    const withDns = parseNetConf({ name: 'n', dns: { nameservers: ['1.1.1.1'] } });
    expect(addResult(withDns, br, host, pod, '/p', undefined).dns).toEqual({ nameservers: ['1.1.1.1'] });
    const empty = parseNetConf({ name: 'n', dns: {} });
    expect(addResult(empty, br, host, pod, '/p', undefined)).not.toHaveProperty('dns');
  });
});
