// Runs inside the UML kernel (bridge VLAN filtering, bonding): the built plugin as a process against a
// Harvester-like node (REFERENCE.md section 3): bridge `mgmt-br` with vlan_filtering 1 and promisc on, bond
// `mgmt-bo` (active-backup over a dummy NIC) enslaved to it and carrying VLANs 100 and 200 tagged. Configs are
// shaped like the NADs Harvester writes. Everything is read back with `bridge -j vlan show` / `ip -j -d link`.
//
// The guest never builds: the host test (test/uml/plugin-vlan.host.test.ts) runs ensureBuilt() and hands over a
// private copy of the binary in VB_PLUGIN_BIN, so a concurrent rebuild of bin/ on the host cannot swap it mid-run.
// That is also why this file calls the binary with its own runner instead of test/lab/cni.ts's cni(), which would
// rebuild in the guest whenever src/ is newer than bin/. The environment is cni()'s own (envOf).
import { spawnSync } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BIN } from '../../lab/binary.js';
import { envOf, ok, type CniCall, type CniReply } from '../../lab/cni.js';
import { bridgeVlans, deleteAllNetns, makeNetns, type BridgeVlan, type TestNs } from '../../host/netns-fixture.js';
import { callInProcess, failEachStep } from '../../lab/step-failure.js';

const PLUGIN = process.env.VB_PLUGIN_BIN || BIN;
const ADD_DEL_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
const CHECK_VERSIONS = ['0.4.0', '1.0.0', '1.1.0'] as const;
const BridgeConflict = 103;
const CheckMismatch = 105;

/** Runs the plugin in namespace `node` the way test/lab/cni.ts does, without ever building. */
function cni(node: string, c: CniCall): CniReply {
  const env = envOf(c);
  const input = typeof c.conf === 'string' ? c.conf : JSON.stringify(c.conf);
  const r = spawnSync('ip', ['netns', 'exec', node, PLUGIN], { input, env, encoding: 'utf8', timeout: 60_000 });
  const text = (r.stdout ?? '').trim();
  let json: any;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    throw new Error(`plugin stdout is not one JSON document (exit ${r.status}): ${r.stdout}\nstderr: ${r.stderr}`);
  }
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, json };
}

/** Asserts a CNI error reply with `code`; returns msg + details for matching. */
function failed(r: CniReply, code: number): string {
  const why = `exit ${r.code}, stdout: ${r.stdout}, stderr: ${r.stderr}`;
  expect(r.code, why).not.toBe(0);
  expect(r.code, why).not.toBeNull();
  expect(r.json?.code, why).toBe(code);
  expect(typeof r.json?.msg, why).toBe('string');
  return `${r.json.msg} | ${r.json.details ?? ''}`;
}

let node: TestNs;
let pod: TestNs;

type Vid = BridgeVlan;

/** The port's VLANs in the node namespace (netns-fixture's bridgeVlans). */
const vlansOf = (dev: string): Vid[] => bridgeVlans(node, dev);

const ACCESS: string[] = ['Egress Untagged', 'PVID'];
const UNTAGGED: string[] = ['Egress Untagged'];
const tagged = (from: number, to: number): Vid[] => Array.from({ length: to - from + 1 }, (_, i) => [from + i, []]);

function linkNames(ns: TestNs): string[] {
  return (ns.ipj<Array<{ ifname: string }>>('link', 'show') ?? []).map((l) => l.ifname).sort();
}

function link(ns: TestNs, name: string): any {
  const [l] = ns.ipj<any[]>('link', 'show', name);
  return l;
}

/** A Harvester-like node: mgmt-br (vlan_filtering 1, promisc), mgmt-bo active-backup over mgmt-nic0, VLANs 100/200. */
function harvesterNode(ns: TestNs): void {
  // One shell for the whole setup: every process spawned from vitest costs ~0.1 s in the UML guest.
  ns.exec(
    'sh',
    '-ec',
    `
    ip link add mgmt-br type bridge vlan_filtering 1
    ip link add mgmt-bo type bond mode active-backup
    ip link add mgmt-nic0 type dummy
    ip link set mgmt-nic0 master mgmt-bo
    ip link set mgmt-bo master mgmt-br
    ip link set mgmt-br promisc on
    for l in mgmt-nic0 mgmt-bo mgmt-br; do ip link set "$l" up; done
    bridge vlan add dev mgmt-bo vid 100 master
    bridge vlan add dev mgmt-bo vid 200 master`,
  );
}

const UPLINK_VLANS: Vid[] = [
  [1, ACCESS],
  [100, []],
  [200, []],
];

/** A NAD config as Harvester writes it, with the given version and extra keys. */
function nad(cniVersion: string, extra: Record<string, unknown> = {}, name = 'vlan100'): Record<string, unknown> {
  return { cniVersion, name, type: 'vlan-bridge', bridge: 'mgmt-br', promiscMode: true, ipam: {}, ...extra };
}

interface Attached {
  result: any;
  hostVeth: string;
}

/** ADD; asserts the result's shape (3 interfaces, container one in the sandbox) and returns the host veth name. */
function add(conf: Record<string, unknown>, containerId = 'c1', ns: TestNs = pod): Attached {
  const result = ok(cni(node.name, { command: 'ADD', conf, containerId, netns: ns.path, ifname: 'net1' }));
  expect(result.cniVersion).toBe(conf.cniVersion);
  expect(result.interfaces).toHaveLength(3);
  const [br, host, cont] = result.interfaces;
  expect(br.name).toBe(conf.bridge);
  expect(br.sandbox).toBeUndefined();
  expect(host.name).toMatch(/^veth[0-9a-f]{11}$/);
  expect(host.sandbox).toBeUndefined();
  expect(cont).toMatchObject({ name: 'net1', sandbox: ns.path });
  // The names in the result are the real devices: the host veth is a port of the bridge, net1 is in the pod.
  const hostLink = link(node, host.name);
  expect(hostLink.master).toBe(conf.bridge);
  expect(hostLink.address).toBe(host.mac);
  expect(link(ns, 'net1').address).toBe(cont.mac);
  // Only the L2 result: no IPs for ipam {}.
  expect(result.ips ?? []).toEqual([]);
  return { result, hostVeth: host.name };
}

function del(conf: Record<string, unknown>, a: Attached, containerId = 'c1', ns: TestNs = pod): void {
  const withPrev =
    conf.cniVersion === '0.3.0' || conf.cniVersion === '0.3.1' ? conf : { ...conf, prevResult: a.result };
  ok(cni(node.name, { command: 'DEL', conf: withPrev, containerId, netns: ns.path, ifname: 'net1' }));
  expect(linkNames(node)).not.toContain(a.hostVeth);
  expect(linkNames(ns)).toEqual(['lo']);
}

/** CHECK with the ADD's result as prevResult. */
function check(conf: Record<string, unknown>, a: Attached): CniReply {
  return cni(node.name, { command: 'CHECK', conf: { ...conf, prevResult: a.result }, netns: pod.path });
}

beforeEach(() => {
  node = makeNetns('vbn');
  pod = makeNetns('vbp');
  harvesterNode(node);
});
afterEach(() => {
  deleteAllNetns();
});

describe('access VLAN', () => {
  for (const v of ADD_DEL_VERSIONS) {
    it(`vlan 100 gives the port only 100 PVID untagged, DEL removes it (${v})`, () => {
      const before = linkNames(node);
      const conf = nad(v, { vlan: 100 });
      const a = add(conf);
      expect(vlansOf(a.hostVeth)).toEqual([[100, ACCESS]]);
      // Interface MTU is in results from 1.0.0 on only.
      const cont = a.result.interfaces[2];
      if (v === '1.0.0' || v === '1.1.0') expect(cont.mtu).toBe(1500);
      else expect(cont.mtu).toBeUndefined();
      // The uplink is never touched.
      expect(vlansOf('mgmt-bo')).toEqual(UPLINK_VLANS);
      expect(linkNames(node)).toEqual([...before, a.hostVeth].sort());
      del(conf, a);
      expect(linkNames(node)).toEqual(before);
      expect(vlansOf('mgmt-bo')).toEqual(UPLINK_VLANS);
    });
  }

  it('two pods on VLANs 100 and 200 each get only their own VLAN', () => {
    const pod2 = makeNetns('vbp');
    const a = add(nad('0.3.1', { vlan: 100 }), 'c1', pod);
    const b = add(nad('0.3.1', { vlan: 200 }, 'vlan200'), 'c2', pod2);
    expect(vlansOf(a.hostVeth)).toEqual([[100, ACCESS]]);
    expect(vlansOf(b.hostVeth)).toEqual([[200, ACCESS]]);
    del(nad('0.3.1', { vlan: 100 }), a, 'c1', pod);
    expect(linkNames(node)).toContain(b.hostVeth);
    expect(vlansOf(b.hostVeth)).toEqual([[200, ACCESS]]);
    del(nad('0.3.1', { vlan: 200 }, 'vlan200'), b, 'c2', pod2);
  });
});

describe('preserveDefaultVlan', () => {
  for (const v of ADD_DEL_VERSIONS) {
    it(`keeps VLAN 1 (untagged, not PVID) next to 100 PVID untagged (${v})`, () => {
      const conf = nad(v, { vlan: 100, preserveDefaultVlan: true });
      const a = add(conf);
      expect(vlansOf(a.hostVeth)).toEqual([
        [1, UNTAGGED],
        [100, ACCESS],
      ]);
      del(conf, a);
    });
  }
});

describe('trunk', () => {
  const trunk = [{ minID: 100, maxID: 200 }, { id: 300 }];
  for (const v of ADD_DEL_VERSIONS) {
    it(`100-200 and 300 tagged, VID 1 native (PVID untagged) as the reference since v1.8.0 (${v})`, () => {
      const conf = nad(v, { vlanTrunk: trunk }, 'trunk');
      const a = add(conf);
      const got = vlansOf(a.hostVeth);
      expect(got).toEqual([[1, ACCESS], ...tagged(100, 200), [300, []]]);
      del(conf, a);
    });

    it(`with vlan 150: 150 PVID untagged, 100-149, 151-200 and 300 tagged (${v})`, () => {
      const conf = nad(v, { vlan: 150, vlanTrunk: trunk }, 'trunk');
      const a = add(conf);
      expect(vlansOf(a.hostVeth)).toEqual([...tagged(100, 149), [150, ACCESS], ...tagged(151, 200), [300, []]]);
      del(conf, a);
    });

    it(`with preserveDefaultVlan and no vlan: 1 PVID untagged kept plus the tagged ranges (${v})`, () => {
      const conf = nad(v, { vlanTrunk: trunk, preserveDefaultVlan: true }, 'trunk');
      const a = add(conf);
      expect(vlansOf(a.hostVeth)).toEqual([[1, ACCESS], ...tagged(100, 200), [300, []]]);
      del(conf, a);
    });
  }

  it('Harvester\'s trunk NAD (0.3.1, vlan 0, 66-88) reads "1 PVID Egress Untagged" plus 66-88 tagged, CHECK agrees', () => {
    const raw = {
      cniVersion: '0.3.1',
      name: 'trunk66',
      type: 'bridge',
      bridge: 'mgmt-br',
      promiscMode: true,
      vlan: 0,
      vlanTrunk: [{ minID: 66, maxID: 88 }],
      ipam: {},
    };
    const a = add(raw);
    expect(vlansOf(a.hostVeth)).toEqual([[1, ACCESS], ...tagged(66, 88)]);
    const conf = { ...raw, cniVersion: '1.0.0' };
    expect(check(conf, a).code).toBe(0);
    // The native VLAN is part of the rule: CHECK notices when it is gone.
    node.exec('bridge', 'vlan', 'del', 'dev', a.hostVeth, 'vid', '1');
    expect(failed(check(conf, a), CheckMismatch)).toMatch(/VLANs/);
    del(raw, a);
  });
});

describe('full trunk', () => {
  for (const v of ADD_DEL_VERSIONS) {
    it(`a 2-4094 trunk reads back as 4093 tagged VIDs and native VID 1 (${v})`, () => {
      const conf = nad(v, { vlan: 0, vlanTrunk: [{ minID: 2, maxID: 4094 }] }, 'trunkall');
      const a = add(conf);
      const got = vlansOf(a.hostVeth);
      expect(got).toHaveLength(4094);
      expect(got).toEqual([[1, ACCESS], ...tagged(2, 4094)]);
      del(conf, a);
    });
  }
});

describe('untagged network', () => {
  for (const v of ADD_DEL_VERSIONS) {
    it(`no vlan and no trunk leaves the bridge default 1 PVID untagged (${v})`, () => {
      const conf = nad(v, {}, 'untagged');
      const a = add(conf);
      expect(vlansOf(a.hostVeth)).toEqual([[1, ACCESS]]);
      del(conf, a);
    });
  }
});

describe('bridge without VLAN filtering', () => {
  beforeEach(() => {
    node.exec('sh', '-ec', 'ip link add flat-br type bridge vlan_filtering 0; ip link set flat-br up');
  });

  for (const v of ADD_DEL_VERSIONS) {
    it(`a VLAN config fails with 103 and leaves nothing behind (${v})`, () => {
      const before = linkNames(node);
      const r = cni(node.name, { command: 'ADD', conf: nad(v, { bridge: 'flat-br', vlan: 100 }), netns: pod.path });
      expect(failed(r, BridgeConflict)).toMatch(/flat-br/);
      expect(r.json.cniVersion).toBe(v);
      expect(linkNames(node)).toEqual(before);
      expect(linkNames(pod)).toEqual(['lo']);
      expect(link(node, 'flat-br').linkinfo.info_data.vlan_filtering).toBe(0);
    });
  }

  it('a trunk config fails with 103 too, and an untagged one succeeds on it', () => {
    const before = linkNames(node);
    const r = cni(node.name, {
      command: 'ADD',
      conf: nad('1.0.0', { bridge: 'flat-br', vlanTrunk: [{ id: 300 }] }, 'trunk'),
      netns: pod.path,
    });
    failed(r, BridgeConflict);
    expect(linkNames(node)).toEqual(before);
    expect(linkNames(pod)).toEqual(['lo']);
    const conf = nad('1.0.0', { bridge: 'flat-br' }, 'untagged');
    const a = add(conf);
    expect(link(node, a.hostVeth).master).toBe('flat-br');
    del(conf, a);
    expect(link(node, 'flat-br').linkinfo.info_data.vlan_filtering).toBe(0);
  });

  it('the 103 hint works on this kernel (it has VLAN filtering) when run as printed', () => {
    const conf = nad('1.0.0', { bridge: 'flat-br', vlan: 100 });
    const text = failed(cni(node.name, { command: 'ADD', conf, netns: pod.path }), BridgeConflict);
    const cmd = text.match(/\((ip link set flat-br type bridge vlan_filtering 1);/)?.[1];
    expect(cmd, text).toBeDefined();
    node.exec('sh', '-ec', cmd!);
    const a = add(conf);
    expect(vlansOf(a.hostVeth)).toEqual([[100, ACCESS]]);
    del(conf, a);
  });
});

describe('bridge created by the plugin', () => {
  for (const v of ADD_DEL_VERSIONS) {
    it(`a VLAN config creates it with vlan_filtering 1 and promisc (${v})`, () => {
      expect(linkNames(node)).not.toContain('cn2-br');
      const conf = nad(v, { bridge: 'cn2-br', vlan: 100 }, 'cn2-vlan100');
      const a = add(conf);
      const br = link(node, 'cn2-br');
      expect(br.linkinfo.info_kind).toBe('bridge');
      expect(br.linkinfo.info_data.vlan_filtering).toBe(1);
      expect(br.promiscuity).toBeGreaterThan(0);
      expect(br.flags).toContain('PROMISC');
      expect(br.flags).toContain('UP');
      expect(vlansOf(a.hostVeth)).toEqual([[100, ACCESS]]);
      del(conf, a);
      // DEL never deletes the bridge.
      expect(linkNames(node)).toContain('cn2-br');
    });
  }

  it('without promiscMode the new bridge is not promiscuous', () => {
    const conf = { ...nad('1.0.0', { bridge: 'cn3-br', vlan: 100 }, 'cn3-vlan100'), promiscMode: false };
    const a = add(conf);
    const br = link(node, 'cn3-br');
    expect(br.linkinfo.info_data.vlan_filtering).toBe(1);
    expect(br.promiscuity).toBe(0);
    expect(br.flags).not.toContain('PROMISC');
    del(conf, a);
  });
});

describe('CHECK', () => {
  for (const v of CHECK_VERSIONS) {
    it(`passes on an access port, fails with 105 after VLAN 1 is added untagged (${v})`, () => {
      const conf = nad(v, { vlan: 100 });
      const a = add(conf);
      const r = check(conf, a);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout.trim()).toBe('');
      node.exec('bridge', 'vlan', 'add', 'dev', a.hostVeth, 'vid', '1', 'untagged');
      expect(vlansOf(a.hostVeth)).toEqual([
        [1, UNTAGGED],
        [100, ACCESS],
      ]);
      const text = failed(check(conf, a), CheckMismatch);
      expect(text).toContain(a.hostVeth);
      expect(text).toMatch(/VLAN/);
      expect(text).toMatch(/expected[^;|]*\b100 PVID untagged[^;|]*found[^;|]*\b1 untagged[^;|]*\b100 PVID untagged/);
      del(conf, a);
    });

    it(`fails with 105 after VLAN 100 is deleted from the port (${v})`, () => {
      const conf = nad(v, { vlan: 100 });
      const a = add(conf);
      expect(check(conf, a).code).toBe(0);
      node.exec('bridge', 'vlan', 'del', 'dev', a.hostVeth, 'vid', '100');
      expect(vlansOf(a.hostVeth)).toEqual([]);
      const text = failed(check(conf, a), CheckMismatch);
      expect(text).toMatch(/VLAN/);
      expect(text).toMatch(/expected[^;|]*\b100 PVID untagged[^;|]*found[^;|]*none/);
      del(conf, a);
    });

    it(`fails with 105 after the host veth leaves the bridge (${v})`, () => {
      const conf = nad(v, { vlan: 100 });
      const a = add(conf);
      expect(check(conf, a).code).toBe(0);
      node.exec('ip', 'link', 'set', a.hostVeth, 'nomaster');
      expect(link(node, a.hostVeth).master).toBeUndefined();
      const text = failed(check(conf, a), CheckMismatch);
      expect(text).toMatch(/master/);
      expect(text).toContain('mgmt-br');
      del(conf, a);
    });

    it(`passes on a trunk port with a native VLAN, fails after a tagged VID is removed (${v})`, () => {
      const conf = nad(v, { vlan: 150, vlanTrunk: [{ minID: 100, maxID: 200 }, { id: 300 }] }, 'trunk');
      const a = add(conf);
      expect(check(conf, a).code).toBe(0);
      node.exec('bridge', 'vlan', 'del', 'dev', a.hostVeth, 'vid', '300');
      const text = failed(check(conf, a), CheckMismatch);
      expect(text).toMatch(/\b300\b/);
      del(conf, a);
    });
  }
});

describe('MTU with a 9000 bond uplink', () => {
  beforeEach(() => {
    node.exec(
      'sh',
      '-ec',
      'ip link set mgmt-bo mtu 9000; ip link set mgmt-nic0 mtu 9000; ip link set mgmt-br mtu 9000',
    );
    expect(link(node, 'mgmt-bo').mtu).toBe(9000);
    expect(link(node, 'mgmt-nic0').mtu).toBe(9000);
    expect(link(node, 'mgmt-br').mtu).toBe(9000);
  });

  for (const v of ADD_DEL_VERSIONS) {
    it(`no mtu: both veth ends inherit 9000 (${v})`, () => {
      const conf = nad(v, { vlan: 100 });
      const a = add(conf);
      expect(link(node, a.hostVeth).mtu).toBe(9000);
      expect(pod.ipj<any[]>('link', 'show', 'net1')[0].mtu).toBe(9000);
      if (v === '1.0.0' || v === '1.1.0') {
        expect(a.result.interfaces[1].mtu).toBe(9000);
        expect(a.result.interfaces[2].mtu).toBe(9000);
      }
      expect(link(node, 'mgmt-br').mtu).toBe(9000);
      del(conf, a);
    });

    it(`mtu 9100 above the bridge fails with 103 and leaves nothing behind (${v})`, () => {
      const before = linkNames(node);
      const r = cni(node.name, { command: 'ADD', conf: nad(v, { vlan: 100, mtu: 9100 }), netns: pod.path });
      expect(failed(r, BridgeConflict)).toMatch(/9100/);
      expect(linkNames(node)).toEqual(before);
      expect(linkNames(pod)).toEqual(['lo']);
      expect(link(node, 'mgmt-br').mtu).toBe(9000);
    });
  }

  it('mtu 1500 below the bridge is used as given on both ends', () => {
    const conf = nad('1.0.0', { vlan: 100, mtu: 1500 });
    const a = add(conf);
    expect(link(node, a.hostVeth).mtu).toBe(1500);
    expect(pod.ipj<any[]>('link', 'show', 'net1')[0].mtu).toBe(1500);
    del(conf, a);
  });
});

describe('L3 gateway on <bridge>.<vlan>', () => {
  it('isGateway with vlan 100 puts the gateway on mgmt-br.100, an access port of VLAN 100 only, and the pod reaches it', () => {
    const dataDir = `${process.env.UML_WORK_DIR ?? '/tmp'}/ipam-${process.pid}`;
    const conf = nad('1.0.0', {
      vlan: 100,
      isGateway: true,
      ipam: { type: 'host-local', subnet: '10.100.0.0/24', dataDir },
    });
    const result = ok(cni(node.name, { command: 'ADD', conf, containerId: 'c1', netns: pod.path, ifname: 'net1' }));
    expect(result.ips).toEqual([
      { address: expect.stringMatching(/^10\.100\.0\.\d+\/24$/), gateway: '10.100.0.1', interface: 2 },
    ]);
    const gw = link(node, 'mgmt-br.100');
    expect(gw.linkinfo.info_kind).toBe('veth');
    const [addrs] = node.ipj<any[]>('addr', 'show', 'mgmt-br.100');
    expect(addrs.addr_info.map((a: { local: string; prefixlen: number }) => `${a.local}/${a.prefixlen}`)).toContain(
      '10.100.0.1/24',
    );
    // Its peer is a bridge port carrying VLAN 100 as access VLAN and nothing else.
    const peer = (node.ipj<any[]>('link', 'show') ?? []).find(
      (l) => l.ifindex === gw.link_index || l.ifname === gw.link,
    );
    expect(peer?.master).toBe('mgmt-br');
    expect(vlansOf(peer.ifname)).toEqual([[100, ACCESS]]);
    pod.exec('ping', '-c', '1', '-W', '2', '10.100.0.1');
    // A second pod on the same VLAN reuses the gateway interface.
    const pod2 = makeNetns('vbp');
    ok(cni(node.name, { command: 'ADD', conf, containerId: 'c2', netns: pod2.path, ifname: 'net1' }));
    expect(linkNames(node).filter((n) => n === 'mgmt-br.100')).toHaveLength(1);
    pod2.exec('ping', '-c', '1', '-W', '2', '10.100.0.1');
    // The gateway's end on the bridge is marked "_gateway", a container ID no runtime can send (issue 13): GC
    // with no valid attachment removes both pods' veths and keeps the gateway.
    expect(peer.ifalias).toBe(`vlan-bridge:${conf.name}:_gateway:mgmt-br.100`);
    ok(cni(node.name, { command: 'GC', conf: { ...conf, cniVersion: '1.1.0', 'cni.dev/valid-attachments': [] } }));
    expect(linkNames(node)).toContain('mgmt-br.100');
    expect(linkNames(node)).toContain(peer.ifname);
    expect(
      node.ipj<any[]>('link', 'show').filter((l) => l.ifalias?.includes(':c1:') || l.ifalias?.includes(':c2:')),
    ).toEqual([]);
  });
});

describe('rollback of an L3 ADD on a VLAN (in-process, test/lab/step-failure.ts)', () => {
  it('a failed ADD removes the <bridge>.<vlan> gateway pair and the gateway address it made, at every kernel step', async () => {
    const dataDir = node.exec('mktemp', '-d').trim();
    const conf = {
      ...nad('1.0.0', { vlan: 100, isGateway: true, isDefaultGateway: true }, 'l3vlan'),
      ipam: { type: 'host-local', subnet: '10.86.0.0/24', dataDir },
    };
    const env = (command: string) => envOf({ command, conf, netns: pod.path });
    const { steps, failed } = await failEachStep({
      run: () => callInProcess(node.path, env('ADD'), conf),
      undo: async () => {
        const r = await callInProcess(node.path, env('DEL'), conf);
        expect(r.code, r.stdout).toBe(0);
        // DEL leaves the shared gateway (as the reference): take it away so that each ADD below makes it.
        node.exec('ip', 'link', 'del', 'mgmt-br.100');
      },
      leftovers: () => ({
        node: linkNames(node),
        pod: linkNames(pod),
        reservations: node.exec('sh', '-c', `ls ${dataDir}/l3vlan 2>/dev/null | grep -c '^10\\.' || true`).trim(),
      }),
      clean: { node: ['lo', 'mgmt-bo', 'mgmt-br', 'mgmt-nic0'], pod: ['lo'], reservations: '0' },
    });
    expect(steps).toBeGreaterThan(15);
    expect(failed).toBeGreaterThanOrEqual(steps - 4);
  }, 240_000);
});

describe('the code of a failed kernel step with VLANs (in-process, test/lab/step-failure.ts)', () => {
  // A trunk with a native VLAN and uplinkVlans: ADD, CHECK, DEL and GC take the VLAN steps the host kernel cannot
  // (port VLANs, the VLAN dump CHECK compares, the uplink's VIDs added and removed). Each kernel step fails in turn,
  // as a refusal (EIO: 100) and as a timeout (ETIMEDOUT: 11); the uplink ends as it began.
  const conf = nad('1.1.0', { vlan: 100, vlanTrunk: [{ minID: 300, maxID: 302 }], uplinkVlans: true }, 'trunk');
  let stateDir: string;
  const env = (command: string) =>
    envOf({
      command,
      conf,
      netns: command === 'GC' ? undefined : pod.path,
      env: { VLAN_BRIDGE_STATE_DIR: stateDir },
    });
  const call = (command: string, c: object = conf) => callInProcess(node.path, env(command), c);
  const ok = async (command: string, c: object = conf) => {
    const r = await call(command, c);
    expect(r.code, `${command}: ${r.stdout}`).toBe(0);
    return r.stdout;
  };
  const leftovers = () => ({ node: linkNames(node), pod: linkNames(pod), uplink: vlansOf('mgmt-bo') });
  const clean = { node: ['lo', 'mgmt-bo', 'mgmt-br', 'mgmt-nic0'], pod: ['lo'], uplink: UPLINK_VLANS };
  beforeEach(() => {
    stateDir = node.exec('mktemp', '-d').trim();
  });

  it.each(['refused', 'timeout'] as const)(
    'ADD (%s)',
    async (failure) => {
      const r = await failEachStep({
        run: () => call('ADD'),
        undo: () => ok('DEL').then(() => {}),
        leftovers,
        clean,
        failure,
      });
      expect(r.steps).toBeGreaterThan(10);
      expect(r.failed).toBe(r.steps);
    },
    240_000,
  );

  it.each(['refused', 'timeout'] as const)(
    'CHECK (%s)',
    async (failure) => {
      const check = { ...conf, prevResult: JSON.parse(await ok('ADD')) };
      const before = leftovers();
      const r = await failEachStep({
        run: () => call('CHECK', check),
        undo: async () => {},
        leftovers,
        clean: before,
        failure,
      });
      expect(r.steps).toBeGreaterThan(4);
      expect(r.failed).toBe(r.steps);
      // CHECK reads the host veth's VLANs by RTM_GETVLAN for that port alone (src/kernel/bridge-vlan.ts portVlans).
      expect(r.outcomes.map((o) => o.op)).toEqual(
        expect.arrayContaining([expect.stringMatching(/^dump VLANs of link /)]),
      );
      await ok('CHECK', check);
    },
    240_000,
  );

  it.each(['DEL', 'GC'] as const)(
    '%s (refused, then timeout)',
    async (command) => {
      const c = command === 'GC' ? { ...conf, 'cni.dev/valid-attachments': [] } : conf;
      for (const failure of ['refused', 'timeout'] as const) {
        const r = await failEachStep({
          prepare: () => ok('ADD').then(() => {}),
          run: () => call(command, c),
          undo: () => ok('DEL').then(() => {}),
          afterFailure: () => ok('DEL').then(() => {}),
          leftovers,
          clean,
          failure,
        });
        expect(r.steps).toBeGreaterThan(2);
        expect(r.failed).toBe(r.steps);
      }
    },
    240_000,
  );
});
