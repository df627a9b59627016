// The host end of an attachment's veth pair is labelled from the request that creates it: its name is derived
// from the attachment (network, container ID, ifname), and it is created already enslaved to the bridge. The
// ifalias (alias.ts), which names the attachment in full, can only be set by a second request (the kernel ignores
// IFLA_IFALIAS in RTM_NEWLINK); a plugin killed between the two leaves a veth that DEL still finds by its name.
import { createHash } from 'node:crypto';
import type { Link } from '../kernel/index.js';
import { aliasMatchesNetwork, parseAlias, type AttachmentId } from './alias.js';

/** Hex digits of the attachment hash in the name: "veth" + 11 = 15 characters, the kernel's limit (IFNAMSIZ - 1). */
const HASH_CHARS = 11;

/**
 * The host veth name of an attachment: `veth` + 11 hex digits of sha256(network NUL container ID NUL ifname)
 * (44 bits: among 10,000 attachments on a node, a collision has a chance of about 3 in a million, and is detected).
 */
export function hostVethName(a: AttachmentId): string {
  const h = createHash('sha256').update(`vlan-bridge\0${a.network}\0${a.containerId}\0${a.ifname}`).digest('hex');
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
