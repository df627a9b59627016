// Where an attachment's firewall objects are, and how they name their owner. Two layouts:
// - the reference plugin's (containernetworking/plugins, read at v1.9.1 and v1.1.1, which agree on iptables and
//   macspoofchk; nftables ipMasq is new in v1.9): what vlan-bridge makes, so that the reference's DEL finds what
//   vlan-bridge made and vlan-bridge's DEL and GC find what the reference made;
// - vlan-bridge's own before it adopted the reference's (builds up to 4c3d54d): only ever removed, so that pods
//   made by an earlier build leave nothing behind.
// Identities: iptables chains are per (network, container ID), as the reference's (`pkg/ip/ipmasq_iptables_linux.go`
// ignores ifname "for historical reasons"); nftables ipMasq rules and macspoofchk chains are per (network or not,
// container ID, ifname).

/** An attachment as the firewall layer names it (the CNI triple). */
export interface Owner {
  network: string;
  containerId: string;
  ifname: string;
}

/** An attachment on a network named elsewhere. */
export interface Named {
  containerId: string;
  ifname: string;
}

const hex = (algorithm: 'sha256' | 'sha512', s: string): string =>
  new Bun.CryptoHasher(algorithm).update(s).digest('hex');

/**
 * Go's `%q` of a string of printable ASCII (the only kind CNI names and container IDs hold, by libcni's rules):
 * backslash and double quote escaped. Other characters are written as Go would escape them (\xNN, \uNNNN).
 */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (c >= 0x20 && c < 0x7f) out += ch;
    else if (c < 0x80) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else if (c <= 0xffff) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else out += `\\U${c.toString(16).padStart(8, '0')}`;
  }
  return `${out}"`;
}

// ---- the reference's layout ----

/**
 * iptables ipMasq chain of (network, container ID): `CNI-` and sha512(network + containerId) in hex, 28 characters
 * (pkg/utils/utils.go `FormatChainName`, v1.1.1 to v1.9.1).
 */
export const masqChain = (o: { network: string; containerId: string }): string =>
  `CNI-${hex('sha512', o.network + o.containerId)}`.slice(0, 28);

/** The comment of the reference's iptables rules: `name: "<network>" id: "<container ID>"` (`FormatComment`). */
export const masqComment = (o: { network: string; containerId: string }): string =>
  `name: ${goQuote(o.network)} id: ${goQuote(o.containerId)}`;

/** nftables ipMasq: table, the regular chain holding one rule per address, and the base chain that jumps to it. */
export const NFT_MASQ = { family: 'inet', table: 'cni_plugins_masquerade', chain: 'masq_checks' } as const;
export const NFT_MASQ_BASE = 'postrouting';

/** `MustFormatHashWithPrefix(16, "", s)`: the first 16 hex digits of sha512(s). */
const hash16 = (s: string): string => hex('sha512', s).slice(0, 16);

/** Prefix of every nftables ipMasq rule comment of a network (pkg/ip/ipmasq_nftables_linux.go `hashForNetwork`). */
export const nftMasqNetworkPrefix = (network: string): string => hash16(network);

/** Prefix of the comments of one attachment's nftables ipMasq rules (`hashForInstance`). */
export const nftMasqInstancePrefix = (o: Owner): string =>
  `${hash16(o.network)}-${hash16(`${o.ifname}:${o.containerId}`)}`;

/** knftables.CommentLengthMax. */
const NFT_COMMENT_MAX = 128;

/** The whole comment of an attachment's nftables ipMasq rules (`commentForInstance`), cut at 128 bytes. */
export function nftMasqComment(o: Owner): string {
  const strip = (s: string) => s.replaceAll('"', '');
  const text = `${nftMasqInstancePrefix(o)}, net: ${strip(o.network)}, if: ${strip(o.ifname)}, id: ${strip(o.containerId)}`;
  return Buffer.from(text).subarray(0, NFT_COMMENT_MAX).toString();
}

/** macspoofchk (pkg/link/spoofcheck.go): table `bridge nat`, base chain PREROUTING, two chains per attachment. */
export const SPOOF = { family: 'bridge', table: 'nat', chain: 'PREROUTING' } as const;

/** The reference's `uniqueID(containerID, ifname)`: what names an attachment's macspoofchk chains and rules. */
export const spoofRefId = (o: { containerId: string; ifname: string }): string => `${o.containerId}-${o.ifname}`;
export const spoofIfaceChain = (refId: string): string => `cni-br-iface-${refId}`;
export const spoofMacChain = (refId: string): string => `${spoofIfaceChain(refId)}-mac`;
export const spoofComment = (refId: string): string => `macspoofchk-${refId}`;

// ---- vlan-bridge's own layout before it took the reference's (removed, never made) ----

export const LEGACY_NFT_MASQ = { family: 'inet', table: 'vlan_bridge_masq' } as const;
export const LEGACY_NFT_SPOOF = { family: 'bridge', table: 'vlan_bridge_macspoof' } as const;

const legacyNetworkTag = (network: string): string => hex('sha256', network).slice(0, 12);

/** The container ID as the old comments carried it: as given up to 64 bytes, else '#' and 24 hex of its sha256. */
const legacyContainerField = (containerId: string): string =>
  containerId.length <= 64 ? containerId : `#${hex('sha256', containerId).slice(0, 24)}`;

/** The owner an old comment (`vlan-bridge <network tag> <container field> <ifname>`) names on `network`, or null. */
export function parseLegacyComment(text: string, network: string): { containerField: string; ifname: string } | null {
  const parts = text.trim().split(' ');
  if (parts.length !== 4 || parts[0] !== 'vlan-bridge' || parts[1] !== legacyNetworkTag(network)) return null;
  return { containerField: parts[2]!, ifname: parts[3]! };
}

const legacyOwnerIs = (x: { containerField: string; ifname: string }, o: Named): boolean =>
  x.containerField === legacyContainerField(o.containerId) && x.ifname === o.ifname;

/** Old iptables chains were `VB-` and 24 upper-case hex digits. */
export const isLegacyChain = (name: string): boolean => /^VB-[0-9A-F]{24}$/.test(name);

// ---- which attachments a teardown removes ----

/**
 * What a teardown removes on `network`: one attachment (DEL, rollback; with its addresses when known, CIDRs), or
 * every one that `keep` does not list (GC, with the runtime's valid attachments).
 */
export type Selection =
  | { network: string; only: Owner; addresses?: string[] }
  | { network: string; keep: Array<{ containerId: string; ifname: string }> };

/** Whether the owner of an old comment is selected. */
export function selectsLegacy(sel: Selection, x: { containerField: string; ifname: string }): boolean {
  if ('only' in sel) return legacyOwnerIs(x, sel.only);
  return !sel.keep.some((k) => legacyOwnerIs(x, k));
}
