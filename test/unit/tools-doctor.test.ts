// doctor's findings computed from node descriptions made here (no kernel): a clean Harvester-like node, then the
// same node with one thing wrong at a time, and the report's text and exit code.
import { describe, expect, it } from 'vitest';
import type { Link, VlanRange } from '../../src/kernel/index.js';
import { diagnose, type NodeSnapshot } from '../../src/tools/doctor-check.js';
import { formatVids } from '../../src/vids.js';
import { nsfsMounts } from '../../src/tools/doctor-read.js';
import { renderReport } from '../../src/tools/doctor-render.js';
import { doctorExit } from '../../src/tools/doctor.js';
import { Exit } from '../../src/tools/errors.js';

const ACCESS = (vid: number): VlanRange => ({ min: vid, max: vid, pvid: true, untagged: true });
const TAGGED = (min: number, max = min): VlanRange => ({ min, max });

interface PortSpec {
  name: string;
  kind?: string;
  mtu?: number;
  alias?: string;
  vlans?: VlanRange[];
  up?: boolean;
  lowerUp?: boolean;
  nsid?: number | null;
  master?: string | null;
}

/** A node: bridge mgmt-br (filtering, default PVID 1) with uplink mgmt-bo carrying 1 PVID untagged, 100 and 200. */
class NodeBuilder {
  links: Link[] = [];
  vlans = new Map<number, VlanRange[]>();
  liveNsids = new Set<number>([1, 2, 3, 4, 5]);
  livePids = new Set<number>();
  private next = 1;

  bridge(
    name: string,
    o: { mtu?: number; filtering?: boolean; defaultPvid?: number; up?: boolean; vlans?: VlanRange[] } = {},
  ): this {
    const index = this.next++;
    this.links.push({
      index,
      name,
      kind: 'bridge',
      mtu: o.mtu ?? 1500,
      up: o.up ?? true,
      lowerUp: true,
      promisc: true,
      operstate: 'up',
      bridge: { vlanFiltering: o.filtering ?? true, vlanFilteringSupported: true, defaultPvid: o.defaultPvid ?? 1 },
    });
    this.vlans.set(index, o.vlans ?? [ACCESS(1)]);
    return this;
  }

  port(p: PortSpec): this {
    const index = this.next++;
    const master = p.master === null ? undefined : this.links.find((l) => l.name === (p.master ?? 'mgmt-br'))!.index;
    const l: Link = {
      index,
      name: p.name,
      kind: p.kind ?? 'veth',
      mtu: p.mtu ?? 1500,
      up: p.up ?? true,
      lowerUp: p.lowerUp ?? true,
      promisc: false,
      operstate: 'up',
      master,
    };
    if (p.alias) l.alias = p.alias;
    if (l.kind === 'veth') {
      l.peerIndex = 2;
      if (p.nsid !== null) l.linkNetnsId = p.nsid ?? 1;
    }
    this.links.push(l);
    if (p.vlans) this.vlans.set(index, p.vlans);
    return this;
  }

  pod(name: string, network: string, vlans: VlanRange[], extra: Partial<PortSpec> = {}): this {
    return this.port({ name, alias: `vlan-bridge:${network}:ctr-${name}:net1`, vlans, ...extra });
  }

  snapshot(): NodeSnapshot {
    return { links: this.links, vlans: this.vlans, liveNsids: this.liveNsids, livePids: this.livePids };
  }
}

function harvester(): NodeBuilder {
  return new NodeBuilder()
    .bridge('mgmt-br')
    .port({ name: 'mgmt-bo', kind: 'bond', vlans: [ACCESS(1), TAGGED(100), TAGGED(200)] })
    .pod('veth100', 'vlan100', [ACCESS(100)], { nsid: 1 })
    .pod('veth200', 'vlan200', [ACCESS(200)], { nsid: 2 })
    .pod('vethuntag', 'untagged', [ACCESS(1)], { nsid: 3 });
}

const codes = (s: NodeSnapshot, only?: string) =>
  diagnose(s, only).findings.map((f) => `${f.severity} ${f.code} ${f.port ?? f.bridge ?? ''}`);

describe('doctor', () => {
  it('reports a clean Harvester-like node as clean: bridge, uplink, pods with their attachment', () => {
    const r = diagnose(harvester().snapshot());
    expect(r.findings).toEqual([]);
    expect(r.notes).toEqual([]);
    expect(doctorExit(r)).toBe(Exit.Ok);
    expect(r.bridges).toHaveLength(1);
    const [b] = r.bridges;
    expect(b).toMatchObject({ name: 'mgmt-br', vlanFiltering: true, defaultPvid: 1, mtu: 1500 });
    expect(b!.uplinks.map((u) => [u.name, u.kind])).toEqual([['mgmt-bo', 'bond']]);
    expect(b!.pods.map((p) => [p.name, p.network, p.containerId, p.ifname, p.namespace])).toEqual([
      ['veth100', 'vlan100', 'ctr-veth100', 'net1', 'alive'],
      ['veth200', 'vlan200', 'ctr-veth200', 'net1', 'alive'],
      ['vethuntag', 'untagged', 'ctr-vethuntag', 'net1', 'alive'],
    ]);
    expect(renderReport(r)).toMatch(/mgmt-br\s+1500\s+up\s+on\s+1\s+mgmt-bo \(bond\)/);
    expect(renderReport(r)).toMatch(/veth100\s+pod\s+1500\s+up\s+100 PVID untagged\s+vlan100\/ctr-veth100\/net1/);
    expect(renderReport(r)).toMatch(/no problems found\n$/);
  });

  it('flags VLAN 1 leaking onto a VLAN pod (the default VLAN left egress-untagged after the PVID moved)', () => {
    const s = harvester()
      .pod('vethleak', 'vlan100', [{ min: 1, max: 1, untagged: true }, ACCESS(100)], { nsid: 4 })
      .snapshot();
    expect(codes(s)).toEqual(['warning vlan1-leak vethleak']);
    expect(diagnose(s).findings[0]!.message).toMatch(/carries VLAN 1 egress-untagged next to VLAN 100/);
    expect(doctorExit(diagnose(s))).toBe(Exit.Warnings);
  });

  it('takes VLAN 1 carried tagged on a trunk for what the network asked, not a leak', () => {
    const s = harvester()
      .pod('vethtrunk', 'trunk', [TAGGED(1), ACCESS(100), TAGGED(200)], { nsid: 4 })
      .snapshot();
    expect(codes(s)).toEqual([]);
  });

  it('takes a trunk with native VLAN 1 (the reference since v1.8.0) for an untagged port plus its tagged VLANs', () => {
    const s = harvester()
      .pod('vethtrunk', 'trunk', [ACCESS(1), TAGGED(100), TAGGED(200)], { nsid: 4 })
      .snapshot();
    expect(codes(s)).toEqual([]);
  });

  it("warns about a trunk port with no native VLAN: the pod's untagged frames are dropped", () => {
    const s = harvester()
      .pod('vethold', 'trunk', [TAGGED(100), TAGGED(200)], { nsid: 4 })
      .snapshot();
    expect(codes(s)).toEqual(['warning no-native-vlan vethold']);
    expect(diagnose(s).findings[0]!.message).toMatch(/carries VLAN 100,200 tagged but has no PVID/);
  });

  it('with default_pvid 0, VLAN 1 is a VLAN like another: no leak, and checked against the uplink', () => {
    const s = new NodeBuilder()
      .bridge('br0', { defaultPvid: 0, vlans: [] })
      .port({ name: 'eth1', kind: 'device', master: 'br0', vlans: [TAGGED(100)] })
      .pod('veth1', 'vlan1', [ACCESS(1)], { master: 'br0' })
      .pod('veth100', 'vlan100', [ACCESS(100)], { master: 'br0' })
      .snapshot();
    expect(codes(s)).toEqual(['error vlan-not-on-uplink veth1']);
    expect(diagnose(s).findings[0]!.message).toMatch(/is on VLAN 1, which no uplink of br0 carries/);
  });

  it("does not take a VM's tap on the bridge for an uplink", () => {
    const s = harvester()
      .port({ name: 'vnet0', kind: 'tun', up: false, lowerUp: false, mtu: 1400, vlans: [ACCESS(300)] })
      .snapshot();
    const r = diagnose(s);
    expect(codes(s)).toEqual([]);
    expect(r.bridges[0]!.uplinks.map((u) => u.name)).toEqual(['mgmt-bo']);
    expect(r.bridges[0]!.otherPorts.map((u) => u.name)).toEqual(['vnet0']);
  });

  it('flags VLANs of a pod that no uplink carries, as ranges', () => {
    const s = harvester()
      .pod('vethtrunk', 'trunk', [ACCESS(1), TAGGED(100, 300)], { nsid: 4 })
      .pod('veth300', 'vlan300', [ACCESS(300)], { nsid: 5 })
      .snapshot();
    expect(codes(s)).toEqual(['error vlan-not-on-uplink veth300', 'error vlan-not-on-uplink vethtrunk']);
    expect(diagnose(s).findings[1]!.message).toMatch(/VLAN 101-199,201-300, which no uplink of mgmt-br carries/);
  });

  it('counts a VLAN the bridge itself carries (an isGateway address on <bridge>.<vid>) as going somewhere', () => {
    const s = new NodeBuilder()
      .bridge('mgmt-br', { vlans: [ACCESS(1), TAGGED(300)] })
      .port({ name: 'mgmt-bo', kind: 'bond', vlans: [ACCESS(1)] })
      .pod('veth300', 'vlan300', [ACCESS(300)])
      .snapshot();
    expect(codes(s)).toEqual([]);
  });

  it('takes a <bridge>.<vlan> gateway port for the gateway, not a pod, and counts its VLAN as going somewhere', () => {
    const s = new NodeBuilder()
      .bridge('mgmt-br')
      .port({ name: 'mgmt-bo', kind: 'bond', vlans: [ACCESS(1)] })
      .port({ name: 'vgw3v300', alias: 'vlan-bridge:vlan300:_gateway:mgmt-br.300', vlans: [ACCESS(300)], nsid: null })
      .pod('veth300', 'vlan300', [ACCESS(300)])
      .snapshot();
    const r = diagnose(s);
    expect(codes(s)).toEqual([]);
    expect(r.bridges[0]!.gateways.map((g) => g.name)).toEqual(['vgw3v300']);
    expect(r.bridges[0]!.pods.map((p) => p.name)).toEqual(['veth300']);
    expect(renderReport(r)).toMatch(/vgw3v300\s+gateway\s/);
  });

  it('flags untagged pods when no uplink sends the default VLAN untagged', () => {
    const s = new NodeBuilder()
      .bridge('mgmt-br')
      .port({ name: 'mgmt-bo', kind: 'bond', vlans: [TAGGED(1), TAGGED(100)] })
      .pod('vethuntag', 'untagged', [ACCESS(1)])
      .pod('veth100', 'vlan100', [ACCESS(100)])
      .snapshot();
    expect(codes(s)).toEqual(['error untagged-no-native mgmt-br']);
    expect(diagnose(s).findings[0]!.message).toMatch(
      /vethuntag \(untagged\/ctr-vethuntag\/net1\) is on the untagged network \(VLAN 1\)/,
    );
  });

  it('flags untagged pods when the uplink sends the default VLAN untagged but takes untagged frames into another', () => {
    const s = new NodeBuilder()
      .bridge('mgmt-br')
      .port({ name: 'mgmt-bo', kind: 'bond', vlans: [{ min: 1, max: 1, untagged: true }, ACCESS(100)] })
      .pod('vethuntag', 'untagged', [ACCESS(1)])
      .snapshot();
    expect(codes(s)).toEqual(['error untagged-no-native mgmt-br']);
  });

  it('flags a pod port with no VLAN at all, and VLANs on a bridge without VLAN filtering', () => {
    expect(codes(harvester().pod('vethnone', 'vlan100', [], { nsid: 4 }).snapshot())).toEqual([
      'error no-vlan vethnone',
    ]);
    const off = new NodeBuilder()
      .bridge('br0', { filtering: false })
      .port({ name: 'eth1', kind: 'device', master: 'br0', vlans: [ACCESS(1)] })
      .pod('veth100', 'vlan100', [ACCESS(100)], { master: 'br0' })
      .pod('vethuntag', 'untagged', [ACCESS(1)], { master: 'br0' })
      .snapshot();
    expect(codes(off)).toEqual(['error vlan-filtering-off br0']);
    expect(diagnose(off).findings[0]!.message).toMatch(/VLANs of veth100 isolate nothing/);
  });

  it('flags MTU mismatches between uplink, bridge and veths, above as errors and below as warnings', () => {
    const s = new NodeBuilder()
      .bridge('mgmt-br', { mtu: 9000 })
      .port({ name: 'mgmt-bo', kind: 'bond', mtu: 1500, vlans: [ACCESS(1), TAGGED(100)] })
      .pod('vethbig', 'vlan100', [ACCESS(100)], { mtu: 9000 })
      .pod('vethsmall', 'vlan100', [ACCESS(100)], { mtu: 1400 })
      .pod('vethok', 'vlan100', [ACCESS(100)], { mtu: 1500 })
      .snapshot();
    expect(codes(s)).toEqual([
      'error mtu-mismatch mgmt-br',
      'error mtu-mismatch vethbig',
      'warning mtu-mismatch vethsmall',
    ]);
    const two = new NodeBuilder()
      .bridge('mgmt-br')
      .port({ name: 'eth1', kind: 'device', mtu: 1500 })
      .port({ name: 'eth2', kind: 'device', mtu: 9000 })
      .snapshot();
    expect(codes(two)).toEqual(['warning mtu-mismatch mgmt-br']);
  });

  it('flags host veths whose namespace is gone, has no peer, or whose pod side is down: GC candidates', () => {
    const b = harvester();
    b.liveNsids.delete(3);
    const s = b
      .port({ name: 'vethnopeer', alias: 'vlan-bridge:vlan100:gone:net1', vlans: [ACCESS(100)] })
      .pod('vethdown', 'vlan200', [ACCESS(200)], { lowerUp: false, nsid: 2 })
      .snapshot();
    s.links.find((l) => l.name === 'vethnopeer')!.peerIndex = undefined;
    expect(codes(s)).toEqual([
      'warning carrier-down vethdown',
      'warning namespace-gone vethnopeer',
      'warning namespace-gone vethuntag',
    ]);
    const r = diagnose(s);
    expect(r.bridges[0]!.pods.find((p) => p.name === 'vethuntag')!.namespace).toBe('gone');
    expect(doctorExit(r)).toBe(Exit.Warnings);
    expect(renderReport(r)).toMatch(/0 errors, 3 warnings\n$/);
  });

  it('does not guess about namespaces when it could not read them', () => {
    const s = harvester().snapshot();
    s.liveNsids = null;
    const r = diagnose(s);
    expect(r.findings).toEqual([]);
    expect(r.bridges[0]!.pods.every((p) => p.namespace === 'unknown')).toBe(true);
    expect(r.notes).toEqual([expect.stringMatching(/namespaces not checked/)]);
    expect(renderReport(r)).toMatch(/note: pods' namespaces not checked.*\nno problems found\n$/);
  });

  it('tells probes of running discovers from leftovers, and other veths from pods', () => {
    const b = harvester()
      .port({ name: 'vbdiscaaaa', alias: 'vlan-bridge-discover:4242', vlans: [ACCESS(100)] })
      .port({ name: 'vbdiscbbbb', alias: 'vlan-bridge-discover:77', vlans: [ACCESS(200)] })
      .port({ name: 'vethother', vlans: [ACCESS(1)], nsid: null });
    b.livePids.add(4242);
    const r = diagnose(b.snapshot());
    expect(r.bridges[0]!.probes.map((p) => [p.name, p.pid, p.running])).toEqual([
      ['vbdiscaaaa', 4242, true],
      ['vbdiscbbbb', 77, false],
    ]);
    expect(r.bridges[0]!.otherPorts.map((p) => p.name)).toEqual(['vethother']);
    expect(codes(b.snapshot())).toEqual(['warning stale-probe vbdiscbbbb']);
  });

  it('lists pods the reference plugin attached before a takeover (no label, peer in a pod) and flags their MTU', () => {
    const b = new NodeBuilder()
      .bridge('mgmt-br', { mtu: 9000, filtering: false, vlans: [] })
      .port({ name: 'mgmt-bo', kind: 'bond', mtu: 9000 })
      .pod('vethours', 'untagged', [], { nsid: 1, mtu: 9000 })
      .port({ name: 'veth1a2b3c4d', mtu: 1500, nsid: 2 });
    const r = diagnose(b.snapshot());
    expect(r.bridges[0]!.pods.map((p) => [p.name, p.madeBy, p.namespace])).toEqual([
      ['veth1a2b3c4d', 'unlabelled', 'alive'],
      ['vethours', 'vlan-bridge', 'alive'],
    ]);
    expect(r.bridges[0]!.otherPorts).toEqual([]);
    expect(codes(b.snapshot())).toEqual(['warning mtu-mismatch veth1a2b3c4d']);
    expect(renderReport(r)).toMatch(/veth1a2b3c4d +pod +1500 .*unlabelled: reference plugin or other/);
    b.liveNsids.delete(2);
    expect(codes(b.snapshot())).toEqual(['warning mtu-mismatch veth1a2b3c4d', 'warning namespace-gone veth1a2b3c4d']);
  });

  it('flags bridges and uplinks that are down, pods on bridges without uplink, pod veths on no bridge', () => {
    const s = new NodeBuilder()
      .bridge('mgmt-br', { up: false })
      .port({ name: 'mgmt-bo', kind: 'bond', lowerUp: false, vlans: [ACCESS(1), TAGGED(100)] })
      .pod('veth100', 'vlan100', [ACCESS(100)])
      .bridge('lonely')
      .pod('vethl', 'lonely', [ACCESS(1)], { master: 'lonely' })
      .pod('vethorphan', 'vlan100', [], { master: null })
      .snapshot();
    expect(codes(s)).toEqual([
      'error bridge-down mgmt-br',
      'error uplink-down mgmt-bo',
      'warning no-uplink lonely',
      'warning not-on-bridge vethorphan',
    ]);
    expect(diagnose(s).unattached.map((p) => p.name)).toEqual(['vethorphan']);
  });

  it('--bridge limits the report to one bridge', () => {
    const s = harvester()
      .bridge('other', { mtu: 9000 })
      .port({ name: 'eth9', kind: 'device', master: 'other', mtu: 1500 })
      .pod('vethx', 'x', [], { master: null })
      .snapshot();
    expect(diagnose(s, 'mgmt-br').bridges.map((b) => b.name)).toEqual(['mgmt-br']);
    expect(codes(s, 'mgmt-br')).toEqual([]);
    expect(codes(s)).toEqual(['error mtu-mismatch other', 'warning not-on-bridge vethx']);
  });

  it('lists VIDs as ranges and nsfs mount points from mountinfo', () => {
    expect(formatVids([5, 1, 2, 3, 7, 8, 2])).toBe('1-3,5,7-8');
    const mountinfo = [
      '22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw',
      '650 27 0:4 net:[4026532598] /run/netns/vbn-1 rw shared:300 - nsfs nsfs rw',
      '651 27 0:4 net:[4026532700] /var/run/netns/cni\\040x rw - nsfs nsfs rw',
    ].join('\n');
    expect(nsfsMounts(mountinfo)).toEqual(['/run/netns/vbn-1', '/var/run/netns/cni x']);
  });
});
