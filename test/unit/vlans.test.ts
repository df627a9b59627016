// The VLAN rule of a pod's host port (src/plugin/vlans.ts) as a table, in the style of the reference's
// collectVlanTrunk tests: the plan ADD runs on a fresh port, and the state CHECK then expects. Rows marked
// "reference v1.8.0+" follow plugins/main/bridge/bridge.go `setupVeth` at tags v1.8.0 and v1.9.1.
import { describe, expect, it } from 'vitest';
import type { VlanRange } from '../../src/kernel/index.js';
import { trunkSpans, type VlanIntent } from '../../src/cni/config.js';
import { expectedPortVlans, nativeVid, planPortVlans } from '../../src/plugin/vlans.js';
import { formatVlans } from '../../src/vids.js';

const intent = (vlan: number, trunkRanges: Array<[number, number]> = [], preserveDefaultVlan = false): VlanIntent => ({
  vlan,
  trunkRanges,
  preserveDefaultVlan,
});
const DEFAULT_1: VlanRange[] = [{ min: 1, max: 1, pvid: true, untagged: true }];

describe('expected port VLANs on a bridge whose default PVID is 1', () => {
  const cases: Array<[string, VlanIntent, string]> = [
    ['untagged network: the bridge default stays', intent(0), '1 PVID untagged'],
    ['access 100: no VLAN 1 (Harvester #8816)', intent(100), '100 PVID untagged'],
    [
      'access 100 preserving the default: 1 untagged, 100 native',
      intent(100, [], true),
      '1 untagged, 100 PVID untagged',
    ],
    [
      'trunk 66-88, no vlan: VID 1 native (reference v1.8.0+, Harvester trunk)',
      intent(0, [[66, 88]]),
      '1 PVID untagged, 66-88',
    ],
    [
      'trunk 66-88, no vlan, preserveDefaultVlan: VID 1 native all the same',
      intent(0, [[66, 88]], true),
      '1 PVID untagged, 66-88',
    ],
    [
      'trunk 100-200 and 300 with vlan 150: 150 native, split out of the range',
      intent(150, [
        [100, 200],
        [300, 300],
      ]),
      '100-149, 150 PVID untagged, 151-200, 300',
    ],
    ['trunk containing VID 1, no vlan: 1 stays native', intent(0, [[1, 10]]), '1 PVID untagged, 2-10'],
    ['trunk with vlan 5 outside it: 5 native, no VLAN 1', intent(5, [[10, 20]]), '5 PVID untagged, 10-20'],
    ['full trunk 2-4094: VID 1 native', intent(0, [[2, 4094]]), '1 PVID untagged, 2-4094'],
  ];
  it.each(cases)('%s', (_what, c, want) => {
    expect(formatVlans(expectedPortVlans(c, DEFAULT_1))).toBe(want);
  });
});

describe('on a bridge with default PVID 0 (ports join with no VLAN)', () => {
  it.each([
    ['untagged network: nothing', intent(0), 'none'],
    ['trunk: VID 1 native and the range', intent(0, [[7, 9]]), '1 PVID untagged, 7-9'],
    ['access 7', intent(7), '7 PVID untagged'],
  ] as Array<[string, VlanIntent, string]>)('%s', (_what, c, want) => {
    expect(formatVlans(expectedPortVlans(c, []))).toBe(want);
  });
});

describe('the plan', () => {
  it('removes what the port had unless preserveDefaultVlan, and adds the native VLAN last in one request', () => {
    expect(planPortVlans(intent(0, [[66, 88]]), DEFAULT_1)).toEqual({
      remove: [{ min: 1, max: 1 }],
      add: [
        { min: 66, max: 88 },
        { min: 1, max: 1, pvid: true, untagged: true },
      ],
    });
    expect(planPortVlans(intent(0, [[66, 88]], true), DEFAULT_1).remove).toEqual([]);
  });

  it('does nothing on the untagged network', () => {
    expect(planPortVlans(intent(0, [], true), DEFAULT_1)).toEqual({ remove: [], add: [] });
  });

  it.each([
    [intent(0), 0],
    [intent(0, [[66, 88]]), 1],
    [intent(42, [[66, 88]]), 42],
    [intent(42), 42],
  ] as Array<[VlanIntent, number]>)('native VLAN of %o is %i', (c, vid) => {
    expect(nativeVid(c)).toBe(vid);
  });
});

describe('trunkSpans: vlanTrunk entries as sorted, merged ranges', () => {
  it.each([
    [[{ id: 100 }], [[100, 100]]],
    [[{ minID: 2, maxID: 4094 }], [[2, 4094]]],
    [[{ id: 5 }, { id: 4 }, { id: 6 }], [[4, 6]]],
    [
      [{ minID: 10, maxID: 20 }, { minID: 15, maxID: 30 }, { id: 40 }],
      [
        [10, 30],
        [40, 40],
      ],
    ],
    [
      [{ id: 7, minID: 1, maxID: 3 }],
      [
        [1, 3],
        [7, 7],
      ],
    ],
    [[{ minID: 100, maxID: 200 }, { id: 150 }, { id: 201 }], [[100, 201]]],
    [[], []],
    [[{}], []],
  ])('%j -> %j', (entries, ranges) => {
    expect(trunkSpans(entries)).toEqual(ranges);
  });
});
