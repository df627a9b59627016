// Test namespaces on this machine's kernel. Tests never touch the host's own interfaces: every link they make
// lives in a namespace made here, and every namespace is deleted afterwards.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach } from 'vitest';

export interface TestNs {
  name: string;
  path: string;
  /** Runs a command inside the namespace (ip netns exec), returns stdout. */
  exec(cmd: string, ...args: string[]): string;
  /** `ip -j -d <args>` inside the namespace, parsed. */
  ipj<T = any>(...args: string[]): T;
  /** `bridge -j <args>` inside the namespace, parsed. */
  bridgej<T = any>(...args: string[]): T;
}

const made = new Set<string>();

export function sh(cmd: string, ...args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export function makeNetns(prefix = 'vbt'): TestNs {
  const name = `${prefix}-${randomBytes(4).toString('hex')}`;
  sh('ip', 'netns', 'add', name);
  made.add(name);
  sh('ip', '-n', name, 'link', 'set', 'lo', 'up');
  const exec = (cmd: string, ...args: string[]) => sh('ip', 'netns', 'exec', name, cmd, ...args);
  return {
    name,
    path: `/run/netns/${name}`,
    exec,
    ipj: (...args) => JSON.parse(sh('ip', '-n', name, '-j', '-d', ...args) || 'null'),
    bridgej: (...args) => JSON.parse(exec('bridge', '-j', ...args) || 'null'),
  };
}

export function deleteNetns(ns: TestNs | string): void {
  const name = typeof ns === 'string' ? ns : ns.name;
  try {
    sh('ip', 'netns', 'del', name);
  } catch {
    // already gone
  }
  made.delete(name);
}

export function deleteAllNetns(): void {
  for (const n of [...made]) deleteNetns(n);
}

/**
 * For every test of the calling file: before it, a fresh "node" namespace, a "pod" namespace and a temporary
 * directory (named `<tmpPrefix>XXXXXX`), handed to `set`; after it, every namespace made is deleted.
 */
export function freshNodeAndPod(tmpPrefix: string, set: (node: TestNs, pod: TestNs, tmp: string) => void): void {
  beforeEach(() => set(makeNetns('vbn'), makeNetns('vbp'), mkdtempSync(path.join(tmpdir(), tmpPrefix))));
  afterEach(deleteAllNetns);
}

/** A VLAN on a bridge port: [vid, flags as `bridge vlan` prints them, sorted]. */
export type BridgeVlan = [number, string[]];

/** `bridge -j vlan show dev <dev>` in namespace `ns`, ranges expanded to one entry per VID. */
export function bridgeVlans(ns: TestNs, dev: string): BridgeVlan[] {
  type Entry = { ifname: string; vlans?: Array<{ vlan: number; vlanEnd?: number; flags?: string[] }> };
  const all = ns.bridgej<Entry[]>('vlan', 'show', 'dev', dev) ?? [];
  const out: BridgeVlan[] = [];
  for (const v of all.find((e) => e.ifname === dev)?.vlans ?? []) {
    for (let vid = v.vlan; vid <= (v.vlanEnd ?? v.vlan); vid++) out.push([vid, [...(v.flags ?? [])].sort()]);
  }
  return out;
}

/**
 * What an attachment of a network leaves on the node and in the pod: veths on the node, links in the pod, the IPAM
 * reservations of host-local in `ipamDir`, global addresses on `bridge`, and the iptables/nft lines that match
 * `marker` (the network's name in the rules' comments).
 */
export function attachmentState(node: TestNs, pod: TestNs, o: { ipamDir: string; bridge: string; marker: RegExp }) {
  const br = node
    .ipj<Array<{ ifname: string; addr_info: Array<{ local: string; scope: string }> }>>('addr', 'show')
    .find((l) => l.ifname === o.bridge);
  return {
    veths: node.ipj<Array<{ ifname: string }>>('link', 'show', 'type', 'veth').map((l) => l.ifname),
    pod: pod.ipj<Array<{ ifname: string }>>('link', 'show').map((l) => l.ifname),
    reservations: existsSync(o.ipamDir) ? readdirSync(o.ipamDir).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f)) : [],
    bridgeAddresses: (br?.addr_info ?? []).filter((a) => a.scope === 'global').map((a) => a.local),
    rules: [
      ...node.exec('iptables', '-w', '-t', 'nat', '-S').split('\n'),
      ...node.exec('nft', 'list', 'ruleset').split('\n'),
    ].filter((l) => o.marker.test(l)),
  };
}
