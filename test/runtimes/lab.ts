// What the runtime tests share: the check that the runtimes are installed, the plugin directory a runtime calls us
// from (with a recorder in front of the real executable), the two networks, the busybox image, reading a
// container's interface, traffic between containers, and the list of what removal must not leave behind.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { BIN, ROOT, ensureBuilt } from '../lab/binary.js';
import { shQuote } from '../lab/uml.js';
import { openNode, type IsolatedNode } from '../lab/isolated-node.js';

export const IMAGE = 'localhost/vlan-bridge/busybox:1';

/** CNI's paths, private in every isolated node: its configs, plugins and libcni's cache. */
const CNI_PATHS = ['/etc/cni/net.d', '/opt/cni/bin', '/var/lib/cni'];

/**
 * What a podman node keeps private (isolated-node.ts: `keep:` overlays the host's files). /run/netns, /var/tmp and
 * /dev/shm are shared with everything else on a host: only podman's files there are its.
 */
export const PODMAN_PATHS = [
  ...CNI_PATHS,
  '/run/netns',
  'keep:/etc/containers',
  '/var/lib/containers',
  '/run/containers',
  '/run/libpod',
  '/run/podman',
  '/run/runc',
  '/run/crun',
  '/var/tmp',
  '/dev/shm',
];

/** What a containerd node keeps private, besides /etc/containerd (its config: the host's, or a test's own). */
export const CONTAINERD_PATHS = [...CNI_PATHS, '/var/lib/containerd', '/run/containerd'];
const IMAGE_SCRIPT = path.join(ROOT, 'test', 'runtimes', 'busybox-image.sh');
const DRIVER_SCRIPT = path.join(ROOT, 'test', 'callers', 'build-driver.sh');
const DRIVER = path.join(ROOT, 'build', 'libcni-driver');

/** Fails (never skips) when something the tier needs is not installed. */
export function requireInstalled(needs: Array<[file: string, debianPackage: string]>): void {
  const onPath = (f: string) =>
    f.startsWith('/') ? existsSync(f) : spawnSync('sh', ['-c', `command -v ${f}`]).status === 0;
  const missing = needs.filter(([f]) => !onPath(f));
  if (missing.length > 0) {
    const list = missing.map(([f, p]) => `${f} (Debian package ${p})`).join(', ');
    throw new Error(`missing: ${list}. Run \`make deps\`: it installs every package the tests use`);
  }
}

/** Builds the busybox image (test/runtimes/busybox-image.sh) into `dir`: `dir/image.tar`, `dir/rootfs`. */
export function buildImage(dir: string): { tar: string; rootfs: string } {
  execFileSync('bash', [IMAGE_SCRIPT, dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return { tar: path.join(dir, 'image.tar'), rootfs: path.join(dir, 'rootfs') };
}

// ---- the plugin directory and the recorder -------------------------------------------------------------------

/**
 * Installs `vlan-bridge` into the node's /opt/cni/bin, next to Debian's reference IPAM and portmap plugins. The
 * file there is a recorder: it saves the environment and stdin the runtime gave (and the result) under
 * `recordDir`, then runs bin/vlan-bridge with both unchanged. That is how a test knows which commands a runtime
 * really sent (a veth also vanishes when the kernel destroys a namespace, without any DEL).
 */
export function installPlugins(node: IsolatedNode, recordDir: string): void {
  ensureBuilt();
  installRecorder(node, 'vlan-bridge', BIN, recordDir);
  for (const p of ['host-local', 'portmap']) node.sh('ln', ['-s', `/usr/lib/cni/${p}`, `/opt/cni/bin/${p}`]);
}

/**
 * Installs `/opt/cni/bin/<name>` in the node as a recorder of the calls made to it: each call's environment, stdin,
 * stdout and exit status are saved under `recordDir` (read them with `calls`), and `target` is run with the same
 * environment and stdin. A plugin that calls other plugins (Multus) gets one too, so both hops are on record.
 */
export function installRecorder(node: IsolatedNode, name: string, target: string, recordDir: string): void {
  node.sh('mkdir', ['-p', recordDir, '/opt/cni/bin']);
  const recorder = `#!/bin/sh
# Saves one call (environment, stdin, stdout, exit status, and the node's veths once it returned), then runs the
# plugin with the same environment and stdin.
d=${shQuote(recordDir)}/$(date +%s%N)-$$
env -0 > "$d.env"
cat > "$d.in"
${shQuote(target)} < "$d.in" > "$d.out"
rc=$?
/usr/sbin/ip -o link show type veth | sed -n 's/^[0-9]*: \\([^:@]*\\).*/\\1/p' > "$d.veths"
cat "$d.out"
echo $rc > "$d.rc"
exit $rc
`;
  node.sh('sh', ['-c', `cat > /opt/cni/bin/${name} && chmod 755 /opt/cni/bin/${name}`], { input: recorder });
}

export interface Call {
  command: string;
  env: Record<string, string>;
  /** The config the runtime sent on stdin. */
  conf: any;
  /** What the plugin printed (a result or an error), parsed; undefined when nothing. */
  out: any;
  rc: number;
  /** The veths of the node (the runtime's namespace) right after the call returned. */
  vethsAfter: string[];
}

/** Every recorded call, oldest first. A call still running (no exit status yet) is left out. */
export function calls(recordDir: string): Call[] {
  const out: Call[] = [];
  const names = readdirSync(recordDir)
    .filter((f) => f.endsWith('.rc'))
    .map((f) => f.slice(0, -3))
    .sort();
  for (const n of names) {
    const file = (ext: string) => readFileSync(path.join(recordDir, `${n}.${ext}`), 'utf8');
    const env = Object.fromEntries(
      file('env')
        .split('\0')
        .filter(Boolean)
        .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
    );
    const text = file('out').trim();
    out.push({
      command: env.CNI_COMMAND ?? '',
      env,
      conf: JSON.parse(file('in')),
      out: text ? JSON.parse(text) : undefined,
      rc: Number(file('rc')),
      vethsAfter: file('veths').split('\n').filter(Boolean),
    });
  }
  return out;
}

/** The calls of one command for one container (by CNI_CONTAINERID). */
export function callsOf(recordDir: string, command: string, containerId: string): Call[] {
  return calls(recordDir).filter((c) => c.command === command && c.env.CNI_CONTAINERID === containerId);
}

// ---- networks --------------------------------------------------------------------------------------------------

/** The L2 network's bridge and its uplink (not a veth, so pods take its MTU: src/plugin/uplink.ts). */
export const L2 = { name: 'rt-l2', bridge: 'rt-l2-br', uplink: 'rt-l2-up', uplinkMtu: 9000 } as const;
/** The L3 network: host-local addresses, the gateway on a bridge the plugin creates with the config's MTU. */
export const L3 = {
  name: 'rt-l3',
  bridge: 'rt-l3-br',
  subnet: '10.217.0.0/24',
  gateway: '10.217.0.1',
  mtu: 1400,
} as const;

/** The L2 network's plugin as Harvester writes it into a NetworkAttachmentDefinition: promisc, `ipam: {}`, no mtu. */
export const l2Plugin = () => ({ type: 'vlan-bridge', bridge: L2.bridge, promiscMode: true, ipam: {} });

/** The whole config as Harvester writes it (a single plugin, not a list) at its cniVersion, 0.3.1. */
export const l2Conf = () => ({ cniVersion: '0.3.1', name: L2.name, ...l2Plugin() });

/** The L3 network's plugin: gateway, masquerading, an MTU, host-local; `extra` adds keys (capabilities). */
export const l3Plugin = (extra: object = {}) => ({
  type: 'vlan-bridge',
  bridge: L3.bridge,
  isGateway: true,
  ipMasq: true,
  mtu: L3.mtu,
  ...extra,
  ipam: { type: 'host-local', ranges: [[{ subnet: L3.subnet, gateway: L3.gateway }]] },
});

/** The L2 bridge with a vxlan uplink of MTU 9000 enslaved (the host kernel has no dummy or bond devices). */
export function makeL2Bridge(node: IsolatedNode): void {
  const ip = (...a: string[]) => node.sh('ip', a);
  ip('link', 'add', L2.uplink, 'mtu', String(L2.uplinkMtu), 'type', 'vxlan', 'id', '217', 'dstport', '4789');
  ip('link', 'add', L2.bridge, 'type', 'bridge');
  ip('link', 'set', L2.uplink, 'master', L2.bridge, 'up');
  ip('link', 'set', L2.bridge, 'up');
}

// ---- containers ------------------------------------------------------------------------------------------------

export interface Eth0 {
  mtu: number;
  mac: string;
  up: boolean;
  ipv4: string[];
  linkLocal?: string;
}

/** Runs `cmd` in the network namespace of process `pid` (a container's), from the host. */
export function inNetns(pid: number, cmd: string, ...args: string[]) {
  return spawnSync('nsenter', ['-t', String(pid), '-n', cmd, ...args], { encoding: 'utf8', timeout: 30_000 });
}

/** The container's eth0 as its network namespace shows it, or undefined when it has none. */
export function eth0(pid: number): Eth0 | undefined {
  const r = inNetns(pid, 'ip', '-j', 'addr', 'show', 'dev', 'eth0');
  if (r.status !== 0) return undefined;
  const [l] = JSON.parse(r.stdout) as any[];
  const addrs: any[] = l.addr_info ?? [];
  return {
    mtu: l.mtu,
    mac: l.address,
    up: (l.flags as string[]).includes('UP'),
    ipv4: addrs.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`),
    linkLocal: addrs.find((a) => a.family === 'inet6' && a.scope === 'link')?.local,
  };
}

/** ICMP echo from the container with pid `from` to `to` (a `fe80::` address is reached through eth0). */
export function ping(from: number, to: string): void {
  const dst = to.startsWith('fe80:') ? `${to}%eth0` : to;
  const r = inNetns(from, 'ping', '-c', '1', '-W', '3', dst);
  expect(r.status, `ping ${dst} from pid ${from}: ${r.stdout}${r.stderr}`).toBe(0);
}

/** Host veths in the node (all of them are pods'), by name. */
export function veths(node: IsolatedNode): string[] {
  return node.ns
    .ipj<any[]>('link', 'show')
    .filter((l) => l.linkinfo?.info_kind === 'veth')
    .map((l) => l.ifname);
}

/**
 * What a removed container must not leave in the node: host veths; libcni's cached results and host-local's
 * address reservations under /var/lib/cni (host-local's `lock` and `last_reserved_ip.*` are its own state);
 * firewall rules of one container, ours (ipMasq: the reference's `CNI-<hash>` chains and `name: ... id: ...`
 * comments) or portmap's (`CNI-DN-` chains, DNAT rules naming a container id); macspoofchk chains, nftables rules
 * with a comment, and tables of earlier vlan-bridge builds. Shared chains (portmap's, the reference's nftables base
 * chains) stay, as on any node.
 */
export function leftovers(node: IsolatedNode): string[] {
  const out = veths(node).map((v) => `veth ${v}`);
  const files = node.sh('find', ['/var/lib/cni', '-type', 'f']).split('\n').filter(Boolean);
  for (const f of files) if (!/\/(lock|last_reserved_ip\.\d+)$/.test(f)) out.push(`file ${f}`);
  for (const line of node.sh('iptables-save', []).split('\n')) {
    if (/VB-|vlan-bridge|CNI-DN-| id: |-j CNI-[0-9a-f]{24}|^:CNI-[0-9a-f]{24} /.test(line))
      out.push(`iptables ${line}`);
  }
  for (const line of node.sh('nft', ['list', 'ruleset']).split('\n'))
    if (/vlan_bridge|comment "|cni-br-iface-/.test(line) && !line.trim().startsWith('comment '))
      out.push(`nftables ${line.trim()}`);
  return out;
}

// ---- CHECK, as a runtime that checks would send it ----------------------------------------------------------

/** Builds test/callers/libcni-driver (Go, offline; a no-op when up to date). */
export function buildDriver(): void {
  const r = spawnSync('bash', [DRIVER_SCRIPT], { encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) throw new Error(`${DRIVER_SCRIPT} failed (${r.status ?? r.signal}):\n${r.stdout}${r.stderr}`);
}

/**
 * CHECK through libcni (the library containerd's and podman's CNI code is built on) inside the node, against the
 * result the runtime cached in /var/lib/cni: neither runtime sends CHECK itself; CRI-O and Multus do, this way.
 */
export function libcniCheck(
  node: IsolatedNode,
  conflistFile: string,
  containerId: string,
  netns: string,
  capabilityArgs?: object,
): void {
  const args = ['-command', 'CHECK', '-conflist', conflistFile, '-container-id', containerId, '-netns', netns];
  args.push('-ifname', 'eth0', '-cni-path', '/opt/cni/bin', '-cache-dir', '/var/lib/cni');
  if (capabilityArgs) args.push('-capability-args', JSON.stringify(capabilityArgs));
  node.sh(DRIVER, args);
}

// ---- the host itself -----------------------------------------------------------------------------------------

/** What the host has at the paths the runtimes use (listing and mtime): compared before and after a file's tests. */
export function hostPaths(paths: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of paths) {
    try {
      const st = statSync(p);
      out[p] = st.isDirectory() ? `dir [${readdirSync(p).sort().join(' ')}] ${st.mtimeMs}` : `file ${st.mtimeMs}`;
    } catch {
      out[p] = 'absent';
    }
  }
  return out;
}

/** The tools both runtimes' tests need besides the runtime itself, with their Debian packages. */
const COMMON_TOOLS: Array<[file: string, debianPackage: string]> = [
  ['runc', 'runc'],
  ['/usr/lib/cni/host-local', 'containernetworking-plugins'],
  ['busybox', 'busybox'],
  ['iptables-save', 'iptables'],
  ['nft', 'nftables'],
];

/**
 * The node a runtime's tests run in: the tools checked (the runtime's `tools` and COMMON_TOOLS), the libcni driver
 * built, an isolated node opened with `paths` private and `cgroup` as its cgroup parent, the plugins installed with
 * their calls recorded under `<node>/calls` (returned as `record`), and the L2 network's bridge made.
 */
export async function openRuntimeNode(o: {
  prefix: string;
  paths: string[];
  cgroup: string;
  tools: Array<[file: string, debianPackage: string]>;
}): Promise<{ node: IsolatedNode; record: string }> {
  requireInstalled([...o.tools, ...COMMON_TOOLS]);
  buildDriver();
  const node = await openNode({ prefix: o.prefix, paths: o.paths, cgroupParents: [o.cgroup] });
  const record = path.join(node.dir, 'calls');
  installPlugins(node, record);
  makeL2Bridge(node);
  return { node, record };
}
