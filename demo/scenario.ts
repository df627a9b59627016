// The demo's scenario, run where the kernel has bridge VLAN filtering (the UML kernel on these machines): a
// Harvester-like node, pods attached through the real executable with the configs in conf-examples/, DHCP from
// each VLAN's server, the `bridge vlan` table, a ping matrix checked against the VLAN design, CHECK, DEL.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildHarvesterNode, udhcpc, type HarvesterNode } from '../test/lab/harvester-node.js';
import { deleteAllNetns, makeNetns, type TestNs } from '../test/host/netns-fixture.js';
import { BIN, ROOT } from '../test/lab/binary.js';

const PLUGIN = process.env.VB_PLUGIN_BIN || BIN;
type Net = 'vlan100' | 'vlan200' | 'untagged';
interface Pod {
  name: string;
  net: Net;
  ns: TestNs;
  result?: any;
  ip?: string;
}

const say = (s = '') => process.stdout.write(`${s}\n`);
// The configs as Harvester writes them, but at cniVersion 1.0.0 so that CHECK (0.4.0 or later) can run too: the
// demo says so when it changes one.
const DEMO_VERSION = '1.0.0';
const example = (net: Net) => JSON.parse(readFileSync(path.join(ROOT, 'conf-examples', `${net}.json`), 'utf8'));
const config = (net: Net) => ({ ...example(net), cniVersion: DEMO_VERSION });
/** What the demo changed in conf-examples/<net>.json, for the ADD line ('' when nothing). */
const changed = (net: Net): string => {
  const from = example(net).cniVersion;
  return from === DEMO_VERSION ? '' : `, cniVersion ${from ?? '(none)'} changed to ${DEMO_VERSION} for CHECK`;
};

function plugin(node: TestNs, command: string, pod: Pod, extra: object = {}, conf = config(pod.net)): any {
  const r = spawnSync('ip', ['netns', 'exec', node.name, PLUGIN], {
    input: JSON.stringify({ ...conf, ...extra }),
    encoding: 'utf8',
    env: {
      CNI_COMMAND: command,
      CNI_CONTAINERID: pod.name,
      CNI_NETNS: pod.ns.path,
      CNI_IFNAME: 'net1',
      CNI_PATH: '/usr/lib/cni',
      PATH: process.env.PATH ?? '',
      VLAN_BRIDGE_STATE_DIR: path.join(stateDir, 'state'),
    },
  });
  if (r.status !== 0) throw new Error(`${command} ${pod.name} failed: ${r.stdout}${r.stderr}`);
  return r.stdout.trim() ? JSON.parse(r.stdout) : undefined;
}

let stateDir = '/tmp';

const pings = (ns: TestNs, ip: string) =>
  spawnSync('ip', ['netns', 'exec', ns.name, 'ping', '-c', '1', '-W', '1', ip]).status === 0;

/** The bond's VLANs as `bridge vlan show dev mgmt-bo` prints them, on one line. */
const bondVlans = (node: TestNs) =>
  node
    .exec('bridge', 'vlan', 'show', 'dev', 'mgmt-bo')
    .split('\n')
    .slice(1)
    .map((l) => l.replace(/^mgmt-bo/, '').trim())
    .filter(Boolean)
    .join(', ');

/**
 * `uplinkVlans`: a VLAN 300 pod on a bond that lacks 300. The plugin adds 300 to the bond for it and takes it away
 * with the last pod. Returns whether all of that happened.
 */
function uplinkScenario(node: TestNs): boolean {
  const conf = { ...config('vlan100'), name: 'vlan300', vlan: 300, uplinkVlans: true };
  say('\nuplinkVlans: a pod on VLAN 300, which the bond does not carry; its config adds "uplinkVlans": true');
  const before = bondVlans(node);
  say(`  bond mgmt-bo before: ${before}`);
  const pod: Pod = { name: 'vm-e', net: 'vlan100', ns: makeNetns('demo-vm-e') };
  plugin(node, 'ADD', pod, {}, conf);
  const during = bondVlans(node);
  say(`  after ADD vm-e:      ${during}`);
  pod.ns.exec('ip', 'addr', 'add', '10.30.0.10/24', 'dev', 'net1');
  const reached = pings(pod.ns, '10.30.0.1');
  say(`  vm-e (10.30.0.10) reaches the switch's VLAN 300 host 10.30.0.1: ${reached ? 'yes' : 'NO'}`);
  plugin(node, 'DEL', pod, {}, conf);
  const after = bondVlans(node);
  say(`  after DEL vm-e:      ${after} (300 gone with its last pod)`);
  return !/\b300\b/.test(before) && /\b300\b/.test(during) && reached && after === before;
}

export function run(workDir: string): boolean {
  stateDir = workDir;
  const node = makeNetns('demo-node');
  const sw = makeNetns('demo-sw');
  let hn: HarvesterNode | undefined;
  const pods: Pod[] = [];
  try {
    hn = buildHarvesterNode(node, sw, { workDir, extraSwitchVids: [300] });
    say(
      'node: bridge mgmt-br (VLAN filtering) with bond mgmt-bo (active-backup over 2 NICs) to a switch carrying VLANs 100 and 200 tagged and an untagged network, a DHCP server on each',
    );
    for (const [name, net] of [
      ['vm-a', 'vlan100'],
      ['vm-b', 'vlan100'],
      ['vm-c', 'vlan200'],
      ['vm-d', 'untagged'],
    ] as const) {
      const pod: Pod = { name, net, ns: makeNetns(`demo-${name}`) };
      pod.result = plugin(node, 'ADD', pod);
      pods.push(pod);
      const [, host, cont] = pod.result.interfaces;
      say(
        `ADD ${name} on ${net} (conf-examples/${net}.json${changed(net)}): net1 ${cont.mac} mtu ${cont.mtu}, host port ${host.name}`,
      );
    }
    const dhcp = path.join(workDir, 'udhcpc.sh');
    writeFileSync(
      dhcp,
      '#!/bin/sh\n[ "$1" = bound ] && ip addr add "$ip/$mask" dev "$interface" && echo "$ip $serverid"\nexit 0\n',
      { mode: 0o755 },
    );
    for (const p of pods) {
      const r = spawnSync('ip', ['netns', 'exec', p.ns.name, ...udhcpc('net1', dhcp)], { encoding: 'utf8' });
      const line = r.stdout
        .trim()
        .split('\n')
        .find((l) => /^\d+\.\d+\.\d+\.\d+ /.test(l));
      if (!line) throw new Error(`${p.name}: no DHCP lease\n${r.stdout}${r.stderr}`);
      const [ip, server] = line.split(' ');
      p.ip = ip;
      say(`DHCP ${p.name}: ${ip} from ${server} (${hn.nets[p.net].name} server)`);
    }

    say('\nbridge vlan show (node):');
    say(node.exec('bridge', 'vlan', 'show').trimEnd());

    const targets = [
      ...pods.map((p) => ({ label: p.name, ip: p.ip!, net: p.net })),
      ...(['vlan100', 'vlan200', 'untagged'] as const).map((n) => ({
        label: `gw-${n}`,
        ip: hn!.nets[n].gateway,
        net: n,
      })),
    ];
    say('\nping matrix (does the row reach the column?):');
    say(`${''.padEnd(6)}${targets.map((t) => t.label.padStart(13)).join('')}`);
    let matches = true;
    for (const p of pods) {
      const cells = targets.map((t) => {
        if (t.label === p.name) return '-';
        const got = pings(p.ns, t.ip);
        const want = t.net === p.net;
        if (got !== want) matches = false;
        return `${got ? 'yes' : 'no'}${got === want ? '' : '!'}`;
      });
      say(`${p.name.padEnd(6)}${cells.map((c) => c.padStart(13)).join('')}`);
    }
    say(
      matches
        ? 'matrix: every pod reaches its own network and nothing else'
        : 'matrix: UNEXPECTED cells are marked with !',
    );

    for (const p of pods) plugin(node, 'CHECK', p, { prevResult: p.result });
    say(`\nCHECK: all ${pods.length} attachments match their configs (bridge, veth pair, VLANs, MTU, MAC)`);
    for (const p of pods) plugin(node, 'DEL', p);
    const left = node
      .ipj<Array<{ ifname: string; ifalias?: string }>>('link', 'show')
      .filter((l) => l.ifalias?.startsWith('vlan-bridge:'));
    say(
      `DEL: ${left.length === 0 ? 'every pod port removed' : `LEFT BEHIND: ${left.map((l) => l.ifname).join(', ')}`}`,
    );
    const uplinkOk = uplinkScenario(node);
    const ok = matches && left.length === 0 && uplinkOk;
    say(
      ok
        ? "\nproved: VLAN 100 pods share a segment with their gateway, VLAN 200 and the untagged network are apart, leases come from each network's own server, CHECK and DEL work, and uplinkVlans adds a VID to the bond for its pods and removes it after them"
        : '\ndemo FAILED',
    );
    return ok;
  } finally {
    hn?.cleanup();
    deleteAllNetns();
  }
}

if (process.argv[1]?.endsWith('scenario.ts')) {
  process.exitCode = run(process.env.UML_WORK_DIR ?? '/tmp') ? 0 : 1;
}
