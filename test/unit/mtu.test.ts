// The MTU a pod gets (src/plugin/uplink.ts, the one MTU rule of ADD, CHECK and doctor) as a table: which ports are
// uplinks, the inherited MTU, and an explicit mtu against it.
import { describe, expect, it } from 'vitest';
import { CniError } from '../../src/cni/errors.js';
import type { Link } from '../../src/kernel/index.js';
import { expectedMtu, inheritedMtu, isUplink, podMtu, uplinksOf } from '../../src/plugin/uplink.js';

const link = (index: number, kind: string | undefined, mtu: number, master?: number): Link => ({
  index,
  name: `l${index}`,
  kind,
  mtu,
  master,
  up: true,
  lowerUp: true,
  promisc: false,
  operstate: 'up',
});
const BR = link(1, 'bridge', 1400);

describe('uplinks', () => {
  it.each([
    ['bond', true],
    ['vxlan', true],
    [undefined, true],
    ['vlan', true],
    ['veth', false],
    ['tun', false],
  ] as Array<[string | undefined, boolean]>)('a port of kind %s is an uplink: %s', (kind, want) => {
    expect(isUplink(link(2, kind, 1500, 1))).toBe(want);
  });

  it("counts only the bridge's own ports", () => {
    const links = [BR, link(2, 'bond', 9000, 1), link(3, 'bond', 9000, 7), link(4, 'veth', 1500, 1)];
    expect(uplinksOf(BR, links).map((l) => l.index)).toEqual([2]);
  });
});

describe('inherited MTU', () => {
  it.each([
    ['one uplink: its MTU, whatever the bridge says', [link(2, 'bond', 9000, 1)], 9000],
    ['several uplinks: the smallest', [link(2, 'bond', 9000, 1), link(3, undefined, 8000, 1)], 8000],
    ['pods and taps do not count', [link(2, 'bond', 9000, 1), link(3, 'veth', 1300, 1), link(4, 'tun', 1200, 1)], 9000],
    ["no uplink: the bridge's own", [link(3, 'veth', 1300, 1)], 1400],
    ["no port at all: the bridge's own", [], 1400],
  ] as Array<[string, Link[], number]>)('%s', (_what, ports, want) => {
    expect(inheritedMtu(BR, uplinksOf(BR, [BR, ...ports]))).toBe(want);
    expect(expectedMtu(0, BR, uplinksOf(BR, [BR, ...ports]))).toBe(want);
    expect(expectedMtu(1280, BR, uplinksOf(BR, [BR, ...ports]))).toBe(1280);
  });
});

describe('podMtu', () => {
  const links = uplinksOf(BR, [BR, link(2, 'bond', 9000, 1)]);
  it("0 inherits, an explicit mtu up to the uplink's is used as given", () => {
    expect(podMtu(0, BR, links)).toBe(9000);
    expect(podMtu(1500, BR, links)).toBe(1500);
    expect(podMtu(9000, BR, links)).toBe(9000); // above the lowered bridge (1400), not above the uplink
  });

  it('expectedMtu never refuses: CHECK and doctor compare with it, only ADD refuses', () => {
    expect(expectedMtu(9001, BR, links)).toBe(9001);
  });

  it("above the uplink's MTU is code 103 naming both", () => {
    let err: unknown;
    try {
      podMtu(9001, BR, links);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CniError);
    expect(err).toMatchObject({ code: 103, message: 'mtu 9001 exceeds the uplink MTU 9000 of bridge "l1"' });
    expect(() => podMtu(1401, BR, [])).toThrow('mtu 1401 exceeds bridge "l1" MTU 1400');
  });
});
