// The uplink VLAN rule (src/plugin/uplink-vlans.ts): a VID is on an uplink iff a pod uses it or it was there
// before; only VIDs the record says we added are removed, and the record counts only while the kernel agrees.
import { describe, expect, it } from 'vitest';
import type { Link, VlanRange } from '../../src/kernel/index.js';
import { planUplinkVlans, usedVids, vidRanges, type UplinkRecord } from '../../src/plugin/uplink-vlans.js';
import { podVids, vlanIntent } from '../../src/plugin/vlans.js';

const BOOT = 'b0';
const bond = (vlans: VlanRange[], index = 5) => ({ name: 'mgmt-bo', index, vlans });
const pvid1: VlanRange = { min: 1, max: 1, pvid: true, untagged: true };
const tagged = (min: number, max = min): VlanRange => ({ min, max });
const rec = (vids: number[], o: Partial<UplinkRecord> & { index?: number } = {}): UplinkRecord => ({
  bootId: o.bootId ?? BOOT,
  uplinks: { 'mgmt-bo': { index: o.index ?? 5, vids } },
});
const plan = (record: UplinkRecord | null, vlans: VlanRange[], used: number[], add = true, index = 5) =>
  planUplinkVlans({
    record,
    bootId: BOOT,
    uplinks: [bond(vlans, index)],
    addTo: new Set(add ? ['mgmt-bo'] : []),
    used: new Set(used),
  });

describe('planUplinkVlans', () => {
  it('adds a used VID the uplink lacks, and records it before adding', () => {
    const p = plan(null, [pvid1, tagged(300)], [100, 300]);
    expect(p.add).toEqual(new Map([['mgmt-bo', [100]]]));
    expect(p.remove.size).toBe(0);
    expect(p.before).toEqual(rec([100]));
    expect(p.after).toEqual(rec([100]));
  });

  it("never records or removes a VID that was there before (the operator's 300), used or not", () => {
    expect(plan(null, [pvid1, tagged(300)], [300]).before.uplinks).toEqual({});
    const p = plan(rec([100]), [pvid1, tagged(100), tagged(300)], [], false);
    expect(p.remove).toEqual(new Map([['mgmt-bo', [100]]]));
    expect(p.after.uplinks).toEqual({});
  });

  it('removes a recorded VID only when no pod uses it; DEL (no addTo) never adds', () => {
    const p = plan(rec([100, 200]), [pvid1, tagged(100), tagged(200)], [200, 400], false);
    expect(p.add.size).toBe(0);
    expect(p.remove).toEqual(new Map([['mgmt-bo', [100]]]));
    expect(p.before).toEqual(rec([100, 200]));
    expect(p.after).toEqual(rec([200]));
  });

  it.each([
    ['another boot', rec([100], { bootId: 'b-1' }), 5, [pvid1, tagged(100)]],
    ['a re-created uplink (another ifindex)', rec([100], { index: 4 }), 5, [pvid1, tagged(100)]],
    ['a VID no longer on the uplink', rec([100]), 5, [pvid1]],
    ['a VID the operator made PVID since', rec([100]), 5, [{ min: 100, max: 100, pvid: true, untagged: true }]],
  ])('forgets what the kernel contradicts: %s, and then never removes it', (_what, record, index, vlans) => {
    const p = plan(record, vlans, [], false, index);
    expect(p.remove.size).toBe(0);
    expect(p.before.uplinks).toEqual({});
  });

  it('a kill between recording and adding leaves a recorded VID that the next call forgets or removes', () => {
    // Killed after writing `before` and before the kernel request: the VID is recorded, not on the uplink.
    const killedBeforeAdd = plan(rec([100]), [pvid1], [], false);
    expect(killedBeforeAdd.before.uplinks).toEqual({});
    // Killed after the kernel request and before the pod's port existed (a rollback that never ran): no pod uses
    // 100, so DEL's plan removes it.
    const killedAfterAdd = plan(rec([100]), [pvid1, tagged(100)], [], false);
    expect(killedAfterAdd.remove).toEqual(new Map([['mgmt-bo', [100]]]));
  });
});

const link = (index: number, o: Partial<Link>): Link =>
  ({ index, name: `l${index}`, mtu: 1500, flags: 0, ...o }) as Link;

describe('usedVids', () => {
  const br = link(1, {
    name: 'mgmt-br',
    kind: 'bridge',
    bridge: { vlanFiltering: true, vlanFilteringSupported: true, defaultPvid: 1 },
  });
  const links = [
    br,
    link(2, { kind: 'bond', master: 1 }),
    link(3, { kind: 'veth', master: 1, alias: 'vlan-bridge:vlan100:c1:net1', linkNetnsId: 0 }),
    link(4, { kind: 'tun', master: 1 }),
    link(5, { kind: 'veth', master: 1, alias: 'vlan-bridge:vlan100:_gateway:mgmt-br.100' }),
    link(6, { kind: 'veth', master: 9 }),
  ];
  const vlans = new Map<number, VlanRange[]>([
    [2, [pvid1, tagged(300)]],
    [3, [{ min: 100, max: 100, pvid: true, untagged: true }]],
    [4, [pvid1, tagged(200, 202)]],
    [5, [{ min: 700, max: 700, pvid: true, untagged: true }]],
    [6, [tagged(800)]],
  ]);

  it("takes pods' and taps' VIDs, not the uplink's, the gateway's, another bridge's or the default PVID", () => {
    expect([...usedVids(br, links, vlans)].sort((a, b) => a - b)).toEqual([100, 200, 201, 202]);
  });
});

describe('podVids and vidRanges', () => {
  it.each([
    [{ vlan: 100 }, [100]],
    [{ vlanTrunk: [{ minID: 200, maxID: 202 }] }, [1, 200, 201, 202]],
    [{ vlan: 5, vlanTrunk: [{ id: 7 }] }, [5, 7]],
    [{}, []],
  ])('%j carries %j', (c, vids) => {
    expect(podVids(vlanIntent({ vlan: 0, preserveDefaultVlan: false, ...c }))).toEqual(vids);
  });

  it('packs VIDs into the fewest ranges', () => {
    expect(vidRanges([5, 3, 4, 10, 100, 101])).toEqual([tagged(3, 5), tagged(10), tagged(100, 101)]);
  });
});
