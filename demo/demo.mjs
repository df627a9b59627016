#!/usr/bin/env node
// `make demo`: the plugin doing its job through the real executable, in namespaces it makes and removes.
// A "node" namespace holds the bridge; two "pods" get an untagged L2 attachment and an L3 one (host-local),
// then CHECK, a ping between them, and DEL. Nothing on this machine's own interfaces is touched.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const bin = path.resolve('bin/vlan-bridge');
const id = process.pid.toString(16);
const node = `demo-node-${id}`;
const pods = [`demo-pod1-${id}`, `demo-pod2-${id}`];
const dataDir = mkdtempSync(path.join(tmpdir(), 'vb-demo-'));
const sh = (...a) => execFileSync(a[0], a.slice(1), { encoding: 'utf8' });
const conf = {
  cniVersion: '1.0.0', name: 'demo', type: 'vlan-bridge', bridge: 'demo-br', mtu: 1400, isDefaultGateway: true,
  ipam: { type: 'host-local', subnet: '10.123.0.0/24', dataDir },
};

function cni(command, pod, extra = {}) {
  const env = { CNI_COMMAND: command, CNI_CONTAINERID: pod, CNI_NETNS: `/run/netns/${pod}`, CNI_IFNAME: 'eth1', CNI_PATH: '/usr/lib/cni', PATH: process.env.PATH };
  const r = spawnSync('ip', ['netns', 'exec', node, bin], { input: JSON.stringify({ ...conf, ...extra }), env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${command} ${pod} failed: ${r.stdout}${r.stderr}`);
  return r.stdout ? JSON.parse(r.stdout) : undefined;
}

let ok = false;
try {
  for (const ns of [node, ...pods]) sh('ip', 'netns', 'add', ns);
  const results = pods.map((p) => cni('ADD', p));
  for (const [i, r] of results.entries()) console.log(`ADD ${pods[i]}: ${r.interfaces[2].name} ${r.ips[0].address} mtu ${r.interfaces[2].mtu} via ${r.interfaces[1].name} on ${r.interfaces[0].name}`);
  pods.forEach((p, i) => cni('CHECK', p, { prevResult: results[i] }));
  console.log('CHECK: both attachments match their config');
  const target = results[1].ips[0].address.split('/')[0];
  sh('ip', 'netns', 'exec', pods[0], 'ping', '-c', '2', '-W', '2', target);
  console.log(`ping ${pods[0]} -> ${target}: ok`);
  pods.forEach((p) => cni('DEL', p));
  const left = sh('ip', '-n', node, '-o', 'link', 'show', 'type', 'veth');
  if (left.trim()) throw new Error(`veths left after DEL:\n${left}`);
  console.log('DEL: veths gone, addresses released');
  ok = true;
} finally {
  for (const ns of [node, ...pods]) spawnSync('ip', ['netns', 'del', ns]);
  rmSync(dataDir, { recursive: true, force: true });
}
console.log(ok ? 'demo: ADD, CHECK, traffic and DEL proven on this kernel; nothing left behind' : 'demo failed');
process.exit(ok ? 0 : 1);
