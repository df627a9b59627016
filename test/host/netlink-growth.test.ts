// A command's netlink traffic does not grow with the node (issue 24). The executable counts what it receives in the
// socket layer (src/kernel/netlink/counters.ts) and, with VLAN_BRIDGE_NETLINK_COUNTS=1, prints the totals to stderr
// as it exits; bytes are counted, not time, so a loaded machine cannot make this test flaky. One pod's ADD, CHECK
// and DEL on an empty bridge, then again with 500 unrelated links elsewhere on the node and with 500 unrelated ports
// on the bridge itself (veth pairs with their peers in the node namespace, as the bench builds them).
//
// The one read that grows with the bridge's own ports, and only with those: ADD, and CHECK of an attachment whose
// MTU is inherited, list the bridge's ports once (kernel-filtered by master, src/kernel/link.ts `listPorts`) to find
// its uplinks, since no kernel filter selects "not a veth, not a tun" (an uplink may be a NIC, which has no kind).
// That dump is asserted to be the whole difference: same requests, and no more bytes than the ports' messages.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cni, ok, type CniCall } from '../lab/cni.js';
import { freshNodeAndPod, sh, type TestNs } from './netns-fixture.js';

let node: TestNs;
let pod: TestNs;
let tmp: string;
freshNodeAndPod('vb-growth-', (n, p, t) => {
  node = n;
  pod = p;
  tmp = t;
});

interface Counts {
  requests: number;
  dumps: number;
  rxBytes: number;
  rxMessages: number;
}

/** Runs one command with the counters on; returns its parsed reply and counts. */
function counted(c: CniCall): { json: unknown; netlink: Counts } {
  const r = cni(node.name, { ...c, env: { ...c.env, VLAN_BRIDGE_NETLINK_COUNTS: '1' } });
  const result = ok(r) as unknown;
  const line = r.stderr.split('\n').find((l) => l.startsWith('{"netlink":'));
  expect(line, `no counts on stderr: ${r.stderr}`).toBeDefined();
  expect(r.stdout).not.toContain('"netlink"'); // stdout is the CNI result alone
  return { json: result, netlink: (JSON.parse(line!) as { netlink: Counts }).netlink };
}

/** ADD, CHECK and DEL of one pod; the counts of each. */
function podCycle(conf: object, env: Record<string, string> = {}): Record<'ADD' | 'CHECK' | 'DEL', Counts> {
  const base = { netns: pod.path, containerId: 'growth', ifname: 'net1', env };
  const add = counted({ ...base, command: 'ADD', conf });
  const check = counted({ ...base, command: 'CHECK', conf: { ...conf, prevResult: add.json } });
  const del = counted({ ...base, command: 'DEL', conf });
  return { ADD: add.netlink, CHECK: check.netlink, DEL: del.netlink };
}

/** `n` veth pairs in the node namespace, their `a` ends on `master` when one is named. */
function addLinks(prefix: string, n: number, master?: string): void {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    lines.push(`link add ${prefix}a${i} type veth peer name ${prefix}b${i}`);
    if (master) lines.push(`link set ${prefix}a${i} master ${master}`);
  }
  const file = path.join(tmp, `${prefix}.batch`);
  writeFileSync(file, `${lines.join('\n')}\n`);
  sh('ip', '-n', node.name, '-batch', file);
}

/**
 * An upper bound of one port's message in a link dump without statistics (ifinfomsg, names, IFLA_LINKINFO with the
 * bridge port's attributes, the inet and inet6 configuration): about 1.4 KiB on Linux 6.18.
 */
const PORT_MESSAGE_BYTES = 2048;
const ABOUT = (bytes: number) => bytes * 1.05 + 256;

/** The bridge, up, and one cycle before anything is measured: the first ADD turns the bridge up itself. */
function bridgeWithOneCycle(): void {
  sh('ip', '-n', node.name, 'link', 'add', 'br-growth', 'type', 'bridge');
  sh('ip', '-n', node.name, 'link', 'set', 'br-growth', 'up');
  podCycle(conf());
}

const conf = (extra: object = {}) => ({
  cniVersion: '1.1.0',
  name: 'growth',
  type: 'vlan-bridge',
  bridge: 'br-growth',
  ipam: {},
  ...extra,
});

describe("a command's netlink traffic and the node's size", () => {
  it('ADD, CHECK and DEL receive as much with 500 links elsewhere on the node as with none, uplinkVlans too', () => {
    bridgeWithOneCycle();
    // uplinkVlans reads the VLANs of the bridge's own ports (here, on a kernel without bridge VLAN filtering, none):
    // never the AF_BRIDGE dump of every port of every bridge.
    const withUplinkVlans = conf({ uplinkVlans: true });
    const env = { VLAN_BRIDGE_STATE_DIR: path.join(tmp, 'state') };
    const empty = podCycle(conf());
    const emptyUv = podCycle(withUplinkVlans, env);
    addLinks('o', 250); // links on no bridge
    sh('ip', '-n', node.name, 'link', 'add', 'br-other', 'type', 'bridge');
    addLinks('p', 250, 'br-other'); // ports of another bridge
    const busy = podCycle(conf());
    const busyUv = podCycle(withUplinkVlans, env);
    for (const [what, e, b] of [
      ['', empty, busy],
      [' (uplinkVlans)', emptyUv, busyUv],
    ] as const) {
      for (const cmd of ['ADD', 'CHECK', 'DEL'] as const) {
        expect(b[cmd].requests, cmd + what).toBe(e[cmd].requests);
        expect(b[cmd].rxBytes, `${cmd}${what}: ${b[cmd].rxBytes} bytes against ${e[cmd].rxBytes}`).toBeLessThanOrEqual(
          ABOUT(e[cmd].rxBytes),
        );
      }
    }
  });

  it('with 500 ports on the bridge: DEL receives as much as on an empty bridge; ADD and CHECK only the port list', () => {
    bridgeWithOneCycle();
    const empty = podCycle(conf());
    const emptyFixedMtu = podCycle(conf({ mtu: 1400 }));
    addLinks('q', 500, 'br-growth');
    const busy = podCycle(conf());
    const busyFixedMtu = podCycle(conf({ mtu: 1400 }));

    // DEL finds the host veth by name and the pod's end by its netns: nothing of the bridge's other ports.
    expect(busy.DEL.requests).toBe(empty.DEL.requests);
    expect(busy.DEL.rxBytes).toBeLessThanOrEqual(ABOUT(empty.DEL.rxBytes));
    // CHECK of a config that names its MTU needs no uplink: flat too.
    expect(busyFixedMtu.CHECK.requests).toBe(emptyFixedMtu.CHECK.requests);
    expect(busyFixedMtu.CHECK.rxBytes).toBeLessThanOrEqual(ABOUT(emptyFixedMtu.CHECK.rxBytes));
    // ADD (both configs) and CHECK of an inherited MTU: the same requests, and more bytes only by the one dump of
    // the bridge's ports (500 messages at most PORT_MESSAGE_BYTES each), read to find the uplinks.
    for (const [what, e, b] of [
      ['ADD', empty.ADD, busy.ADD],
      ['ADD with mtu', emptyFixedMtu.ADD, busyFixedMtu.ADD],
      ['CHECK', empty.CHECK, busy.CHECK],
    ] as const) {
      expect(b.requests, what).toBe(e.requests);
      expect(b.rxMessages - e.rxMessages, what).toBeLessThanOrEqual(500 + 2);
      expect(b.rxBytes - e.rxBytes, what).toBeLessThanOrEqual(500 * PORT_MESSAGE_BYTES);
    }
  });
});
