// The uplink VLAN rule (src/plugin/uplink-vlans/): a VID is on an uplink iff a pod uses it or it was there
// before; only VIDs the record says we added are removed, and the record counts only while the kernel agrees.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Link, VlanRange } from '../../src/kernel/index.js';
import { parseNetConf } from '../../src/cni/config.js';
import { isManagedVid, planUplinkVlans, usedVids } from '../../src/plugin/uplink-vlans/plan.js';
import { readRecord, type UplinkRecord } from '../../src/plugin/uplink-vlans/record.js';
import { podVids } from '../../src/plugin/vlans.js';
import { vidRanges } from '../../src/vids.js';

const BOOT = 'b0';
const bond = (vlans: VlanRange[], index = 5) => ({ name: 'mgmt-bo', index, vlans });
const pvid1: VlanRange = { min: 1, max: 1, pvid: true, untagged: true };
const tagged = (min: number, max = min): VlanRange => ({ min, max });
const rec = (vids: number[], o: { bootId?: string; index?: number } = {}): UplinkRecord => ({
  bootId: o.bootId ?? BOOT,
  uplinks: vids.length ? [{ index: o.index ?? 5, name: 'mgmt-bo', vids }] : [],
});
const plan = (record: UplinkRecord | null, vlans: VlanRange[], used: number[], add = true, index = 5) =>
  planUplinkVlans({
    record,
    bootId: BOOT,
    uplinks: [bond(vlans, index)],
    addTo: new Set(add ? [index] : []),
    used: new Set(used),
  });

describe('planUplinkVlans', () => {
  it('adds a used VID the uplink lacks, and records it before adding', () => {
    const p = plan(null, [pvid1, tagged(300)], [100, 300]);
    expect(p.add).toEqual(new Map([[5, [100]]]));
    expect(p.remove.size).toBe(0);
    expect(p.before).toEqual(rec([100]));
    expect(p.after).toEqual(rec([100]));
  });

  it("never records or removes a VID that was there before (the operator's 300), used or not", () => {
    expect(plan(null, [pvid1, tagged(300)], [300]).before.uplinks).toEqual([]);
    const p = plan(rec([100]), [pvid1, tagged(100), tagged(300)], [], false);
    expect(p.remove).toEqual(new Map([[5, [100]]]));
    expect(p.after.uplinks).toEqual([]);
  });

  it('removes a recorded VID only when no pod uses it; DEL (no addTo) never adds', () => {
    const p = plan(rec([100, 200]), [pvid1, tagged(100), tagged(200)], [200, 400], false);
    expect(p.add.size).toBe(0);
    expect(p.remove).toEqual(new Map([[5, [100]]]));
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
    expect(p.before.uplinks).toEqual([]);
  });

  it('an uplink renamed since is the same uplink (by ifindex): its VIDs are still ours to remove', () => {
    const p = planUplinkVlans({
      record: rec([100]),
      bootId: BOOT,
      uplinks: [{ name: 'bond1', index: 5, vlans: [pvid1, tagged(100)] }],
      addTo: new Set(),
      used: new Set(),
    });
    expect(p.remove).toEqual(new Map([[5, [100]]]));
  });

  it('never adds or removes VID 1, whatever the record or the pods say', () => {
    expect(plan(null, [], [1, 300]).add).toEqual(new Map([[5, [300]]]));
    expect(plan(rec([1]), [tagged(1)], [], false).remove.size).toBe(0);
  });

  it('a kill between recording and adding leaves a recorded VID that the next call forgets or removes', () => {
    // Killed after writing `before` and before the kernel request: the VID is recorded, not on the uplink.
    const killedBeforeAdd = plan(rec([100]), [pvid1], [], false);
    expect(killedBeforeAdd.before.uplinks).toEqual([]);
    // Killed after the kernel request and before the pod's port existed (a rollback that never ran): no pod uses
    // 100, so DEL's plan removes it.
    const killedAfterAdd = plan(rec([100]), [pvid1, tagged(100)], [], false);
    expect(killedAfterAdd.remove).toEqual(new Map([[5, [100]]]));
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

describe('isManagedVid (the rule that usedVids and CHECK share)', () => {
  const bridge = (defaultPvid: number) =>
    link(1, { kind: 'bridge', bridge: { vlanFiltering: true, vlanFilteringSupported: true, defaultPvid } });
  it('never VID 1, even on a bridge whose default PVID is 0 or another VID; never the default PVID', () => {
    expect(isManagedVid(1, bridge(0))).toBe(false);
    expect(isManagedVid(1, bridge(5))).toBe(false);
    expect(isManagedVid(5, bridge(5))).toBe(false);
    expect(isManagedVid(5, bridge(1))).toBe(true);
  });
});

describe('podVids and vidRanges', () => {
  it.each([
    [{ vlan: 100 }, [100]],
    [{ vlanTrunk: [{ minID: 200, maxID: 202 }] }, [1, 200, 201, 202]],
    [{ vlan: 5, vlanTrunk: [{ id: 7 }] }, [5, 7]],
    [{}, []],
  ])('%j carries %j', (c, vids) => {
    expect(podVids(parseNetConf({ name: 'n', ...c }).vlans)).toEqual(vids);
  });

  it('packs VIDs into the fewest ranges', () => {
    expect(vidRanges([5, 3, 4, 10, 100, 101])).toEqual([tagged(3, 5), tagged(10), tagged(100, 101)]);
  });
});

describe('readRecord', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'vb-record-'));
  const write = (name: string, text: string) => {
    const f = path.join(dir, name);
    writeFileSync(f, text);
    return f;
  };
  const good = { bootId: 'b', uplinks: [{ index: 3, name: 'bond0', vids: [100] }] };

  it('reads a record, and none from a missing file', () => {
    expect(readRecord(write('good.json', JSON.stringify(good)))).toEqual(good);
    expect(readRecord(path.join(dir, 'missing.json'))).toBeNull();
  });

  it.each([
    ['not JSON', '{'],
    ['vids not a list', JSON.stringify({ bootId: 'b', uplinks: [{ index: 3, name: 'bond0', vids: 100 }] })],
    ['a null uplink', JSON.stringify({ bootId: 'b', uplinks: [null] })],
    ['uplinks by name (an object)', JSON.stringify({ bootId: 'b', uplinks: { bond0: { index: 3, vids: [100] } } })],
    ['a VID out of range', JSON.stringify({ bootId: 'b', uplinks: [{ index: 3, name: 'b', vids: [4095] }] })],
    ['an unknown key', JSON.stringify({ ...good, extra: 1 })],
  ])('ignores a file that is not a record (%s), with a warning', (_what, text) => {
    const warnings: string[] = [];
    const log = {
      warn: (m: string) => void warnings.push(m),
      error: () => {},
      info: () => {},
      debug: () => {},
      enabled: () => true,
    };
    expect(readRecord(write('bad.json', text), log)).toBeNull();
    expect(warnings).toHaveLength(1);
  });

  it('plans with uplinks of any name, __proto__ and toString included', () => {
    for (const name of ['__proto__', 'toString', 'constructor']) {
      const p = planUplinkVlans({
        record: { bootId: BOOT, uplinks: [{ index: 5, name, vids: [100] }] },
        bootId: BOOT,
        uplinks: [{ name, index: 5, vlans: [tagged(100)] }],
        addTo: new Set([5]),
        used: new Set([100, 200]),
      });
      expect(p.add).toEqual(new Map([[5, [200]]]));
      expect(p.after.uplinks).toEqual([{ index: 5, name, vids: [100, 200] }]);
    }
  });
});
