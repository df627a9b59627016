// Runs one plugin (ours or a reference) on one parity case (test/parity/cases.ts) in fresh namespaces and
// records what it did as flat `field -> value` strings, so two observations compare field by field:
// ADD outcome, the result's shape, MTUs, MACs, port flags, VLANs, L3 state, firewall objects, STATUS, CHECK, GC,
// DEL and what is left behind.
// Random names are masked (veth<8 hex> -> veth*, namespace and data-dir paths) so values are deterministic.
// Plain functions, no vitest: the host test and the UML guest test both use it; it never builds the binary.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { deleteNetns, makeNetns, type TestNs } from '../host/netns-fixture.js';
import { BOOKWORM_REFERENCE, REFERENCE, type Reference } from '../lab/peer.js';
import type { Kernel, ParityCase } from './cases.js';
import { added, firewallState, type FirewallState } from './firewall.js';

/** 'reference' is the current reference (1.9.1), 'bookworm' Debian bookworm's 1.1.1 (only for some cases). */
export type PluginId = 'ours' | 'reference' | 'bookworm';

export interface PluginUnderTest {
  id: PluginId;
  bin: string;
  /** CNI_PATH: where the IPAM plugin (host-local) is taken from. */
  cniPath: string;
}

/** Which release each reference id runs. */
export const REFERENCES: Record<Exclude<PluginId, 'ours'>, Reference> = {
  reference: REFERENCE,
  bookworm: BOOKWORM_REFERENCE,
};

/**
 * The plugins a case runs through: ours and the current reference with the current reference's IPAM plugins (so
 * IPAM is the same on both sides), and bookworm's 1.1.1 with its own when the case asks for it (`bookworm`).
 */
export function pluginsFor(c: ParityCase, oursBin: string): PluginUnderTest[] {
  const plugins: PluginUnderTest[] = [
    { id: 'ours', bin: oursBin, cniPath: REFERENCE.dir },
    { id: 'reference', bin: REFERENCE.bridge, cniPath: REFERENCE.dir },
  ];
  if (c.bookworm) plugins.push({ id: 'bookworm', bin: BOOKWORM_REFERENCE.bridge, cniPath: BOOKWORM_REFERENCE.dir });
  return plugins;
}

/** Every field an observation may hold, in table order. '-' means "does not apply" (e.g. no ADD result). */
export const FIELDS = [
  'add',
  'result.keys',
  'result.interfaces',
  'result.ips',
  'result.routes',
  'result.dns',
  'result.bridge-mac',
  'mtu.container',
  'mtu.host',
  'mtu.bridge',
  'port.master',
  'container.mac',
  'container.state',
  'port.hairpin',
  'port.isolated',
  'bridge.promisc',
  'bridge.mac',
  'bridge.vlan_filtering',
  'port.vlans',
  'l3.bridge',
  'l3.pod',
  'l3.pod-default',
  'l3.gateway-on',
  'l3.ping-gateway',
  'fw.iptables',
  'fw.nft',
  'status',
  'check',
  'gc',
  'gc.leftover',
  'del',
  'del.leftover',
  'del.fw-leftover',
  'failed-add.leftover',
  'failed-add.del',
  'failed-add.del-leftover',
] as const;
export type Field = (typeof FIELDS)[number];

export interface Observation {
  case: string;
  plugin: PluginId;
  kernel: Kernel;
  fields: Record<Field, string>;
  /** Error messages of failed commands (masked), by field: context for the table, never compared. */
  notes: Partial<Record<Field, string>>;
  durationMs: number;
}

interface Reply {
  exit: number | null;
  stdout: string;
  stderr: string;
  json: any;
}

interface LinkJ {
  ifname: string;
  ifindex: number;
  mtu: number;
  address?: string;
  master?: string;
  link_index?: number;
  flags: string[];
  linkinfo?: { info_kind?: string; info_data?: any; info_slave_kind?: string; info_slave_data?: any };
}

const mask = (name: string) => name.replace(/\bveth[0-9a-f]{8}(?:[0-9a-f]{3})?\b/g, 'veth*');
const onOff = (v: unknown) => (v === true || v === 1 ? 'on' : 'off');

function status(r: Reply): string {
  if (r.exit === 0) return 'ok';
  if (r.json && typeof r.json.code === 'number') return `error ${r.json.code}`;
  return `exit ${r.exit} (no CNI error on stdout)`;
}

function message(r: Reply): string | undefined {
  if (r.exit === 0) return undefined;
  if (r.json && typeof r.json.msg === 'string') return [r.json.msg, r.json.details].filter(Boolean).join(': ');
  return (r.stdout + r.stderr).trim().slice(0, 300);
}

function links(ns: TestNs): LinkJ[] {
  return ns.ipj<LinkJ[]>('link', 'show') ?? [];
}

/** `bridge -j vlan show dev X` as "1 PVID untagged, 100-200, 300" (ranges merged, flags lower case). */
function portVlans(ns: TestNs, dev: string): string {
  const all =
    ns.bridgej<Array<{ ifname: string; vlans?: Array<{ vlan: number; vlanEnd?: number; flags?: string[] }> }>>(
      'vlan',
      'show',
      'dev',
      dev,
    ) ?? [];
  const vids: Array<[number, string]> = [];
  for (const v of all.find((e) => e.ifname === dev)?.vlans ?? []) {
    const f = (v.flags ?? [])
      .map((x) => (x === 'Egress Untagged' ? 'untagged' : x))
      .sort()
      .join(' ');
    for (let vid = v.vlan; vid <= (v.vlanEnd ?? v.vlan); vid++) vids.push([vid, f]);
  }
  vids.sort((a, b) => a[0] - b[0]);
  const out: string[] = [];
  for (let i = 0; i < vids.length;) {
    let j = i;
    while (j + 1 < vids.length && vids[j + 1]![0] === vids[j]![0] + 1 && vids[j + 1]![1] === vids[i]![1]) j++;
    const range = j > i ? `${vids[i]![0]}-${vids[j]![0]}` : `${vids[i]![0]}`;
    out.push(vids[i]![1] ? `${range} ${vids[i]![1]}` : range);
    i = j + 1;
  }
  return out.length ? out.join(', ') : 'none';
}

function ipv4Addrs(ns: TestNs, dev: string): string {
  const [l] =
    ns.ipj<Array<{ addr_info?: Array<{ family: string; local: string; prefixlen: number; scope: string }> }>>(
      'addr',
      'show',
      'dev',
      dev,
    ) ?? [];
  const a = (l?.addr_info ?? [])
    .filter((x) => x.family === 'inet' && x.scope === 'global')
    .map((x) => `${x.local}/${x.prefixlen}`);
  return a.length ? a.sort().join(', ') : 'none';
}

/**
 * New links (vs `before`) in node and pod, new IPAM allocations, links gone: "node: veth* (veth); pod: net1 (veth)" or
 * "none".
 */
function leftovers(node: TestNs, pod: TestNs, before: Snapshot, dataDir: string, ignore: string[] = []): string {
  const now = snapshot(node, pod, dataDir);
  const parts: string[] = [];
  const fresh = (a: string[], b: string[]) => a.filter((x) => !b.includes(x) && !ignore.includes(x.split(' ')[0]!));
  const n = fresh(now.node, before.node);
  const p = fresh(now.pod, before.pod);
  const i = now.ipam.filter((x) => !before.ipam.includes(x));
  if (n.length) parts.push(`node: ${n.join(', ')}`);
  if (p.length) parts.push(`pod: ${p.join(', ')}`);
  if (i.length) parts.push(`IPAM allocation: ${i.join(', ')}`);
  // Links that were there before ADD and are gone (e.g. a pod interface that was not ours).
  const gone = [
    ...before.node.filter((x) => !now.node.includes(x)).map((x) => `node ${x}`),
    ...before.pod.filter((x) => !now.pod.includes(x)).map((x) => `pod ${x}`),
  ];
  if (gone.length) parts.push(`removed: ${gone.join(', ')}`);
  return parts.length ? parts.join('; ') : 'none';
}

interface Snapshot {
  node: string[];
  pod: string[];
  ipam: string[];
}

function snapshot(node: TestNs, pod: TestNs, dataDir: string): Snapshot {
  const names = (ns: TestNs) =>
    links(ns)
      .map((l) => `${mask(l.ifname)} (${l.linkinfo?.info_kind ?? 'device'})`)
      .sort();
  const ipam: string[] = [];
  const walk = (d: string) => {
    let entries: string[];
    try {
      entries = readdirSync(d);
    } catch {
      return;
    }
    for (const e of entries) {
      if (/^\d+\.\d+\.\d+\.\d+$/.test(e)) ipam.push(e);
      else walk(path.join(d, e));
    }
  };
  walk(dataDir);
  return { node: names(node), pod: names(pod), ipam: ipam.sort() };
}

/** Replaces "@DATADIR@" anywhere in the config. */
function substitute(v: unknown, dataDir: string): unknown {
  if (typeof v === 'string') return v.replaceAll('@DATADIR@', dataDir);
  if (Array.isArray(v)) return v.map((x) => substitute(x, dataDir));
  if (v && typeof v === 'object')
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, substitute(x, dataDir)]));
  return v;
}

const versionAtLeast = (v: string, min: string) => {
  const p = (s: string) => s.split('.').map(Number);
  const [a, b] = [p(v), p(min)];
  for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
  return true;
};

export interface ObserveOptions {
  /** Where the per-run host-local data directory is made (default os.tmpdir()). */
  tmpDir?: string;
}

export function observe(c: ParityCase, plugin: PluginUnderTest, opts: ObserveOptions = {}): Observation {
  const started = Date.now();
  const fields = Object.fromEntries(FIELDS.map((f) => [f, '-'])) as Record<Field, string>;
  const notes: Partial<Record<Field, string>> = {};
  const node = makeNetns('vpn');
  const pod = makeNetns('vpp');
  const tmpRoot = opts.tmpDir ?? os.tmpdir();
  mkdirSync(tmpRoot, { recursive: true });
  const dataDir = mkdtempSync(path.join(tmpRoot, 'vb-parity-'));
  const scrub = (s: string) =>
    mask(s)
      .replaceAll(dataDir, '<datadir>')
      .replaceAll(pod.path, '<pod netns>')
      .replaceAll(node.name, '<node>')
      .replaceAll(pod.name, '<pod>');
  try {
    for (const [rel, text] of Object.entries(c.ipamFiles ?? {})) {
      mkdirSync(path.dirname(path.join(dataDir, rel)), { recursive: true });
      writeFileSync(path.join(dataDir, rel), text);
    }
    const config = substitute(c.config, dataDir) as Record<string, unknown>;
    const version = String(config.cniVersion ?? '0.1.0');
    const bridge = String(config.bridge ?? 'cni0');
    if (c.nodePrep) node.exec('sh', '-ec', c.nodePrep);
    if (c.podPrep) pod.exec('sh', '-ec', c.podPrep);
    const before = snapshot(node, pod, dataDir);
    const firewall = Boolean(config.ipMasq || config.macspoofchk);
    const fwBefore: FirewallState | undefined = firewall ? firewallState(node) : undefined;
    const fwAdded = (): string => {
      const now = firewallState(node);
      return mask(added([...now.nat, ...now.nft], [...fwBefore!.nat, ...fwBefore!.nft]));
    };
    // The bridge's MAC is deterministic only while the pod's port is its only one (the kernel gives a bridge whose
    // MAC nobody set the smallest of its ports' MACs): recorded when the bridge had no port before ADD.
    const bridgeBefore = links(node).find((l) => l.ifname === bridge);
    const bridgeHadPorts = bridgeBefore !== undefined && links(node).some((l) => l.master === bridge);

    /** One command; `attach`: with the attachment's CNI_CONTAINERID, CNI_NETNS and CNI_IFNAME (not GC, STATUS). */
    const call = (command: string, conf: object, attach = true): Reply => {
      const env: Record<string, string> = {
        CNI_COMMAND: command,
        CNI_PATH: plugin.cniPath,
        PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
      };
      if (attach) Object.assign(env, { CNI_CONTAINERID: 'c1', CNI_NETNS: pod.path, CNI_IFNAME: 'net1' });
      if (c.args) env.CNI_ARGS = c.args;
      const r = spawnSync('ip', ['netns', 'exec', node.name, plugin.bin], {
        input: JSON.stringify(conf),
        env,
        encoding: 'utf8',
        timeout: 60_000,
      });
      let json: any;
      try {
        json = r.stdout.trim() ? JSON.parse(r.stdout) : undefined;
      } catch {
        json = undefined;
      }
      return { exit: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '', json };
    };
    const record = (field: Field, r: Reply) => {
      fields[field] = status(r);
      const m = message(r);
      if (m) notes[field] = scrub(m);
    };

    const add = call('ADD', config);
    record('add', add);
    if (add.exit === 0) {
      const res = add.json ?? {};
      fields['result.keys'] =
        Object.keys(res)
          .filter((k) => k !== 'cniVersion')
          .sort()
          .join(', ') || 'none';
      fields['result.interfaces'] =
        (res.interfaces ?? [])
          .map((i: Record<string, unknown>) => {
            const keys = Object.keys(i)
              .filter((k) => k !== 'name')
              .sort()
              .map((k) => (k === 'sandbox' && i.sandbox !== pod.path ? `sandbox=${String(i.sandbox)}` : k));
            return `${mask(String(i.name))}{${keys.join(',')}}`;
          })
          .join(' ') || 'none';
      const ips = (res.ips ?? []).map(
        (i: any) =>
          `${i.address}${i.gateway ? ` gw ${i.gateway}` : ''}${i.interface !== undefined ? ` if ${i.interface}` : ''}`,
      );
      fields['result.ips'] = ips.length ? ips.join(', ') : 'none';
      const routes = (res.routes ?? []).map((r: any) => `${r.dst}${r.gw ? ` via ${r.gw}` : ''}`);
      fields['result.routes'] = routes.length ? routes.join(', ') : 'none';
      // Only a dns with something in it: an empty one shows in result.keys.
      const dns = Object.entries(res.dns ?? {}).filter(([, v]) => (Array.isArray(v) ? v.length > 0 : Boolean(v)));
      if (dns.length) fields['result.dns'] = JSON.stringify(Object.fromEntries(dns.sort()));

      const nodeLinks = links(node);
      const br = nodeLinks.find((l) => l.ifname === bridge);
      const [cont] = pod.ipj<LinkJ[]>('link', 'show').filter((l) => l.ifname === 'net1');
      // The host end is net1's peer (its link_index in the node namespace), whatever the result says.
      const port = cont?.link_index !== undefined ? nodeLinks.find((l) => l.ifindex === cont.link_index) : undefined;
      fields['mtu.container'] = cont ? String(cont.mtu) : 'no net1';
      fields['mtu.host'] = port ? String(port.mtu) : 'no peer of net1';
      if (port) fields['port.master'] = port.master ?? 'none';
      fields['mtu.bridge'] = br ? String(br.mtu) : 'no bridge';
      const resultMac = (res.interfaces ?? []).find((i: any) => i.name === 'net1' && i.sandbox)?.mac;
      if (cont) {
        if (c.mac)
          fields['container.mac'] = cont.address === c.mac ? 'requested' : `not the requested one (${cont.address})`;
        else
          fields['container.mac'] =
            cont.address === resultMac ? 'as in result' : `not as in result (${cont.address} vs ${resultMac})`;
        fields['container.state'] = cont.flags.includes('UP') ? 'up' : 'down';
      }
      if (port) {
        fields['port.hairpin'] = onOff(port.linkinfo?.info_slave_data?.hairpin);
        fields['port.isolated'] = onOff(port.linkinfo?.info_slave_data?.isolated);
      }
      if (br) {
        fields['bridge.promisc'] = br.flags.includes('PROMISC') ? 'on' : 'off';
        const inResult = (res.interfaces ?? []).find((i: any) => i.name === bridge && !i.sandbox)?.mac;
        fields['result.bridge-mac'] = inResult === br.address ? 'as on the bridge' : `not as on the bridge`;
        if (!bridgeHadPorts && port) {
          const kept = bridgeBefore && br.address === bridgeBefore.address ? ', as before ADD' : '';
          fields['bridge.mac'] = br.address === port.address ? "the host veth's" : `not the host veth's${kept}`;
        }
      }
      if (c.kernel === 'uml') {
        // The host kernel has no bridge VLAN filtering: VLAN fields are only observed in the UML kernel.
        if (br) fields['bridge.vlan_filtering'] = onOff(br.linkinfo?.info_data?.vlan_filtering);
        if (port) fields['port.vlans'] = portVlans(node, port.ifname);
      }
      const l3 = typeof (config.ipam as { type?: unknown } | undefined)?.type === 'string';
      if (l3) {
        if (br) fields['l3.bridge'] = ipv4Addrs(node, bridge);
        if (cont) fields['l3.pod'] = ipv4Addrs(pod, 'net1');
        const routes =
          pod.ipj<Array<{ dst: string; gateway?: string; dev?: string }>>('-4', 'route', 'show', 'default') ?? [];
        fields['l3.pod-default'] =
          routes.map((r) => `via ${r.gateway ?? '-'}${r.dev && r.dev !== 'net1' ? ` dev ${r.dev}` : ''}`).join(', ') ||
          'none';
        const gw: string | undefined = (res.ips ?? []).find((i: any) => i.gateway)?.gateway;
        if (gw) {
          const all = node.ipj<Array<{ ifname: string; addr_info?: Array<{ local: string }> }>>('addr', 'show') ?? [];
          fields['l3.gateway-on'] =
            all
              .filter((l) => (l.addr_info ?? []).some((a) => a.local === gw))
              .map((l) => mask(l.ifname))
              .join(', ') || 'nowhere';
          const ping = spawnSync('ip', ['netns', 'exec', pod.name, 'ping', '-c', '3', '-i', '0.2', '-W', '2', gw], {
            encoding: 'utf8',
            timeout: 10_000,
          });
          fields['l3.ping-gateway'] = ping.status === 0 ? 'reaches it' : 'no answer';
        }
      }
      if (fwBefore) {
        const now = firewallState(node);
        fields['fw.iptables'] = mask(added(now.nat, fwBefore.nat));
        fields['fw.nft'] = mask(added(now.nft, fwBefore.nft));
      }

      if (versionAtLeast(version, '1.1.0')) record('status', call('STATUS', config, false));
      if (versionAtLeast(version, '0.4.0')) record('check', call('CHECK', { ...config, prevResult: res }));
      if (c.gc) {
        // GC with no valid attachment: this one is stale. What each plugin takes away shows in gc.leftover.
        record('gc', call('GC', { ...config, 'cni.dev/valid-attachments': [] }, false));
        const fw = fwBefore ? fwAdded() : 'none';
        const left = leftovers(node, pod, before, dataDir, [bridge]);
        fields['gc.leftover'] = fw === 'none' ? left : left === 'none' ? `firewall: ${fw}` : `${left}; firewall: ${fw}`;
      }
      // Runtimes hand DEL the cached result from 0.4.0 on.
      record('del', call('DEL', versionAtLeast(version, '0.4.0') ? { ...config, prevResult: res } : config));
      fields['del.leftover'] = leftovers(node, pod, before, dataDir, [bridge]);
      if (fwBefore) fields['del.fw-leftover'] = fwAdded();
    } else {
      fields['failed-add.leftover'] = leftovers(node, pod, before, dataDir);
      // What a runtime does next (libcni, Multus): DEL with the same config, no prevResult.
      record('failed-add.del', call('DEL', config));
      fields['failed-add.del-leftover'] = leftovers(node, pod, before, dataDir);
    }
  } finally {
    deleteNetns(node);
    deleteNetns(pod);
    rmSync(dataDir, { recursive: true, force: true });
  }
  return { case: c.name, plugin: plugin.id, kernel: c.kernel, fields, notes, durationMs: Date.now() - started };
}
