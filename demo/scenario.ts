// The demo's scenario, run where the kernel has bridge VLAN filtering (the UML kernel on these machines): a
// Harvester-like node, pods attached through the real executable with the configs in conf-examples/, DHCP from
// each VLAN's server, the `bridge vlan` table, a ping matrix checked against the VLAN design, CHECK, DEL.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildHarvesterNode, type HarvesterNode } from '../test/lab/harvester-node.js';
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

function plugin(node: TestNs, command: string, pod: Pod, extra: object = {}): any {
  const r = spawnSync('ip', ['netns', 'exec', node.name, PLUGIN], {
    input: JSON.stringify({ ...config(pod.net), ...extra }),
    encoding: 'utf8',
    env: {
      CNI_COMMAND: command,
      CNI_CONTAINERID: pod.name,
      CNI_NETNS: pod.ns.path,
      CNI_IFNAME: 'net1',
      CNI_PATH: '/usr/lib/cni',
      PATH: process.env.PATH ?? '',
    },
  });
  if (r.status !== 0) throw new Error(`${command} ${pod.name} failed: ${r.stdout}${r.stderr}`);
  return r.stdout.trim() ? JSON.parse(r.stdout) : undefined;
}

const pings = (ns: TestNs, ip: string) =>
  spawnSync('ip', ['netns', 'exec', ns.name, 'ping', '-c', '1', '-W', '1', ip]).status === 0;

export function run(workDir: string): boolean {
  const node = makeNetns('demo-node');
  const sw = makeNetns('demo-sw');
  let hn: HarvesterNode | undefined;
  const pods: Pod[] = [];
  try {
    hn = buildHarvesterNode(node, sw, { workDir });
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
      const r = spawnSync(
        'ip',
        [
          'netns',
          'exec',
          p.ns.name,
          'busybox',
          'udhcpc',
          '-i',
          'net1',
          '-f',
          '-q',
          '-n',
          '-t',
          '4',
          '-T',
          '1',
          '-s',
          dhcp,
        ],
        { encoding: 'utf8' },
      );
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
    const ok = matches && left.length === 0;
    say(
      ok
        ? "\nproved: VLAN 100 pods share a segment with their gateway, VLAN 200 and the untagged network are apart, leases come from each network's own server, and CHECK and DEL work"
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
