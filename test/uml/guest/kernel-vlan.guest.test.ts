// Runs inside the UML kernel (bridge VLAN filtering, 802.1q, bonding): the VLAN verbs of src/kernel, read back
// with `bridge -j vlan show` and `ip -j -d link`.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  KernelError,
  Netns,
  addVlans,
  createBridge,
  createVeth,
  delVlans,
  dumpVlans,
  getLink,
  openNetlink,
  portVlans,
  setLink,
  type NetlinkSocket,
} from '../../../src/kernel/index.js';
import { deleteAllNetns, makeNetns, type TestNs } from '../../host/netns-fixture.js';

let hostNs: TestNs;
let podNs: TestNs;
let host: Netns;
let pod: Netns;
let hs: NetlinkSocket;

beforeEach(() => {
  hostNs = makeNetns();
  podNs = makeNetns();
  host = Netns.open(hostNs.path);
  pod = Netns.open(podNs.path);
  hs = openNetlink(host);
});
afterEach(() => {
  hs.close();
  host.close();
  pod.close();
  deleteAllNetns();
});

/** `bridge -j vlan show dev X` as [vid, flags[]] pairs, ranges expanded by iproute2 itself. */
function shown(dev: string): Array<[number, string[]]> {
  const all = hostNs.bridgej<
    Array<{ ifname: string; vlans: Array<{ vlan: number; vlanEnd?: number; flags?: string[] }> }>
  >('vlan', 'show', 'dev', dev);
  const entry = all.find((e) => e.ifname === dev);
  const out: Array<[number, string[]]> = [];
  for (const v of entry?.vlans ?? []) {
    for (let vid = v.vlan; vid <= (v.vlanEnd ?? v.vlan); vid++) out.push([vid, v.flags ?? []]);
  }
  return out;
}

function port(name = 'veth0'): number {
  const br = getLink(hs, 'br0') ?? createBridge(hs, { name: 'br0', vlanFiltering: true });
  const v = createVeth(hs, { name }, { name: 'eth0', netnsFd: pod.fd });
  setLink(hs, v.index, { master: br.index });
  return v.index;
}

describe('bridge VLAN filtering', () => {
  it('creates a bridge with VLAN filtering and toggles it', () => {
    const br = createBridge(hs, { name: 'br0', vlanFiltering: true });
    expect(br.bridge).toEqual({ vlanFiltering: true, vlanFilteringSupported: true, defaultPvid: 1 });
    const [ip] = hostNs.ipj('link', 'show', 'br0');
    expect(ip.linkinfo.info_data.vlan_filtering).toBe(1);
    hostNs.exec('ip', 'link', 'set', 'br0', 'type', 'bridge', 'vlan_filtering', '0');
    expect(getLink(hs, br.index)?.bridge?.vlanFiltering).toBe(false);
    expect(hostNs.ipj('link', 'show', 'br0')[0].linkinfo.info_data.vlan_filtering).toBe(0);
  });

  it('a new port carries the default VLAN 1 PVID untagged', () => {
    const idx = port();
    expect(shown('veth0')).toEqual([[1, ['PVID', 'Egress Untagged']]]);
    expect(portVlans(hs, idx)).toEqual([{ min: 1, max: 1, pvid: true, untagged: true }]);
  });

  it('programs an access VLAN and removes VLAN 1', () => {
    const idx = port();
    delVlans(hs, idx, [{ min: 1, max: 1 }]);
    addVlans(hs, idx, [{ min: 100, max: 100, pvid: true, untagged: true }]);
    expect(shown('veth0')).toEqual([[100, ['PVID', 'Egress Untagged']]]);
  });

  it('programs a 2-4094 trunk in one request and reads it back as one range', () => {
    const idx = port();
    const sent = vi.spyOn(hs, 'request');
    addVlans(hs, idx, [{ min: 2, max: 4094 }]);
    expect(sent).toHaveBeenCalledTimes(1);
    sent.mockRestore();
    const vids = shown('veth0');
    expect(vids).toHaveLength(4094);
    expect(vids[0]).toEqual([1, ['PVID', 'Egress Untagged']]);
    expect(vids.slice(1).every(([vid, flags], i) => vid === i + 2 && flags.length === 0)).toBe(true);
    expect(portVlans(hs, idx)).toEqual([
      { min: 1, max: 1, pvid: true, untagged: true },
      { min: 2, max: 4094, pvid: false, untagged: false },
    ]);
  });

  it('sends many ranges and a native VLAN in one request', () => {
    const idx = port();
    const sent = vi.spyOn(hs, 'request');
    addVlans(hs, idx, [
      { min: 10, max: 20 },
      { min: 30, max: 30 },
      { min: 40, max: 50 },
      { min: 5, max: 5, pvid: true, untagged: true },
    ]);
    expect(sent).toHaveBeenCalledTimes(1);
    sent.mockRestore();
    expect(portVlans(hs, idx)).toEqual([
      { min: 1, max: 1, pvid: false, untagged: true },
      { min: 5, max: 5, pvid: true, untagged: true },
      { min: 10, max: 20, pvid: false, untagged: false },
      { min: 30, max: 30, pvid: false, untagged: false },
      { min: 40, max: 50, pvid: false, untagged: false },
    ]);
    delVlans(hs, idx, [
      { min: 10, max: 20 },
      { min: 1, max: 1 },
    ]);
    expect(shown('veth0').map(([v]) => v)).toEqual([5, 30, ...Array.from({ length: 11 }, (_, i) => 40 + i)]);
  });

  it('adds VLANs to the bridge device itself with self', () => {
    const br = createBridge(hs, { name: 'br0', vlanFiltering: true });
    addVlans(hs, br.index, [{ min: 100, max: 101 }], true);
    expect(shown('br0').map(([v]) => v)).toEqual([1, 100, 101]);
    expect(
      dumpVlans(hs)
        .get(br.index)
        ?.map((r) => [r.min, r.max]),
    ).toEqual([
      [1, 1],
      [100, 101],
    ]);
  });

  it('rejects VLANs on a device that is not a bridge port', () => {
    const v = createVeth(hs, { name: 'veth9' }, { name: 'eth0', netnsFd: pod.fd });
    let err: unknown;
    try {
      addVlans(hs, v.index, [{ min: 100, max: 100 }]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KernelError);
    expect((err as KernelError).code).toMatch(/^(EINVAL|EOPNOTSUPP|ENOTSUP)$/);
  });

  it('sees a bond and an 802.1q device as links of their kind', () => {
    hostNs.exec('ip', 'link', 'add', 'mgmt-bo', 'type', 'bond', 'mode', 'active-backup');
    hostNs.exec('ip', 'link', 'add', 'd0', 'type', 'dummy');
    hostNs.exec('ip', 'link', 'add', 'link', 'd0', 'name', 'd0.100', 'type', 'vlan', 'id', '100');
    expect(getLink(hs, 'mgmt-bo')?.kind).toBe('bond');
    expect(getLink(hs, 'd0.100')?.kind).toBe('vlan');
    const br = createBridge(hs, { name: 'br0', vlanFiltering: true });
    setLink(hs, getLink(hs, 'mgmt-bo')!.index, { master: br.index });
    addVlans(hs, getLink(hs, 'mgmt-bo')!.index, [
      { min: 100, max: 100 },
      { min: 200, max: 200 },
    ]);
    expect(shown('mgmt-bo')).toEqual([
      [1, ['PVID', 'Egress Untagged']],
      [100, []],
      [200, []],
    ]);
  });
});
