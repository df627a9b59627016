// The reference bridge plugin (containernetworking/plugins) next to ours, for takeover and handback tests: where
// both reference trees are, running any CNI executable the way test/lab/cni.ts runs ours, the previous build of
// vlan-bridge (its own firewall layout) built from the git history, and the state of a test node namespace
// (iptables nat table, nft ruleset, links, host-local allocations) as lines that can be snapshotted and compared.
//
// The reference's names, read in its source (v1.9.1 from ../shared/vendor/containernetworking-plugins-v1.9.1.tar.gz,
// v1.1.1 from the git tag; files named at each function), are reproduced here so that tests can say exactly which
// objects belong to which attachment.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ROOT } from './binary.js';
import { envOf, type CniCall, type CniReply } from './cni.js';
import type { TestNs } from '../host/netns-fixture.js';

export type ReferenceVersion = '1.1.1' | '1.9.1';

/**
 * Both reference trees, each with its own host-local: Debian bookworm's package (containernetworking-plugins
 * 1.1.1, `make deps` installs it) and Debian unstable's 1.9.1, unpacked privately by scripts/unstable-debs.sh.
 */
const REFERENCE_DIRS: Record<ReferenceVersion, { dir: string; install: string }> = {
  '1.1.1': { dir: '/usr/lib/cni', install: 'make deps (Debian package containernetworking-plugins)' },
  '1.9.1': {
    dir: path.join(ROOT, 'build', 'reference-1.9.1', 'root', 'usr', 'lib', 'cni'),
    install: 'make deps (scripts/unstable-debs.sh build/reference-1.9.1 containernetworking-plugins)',
  },
};

export interface ReferencePlugin {
  version: ReferenceVersion;
  /** The tree's plugin directory: CNI_PATH for both plugins of a scenario (host-local is taken from it). */
  dir: string;
  /** Its `bridge` executable. */
  bridge: string;
}

/** The reference tree of `version`; throws, saying how to get it, when its bridge or host-local is missing. */
export function referencePlugin(version: ReferenceVersion): ReferencePlugin {
  const { dir, install } = REFERENCE_DIRS[version];
  for (const exe of ['bridge', 'host-local']) {
    if (!existsSync(path.join(dir, exe)))
      throw new Error(`reference plugins ${version}: ${path.join(dir, exe)} is missing: run ${install}`);
  }
  return { version, dir, bridge: path.join(dir, 'bridge') };
}

/** Runs CNI executable `bin` for call `c` in namespace `node`, with the environment a runtime gives (envOf). */
export function runPlugin(bin: string, node: string, c: CniCall): CniReply {
  const input = typeof c.conf === 'string' ? c.conf : JSON.stringify(c.conf);
  const r = spawnSync('ip', ['netns', 'exec', node, bin], { input, env: envOf(c), encoding: 'utf8', timeout: 60_000 });
  const text = r.stdout.trim();
  let json: any;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    throw new Error(`${bin} ${c.command} printed something that is not JSON (exit ${r.status}): ${r.stdout}`);
  }
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, json };
}

// ---- the previous build of vlan-bridge ----

/** The revision whose firewall layout (VB-<hash> chains, vlan_bridge_* nft tables) an upgrade starts from. */
export const OLD_REVISION = '4c3d54d';

/**
 * The executable of vlan-bridge at OLD_REVISION, cached as build/vlan-bridge-<rev>. When missing it is built from
 * the git history: `git archive` of that revision into a temporary directory (the repository's worktrees and
 * index are left alone), node_modules linked in, and that tree's scripts/build.mjs run with `--out`.
 */
export function oldBuild(): string {
  const out = path.join(ROOT, 'build', `vlan-bridge-${OLD_REVISION}`);
  if (existsSync(out)) return out;
  const git = spawnSync('git', ['-C', ROOT, 'cat-file', '-e', `${OLD_REVISION}^{commit}`], { encoding: 'utf8' });
  if (git.status !== 0)
    throw new Error(
      `commit ${OLD_REVISION} is not in this clone (${git.stderr.trim() || `git exit ${git.status}`}): ` +
        'fetch the full history (git fetch --unshallow) to build the previous vlan-bridge',
    );
  if (!existsSync(path.join(ROOT, 'node_modules')))
    throw new Error('node_modules is missing: run npm ci (make deps) first');
  const tree = mkdtempSync(path.join(tmpdir(), `vb-${OLD_REVISION}-`));
  try {
    execFileSync('sh', ['-c', `git -C "$1" archive "$2" | tar -x -C "$3"`, 'sh', ROOT, OLD_REVISION, tree], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    symlinkSync(path.join(ROOT, 'node_modules'), path.join(tree, 'node_modules'));
    const r = spawnSync(process.execPath, [path.join(tree, 'scripts', 'build.mjs'), '--out', out], {
      cwd: tree,
      encoding: 'utf8',
      timeout: 180_000,
    });
    if (r.status !== 0)
      throw new Error(`building vlan-bridge ${OLD_REVISION} failed (${r.status ?? r.signal}):\n${r.stdout}${r.stderr}`);
  } finally {
    rmSync(tree, { recursive: true, force: true });
  }
  statSync(out);
  return out;
}

// ---- the reference's names ----

const sha512Hex = (s: string) => createHash('sha512').update(s).digest('hex');

/** Go's %q for the names used here (no escapes needed: test names are plain ASCII without quotes). */
const goQuote = (s: string) => `"${s}"`;

/**
 * ipMasq, iptables backend: chain `CNI-` + sha512(network + containerID) in hex, 28 characters, and the comment
 * `name: "<net>" id: "<id>"` (pkg/utils/utils.go FormatChainName, FormatComment; v1.1.1 and v1.9.1 alike). The
 * iptables implementation ignores ifname (pkg/ip/ipmasq_iptables_linux.go, v1.9.1).
 */
export const referenceChain = (network: string, containerId: string): string =>
  `CNI-${sha512Hex(network + containerId)}`.slice(0, 28);
const referenceIptComment = (network: string, containerId: string): string =>
  `name: ${goQuote(network)} id: ${goQuote(containerId)}`;

/**
 * ipMasq, nftables backend (v1.9.1 only; pkg/ip/ipmasq_nftables_linux.go): a rule per address in chain
 * `masq_checks` of table `inet cni_plugins_masquerade`, its comment `<16 hex of sha512(net)>-<16 hex of
 * sha512(ifname:containerID)>, net: <net>, if: <ifname>, id: <id>` (at most 128 bytes; ours are shorter).
 */
const referenceNftComment = (network: string, ifname: string, containerId: string): string =>
  `${sha512Hex(network).slice(0, 16)}-${sha512Hex(`${ifname}:${containerId}`).slice(0, 16)}, ` +
  `net: ${network}, if: ${ifname}, id: ${containerId}`;

export interface AttachmentFacts {
  network: string;
  containerId: string;
  ifname: string;
  hostVeth: string;
  containerMac: string;
  /** The container's address with its prefix length (L3 configs). */
  address?: string;
}

/** What a network config turns on, as the reference reads it. */
export interface Features {
  ipMasq?: 'iptables' | 'nftables';
  macspoofchk?: boolean;
}

/**
 * The firewall lines (as nodeState writes them, without iptables-nft's own nft view of its tables) that the
 * reference's ADD makes for one IPv4 attachment. Read from v1.9.1's pkg/ip/ipmasq_iptables_linux.go SetupIPMasq
 * (v1.1.1: pkg/ip/ipmasq_linux.go, identical rules), pkg/ip/ipmasq_nftables_linux.go and pkg/link/spoofcheck.go
 * (Setup: chains `cni-br-iface-<containerID>-<ifname>` and `...-mac` in table `bridge nat`, a jump from the base
 * chain PREROUTING for the host veth; every rule commented `macspoofchk-<containerID>-<ifname>`; same in v1.1.1).
 */
export function referenceFirewall(a: AttachmentFacts, f: Features): string[] {
  const lines: string[] = [];
  if (f.ipMasq === 'iptables') {
    const chain = referenceChain(a.network, a.containerId);
    const c = `-m comment --comment "${referenceIptComment(a.network, a.containerId).replace(/"/g, '\\"')}"`;
    const [ip] = a.address!.split('/');
    lines.push(
      `iptables nat -N ${chain}`,
      `iptables nat -A POSTROUTING -s ${ip}/32 ${c} -j ${chain}`,
      `iptables nat -A ${chain} -d ${subnetOf(a.address!)} ${c} -j ACCEPT`,
      `iptables nat -A ${chain} ! -d 224.0.0.0/4 ${c} -j MASQUERADE`,
    );
  } else if (f.ipMasq === 'nftables') {
    const [ip] = a.address!.split('/');
    const comment = referenceNftComment(a.network, a.ifname, a.containerId);
    lines.push(
      `${MASQ} masq_checks: ip saddr ${ip} ip daddr != ${subnetOf(a.address!)} masquerade comment "${comment}"`,
    );
  }
  if (f.macspoofchk) {
    const id = `${a.containerId}-${a.ifname}`;
    const chain = `cni-br-iface-${id}`;
    const comment = `comment "macspoofchk-${id}"`;
    lines.push(
      `nft bridge nat PREROUTING: iifname "${a.hostVeth}" jump ${chain} ${comment}`,
      `nft bridge nat: chain ${chain}`,
      `nft bridge nat ${chain}: jump ${chain}-mac ${comment}`,
      `nft bridge nat: chain ${chain}-mac`,
      `nft bridge nat ${chain}-mac: ether saddr ${a.containerMac} return ${comment}`,
      `nft bridge nat ${chain}-mac: drop ${comment}`,
    );
  }
  return lines.sort();
}

/** The IPv4 subnet of `a.b.c.d/len`. */
function subnetOf(cidr: string): string {
  const [ip, len] = cidr.split('/') as [string, string];
  const n = ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  const bits = Number(len);
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  const net = (n & mask) >>> 0;
  return `${[24, 16, 8, 0].map((s) => (net >>> s) & 255).join('.')}/${bits}`;
}

/**
 * What the reference leaves on purpose after its last attachment is gone, as nodeState lines:
 * - `bridge nat` and its base chain PREROUTING: pkg/link/spoofcheck.go Teardown deletes the attachment's jump rule
 *   and its two chains only ("The table and base-chain are expected to survive", v1.1.1 and v1.9.1);
 * - `inet cni_plugins_masquerade` with its comment, chain `masq_checks` (emptied) and base chain `postrouting` with
 *   its three fixed rules: teardownIPMasqNFTables deletes only the rules whose comment starts with the
 *   attachment's hash (pkg/ip/ipmasq_nftables_linux.go, v1.9.1);
 * - iptables-nft's own view of table `ip nat` with the base chains it made: TeardownIPMasq deletes the POSTROUTING
 *   jump and flushes and deletes the attachment's chain (v1.1.1 pkg/ip/ipmasq_linux.go, v1.9.1
 *   ipmasq_iptables_linux.go); `iptables -S` is then back to its default policies.
 * Nothing of vlan-bridge's own (`VB-` chains, `vlan_bridge_*` tables) is shared: none of it may stay.
 */
const MASQ = 'nft inet cni_plugins_masquerade';
const REFERENCE_SHARED: Shared[] = [
  'nft bridge nat: table',
  'nft bridge nat: chain PREROUTING',
  'nft bridge nat PREROUTING: type filter hook prerouting priority dstnat; policy accept;',
  `${MASQ}: table`,
  `${MASQ}: comment "Masquerading for plugins from github.com/containernetworking/plugins"`,
  `${MASQ}: chain masq_checks`,
  `${MASQ} masq_checks: comment "Masquerade traffic from certain IPs to any (non-multicast) IP outside their subnet"`,
  `${MASQ}: chain postrouting`,
  `${MASQ} postrouting: type nat hook postrouting priority srcnat; policy accept;`,
  `${MASQ} postrouting: ip daddr 224.0.0.0/4 return`,
  `${MASQ} postrouting: ip6 daddr ff00::/8 return`,
  `${MASQ} postrouting: goto masq_checks`,
  /^nft ip6? nat: (table|chain (PREROUTING|INPUT|OUTPUT|POSTROUTING))$/,
  /^nft ip6? nat (PREROUTING|INPUT|OUTPUT|POSTROUTING): type nat hook \w+ priority \S+; policy accept;$/,
];

/** An object shared between attachments: a nodeState line exactly, or a pattern of lines. */
export type Shared = string | RegExp;
const isShared = (line: string, shared: Shared[]) =>
  shared.some((s) => (typeof s === 'string' ? line === s : s.test(line)));

// ---- the state of a node namespace ----

/**
 * `nft list ruleset` as one line per object, each prefixed with where it is: `nft <family> <table>: table`,
 * `nft <family> <table>: chain <name>`, `nft <family> <table> <chain>: <rule or chain property>`. Counters' values
 * and runs of blanks are dropped, so that lines compare across time.
 */
function nftLines(text: string): string[] {
  const out: string[] = [];
  let table: string | undefined;
  let object: string | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim().replace(/\s+/g, ' ');
    if (!line) continue;
    const t = /^table (\S+) (\S+) \{$/.exec(line);
    if (t) {
      table = `${t[1]} ${t[2]}`;
      out.push(`nft ${table}: table`);
      continue;
    }
    const o = /^(chain|set|map|flowtable|counter|quota|ct \S+) (\S+) \{$/.exec(line);
    if (o && table && !object) {
      object = o[2];
      out.push(`nft ${table}: ${o[1]} ${o[2]}`);
      continue;
    }
    if (line === '}') {
      if (object) object = undefined;
      else table = undefined;
      continue;
    }
    const normal = line.replace(/counter packets \d+ bytes \d+/g, 'counter');
    out.push(`nft ${table}${object ? ` ${object}` : ''}: ${normal}`);
  }
  return out;
}

/** Where a node keeps a network's host-local allocations: `<dataDir>/<network>/`. */
export interface IpamDir {
  dataDir: string;
  network: string;
}

/**
 * Everything of a node namespace that an attachment's ADD may leave and its DEL or GC must take away, as sorted
 * lines: `iptables nat <iptables -S line>`, nft objects (nftLines), `link <name>` and, per host-local data
 * directory, `ipam <network>/<file>: <content>` (host-local's own `lock` and `last_reserved_ip.<range>` excepted).
 */
export function nodeState(node: TestNs, ipam?: IpamDir): string[] {
  const lines = node
    .exec('iptables', '-w', '-t', 'nat', '-S')
    .split('\n')
    .filter(Boolean)
    .map((l) => `iptables nat ${l}`);
  lines.push(...nftLines(node.exec('nft', 'list', 'ruleset')));
  for (const l of node.ipj<Array<{ ifname: string }>>('link', 'show')) lines.push(`link ${l.ifname}`);
  if (ipam) {
    const dir = path.join(ipam.dataDir, ipam.network);
    for (const f of existsSync(dir) ? readdirSync(dir) : []) {
      if (f === 'lock' || f.startsWith('last_reserved_ip.')) continue;
      const content = readFileSync(path.join(dir, f), 'utf8').replace(/\r/g, '').replace(/\n/g, ' ');
      lines.push(`ipam ${ipam.network}/${f}: ${content}`);
    }
  }
  return lines.sort();
}

/** The lines of `a` not in `b`, counted as a multiset (a rule may appear twice). */
export function minus(a: string[], b: string[]): string[] {
  const left = new Map<string, number>();
  for (const l of b) left.set(l, (left.get(l) ?? 0) + 1);
  return a.filter((l) => {
    const n = left.get(l) ?? 0;
    if (n === 0) return true;
    left.set(l, n - 1);
    return false;
  });
}

/**
 * The lines of `state` that belong to one attachment: those naming its container ID or host veth (comments, chain
 * names, allocation files, the veth), and those naming an iptables chain that such a line jumps to (`CNI-`, `VB-`:
 * iptables-nft's nft view of a chain carries no comment). Container IDs in tests are unique strings that appear
 * nowhere else.
 */
export function ownedBy(state: string[], a: { containerId: string; hostVeth: string }): string[] {
  const tokens = new Set([a.containerId, a.hostVeth]);
  for (;;) {
    const before = tokens.size;
    for (const l of state) {
      if (![...tokens].some((t) => l.includes(t))) continue;
      for (const m of l.matchAll(/(?:-j|jump|goto) ((?:CNI|VB)-[0-9A-Za-z]+)/g)) tokens.add(m[1]!);
    }
    if (tokens.size === before) break;
  }
  return state.filter((l) => [...tokens].some((t) => l.includes(t)));
}

/** The firewall lines among `lines`, without iptables-nft's nft view of its own tables (`nft ip nat ...`). */
export function firewallLines(lines: string[]): string[] {
  return lines.filter((l) => l.startsWith('iptables ') || (l.startsWith('nft ') && !/^nft ip6? nat[: ]/.test(l)));
}

/**
 * What is left in `now` compared with `baseline` that is neither in the baseline nor one of the objects the
 * reference leaves by design (REFERENCE_SHARED), nor in `alsoShared` (the bridge, host-local's bookkeeping); and
 * what of the baseline is missing. Both empty: the node is as it was.
 */
export function leftovers(
  baseline: string[],
  now: string[],
  alsoShared: Shared[] = [],
): { left: string[]; missing: string[] } {
  return {
    left: minus(now, baseline).filter((l) => !isShared(l, [...REFERENCE_SHARED, ...alsoShared])),
    missing: minus(baseline, now),
  };
}

/**
 * What changed from `before` to `after`: the lines removed and the lines added, sorted, except removed objects that
 * are shared between attachments (REFERENCE_SHARED and `alsoShared`), which may go with the last one. A DEL or GC
 * of one attachment must remove exactly its lines (ownedBy in `before`) and add none.
 */
export function changeOf(
  before: string[],
  after: string[],
  alsoShared: Shared[] = [],
): { removed: string[]; added: string[] } {
  return {
    removed: minus(before, after)
      .filter((l) => !isShared(l, [...REFERENCE_SHARED, ...alsoShared]))
      .sort(),
    added: minus(after, before).sort(),
  };
}
