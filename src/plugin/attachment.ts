// An attachment's identity (CNI network name, container ID, ifname: the triple a runtime names an attachment by)
// and every way the plugin writes it onto what it makes, so that DEL, GC, CHECK and doctor can find what is an
// attachment's and tell it from everything else:
// - the host veth's ifalias `vlan-bridge:<network>:<container ID>:<ifname>` (IFALIASZ is 256 bytes: a network name
//   too long to fit is written as '#' and a hash). None of the three fields can contain ':' (libcni's name rules
//   and the ifname rules forbid it). The VLAN gateway pair carries the mark GATEWAY_ID in place of a container ID;
// - the host veth's name, `veth` + 11 hex digits of a hash of the triple, set by the request that creates the pair
//   (the kernel ignores IFLA_IFALIAS in RTM_NEWLINK, so the alias needs a second request; a plugin killed between
//   the two leaves a veth that DEL still finds by its name);
// - firewall objects: the reference plugin's names and comments (src/firewall/layout.ts).
import type { Link } from '../kernel/index.js';

/** sha256 of `s` (UTF-8) in hex, by Bun's native hasher (node:crypto would load its whole module on every call). */
const sha256Hex = (s: string): string => new Bun.CryptoHasher('sha256').update(s).digest('hex');

export interface AttachmentId {
  network: string;
  containerId: string;
  ifname: string;
}

/** The attachment a request names on a network. */
export function attachmentOf(network: string, req: { containerId: string; ifname: string }): AttachmentId {
  return { network, containerId: req.containerId, ifname: req.ifname };
}

// ---- ifalias ----

const PREFIX = 'vlan-bridge';
const MAX = 255;

/**
 * The container ID field of the VLAN gateway's alias (`<bridge>.<vlan>`, made by l3.ts, which writes this value
 * literally). It starts with '_', which libcni's container ID rule ([a-zA-Z0-9][a-zA-Z0-9_.-]*) forbids, so no
 * attachment can carry it: GC, DEL and CHECK never mistake a pod for the gateway or the gateway for a pod.
 */
export const GATEWAY_ID = '_gateway';

/** What gateways made before GATEWAY_ID carried; a pod may have that container ID too (see isGatewayLink). */
const LEGACY_GATEWAY_ID = 'gateway';

/**
 * Whether a host link with alias `a` is a VLAN gateway rather than a pod's host veth: the GATEWAY_ID mark, or the
 * old 'gateway' mark on a veth whose peer is in the same namespace (`peerElsewhere` false; a pod's host veth has
 * its peer in the pod, so a pod whose container ID is "gateway" is not taken for one).
 */
export function isGatewayLink(a: AttachmentId, peerElsewhere: boolean): boolean {
  return a.containerId === GATEWAY_ID || (a.containerId === LEGACY_GATEWAY_ID && !peerElsewhere);
}

/** Bytes of `s` in UTF-8: the kernel's limits are in bytes. */
const bytes = (s: string): number => Buffer.byteLength(s);

function networkField(network: string, room: number): string {
  if (bytes(network) <= room) return network;
  return `#${sha256Hex(network).slice(0, 16)}`;
}

export function formatAlias(a: AttachmentId): string {
  const room = MAX - bytes(PREFIX) - bytes(a.containerId) - bytes(a.ifname) - 3;
  return `${PREFIX}:${networkField(a.network, room)}:${a.containerId}:${a.ifname}`;
}

/** The attachment an alias names, or null when the alias is not one of ours. */
export function parseAlias(alias: string | undefined): AttachmentId | null {
  if (!alias) return null;
  const parts = alias.split(':');
  if (parts.length !== 4 || parts[0] !== PREFIX) return null;
  const [, network, containerId, ifname] = parts as [string, string, string, string];
  if (!network || !containerId || !ifname) return null;
  return { network, containerId, ifname };
}

/** Whether an alias belongs to this network (by name, or by the hash used for very long names). */
export function aliasMatchesNetwork(a: AttachmentId, network: string): boolean {
  return a.network === network || a.network === networkField(network, 0);
}

// ---- host veth name ----

/** Hex digits of the attachment hash in the name: "veth" + 11 = 15 characters, the kernel's limit (IFNAMSIZ - 1). */
const HASH_CHARS = 11;

/**
 * The host veth name of an attachment: `veth` + 11 hex digits of sha256(network NUL container ID NUL ifname)
 * (44 bits: among 10,000 attachments on a node, a collision has a chance of about 3 in a million, and is detected).
 */
export function hostVethName(a: AttachmentId): string {
  const h = sha256Hex(`vlan-bridge\0${a.network}\0${a.containerId}\0${a.ifname}`);
  return `veth${h.slice(0, HASH_CHARS)}`;
}

/**
 * Whether host link `l` is the host end of attachment `a` on network `a.network`: a veth carrying our alias for it,
 * or, while it has no alias yet (a plugin killed right after creating it), a veth with the attachment's name.
 */
export function isHostVethOf(l: Link, a: AttachmentId): boolean {
  if (l.kind !== 'veth') return false;
  const al = parseAlias(l.alias);
  if (al) return al.containerId === a.containerId && al.ifname === a.ifname && aliasMatchesNetwork(al, a.network);
  return l.name === hostVethName(a);
}
