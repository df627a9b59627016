// How firewall rules name the attachment they belong to, so DEL (even without a netns) and GC find them:
// the comment `vlan-bridge <network hash> <container ID> <ifname>`.
import { createHash } from 'node:crypto';

export interface Owner {
  network: string;
  containerId: string;
  ifname: string;
}

export const networkTag = (network: string): string => createHash('sha256').update(network).digest('hex').slice(0, 12);

/**
 * The container ID as a comment carries it: as given up to 64 bytes (runtimes' IDs are 64 hex digits), else '#'
 * and 24 hex digits of its sha256. nft refuses comments over 128 bytes; '#' cannot start a container ID (libcni's
 * rule), so a hashed field never equals a real one. Compare comments' owners against this, not the raw ID.
 */
export const containerField = (containerId: string): string =>
  containerId.length <= 64 ? containerId : `#${createHash('sha256').update(containerId).digest('hex').slice(0, 24)}`;

/** At most 12 + 12 + 1 + 64 + 1 + 15 = 105 bytes. */
export const comment = (o: Owner): string => `vlan-bridge ${networkTag(o.network)} ${containerField(o.containerId)} ${o.ifname}`;

/** The owner named by a comment, when it is one of ours for `network`; `containerId` as containerField gives it. */
export function parseComment(text: string, network: string): { containerId: string; ifname: string } | null {
  const parts = text.trim().split(' ');
  if (parts.length !== 4 || parts[0] !== 'vlan-bridge' || parts[1] !== networkTag(network)) return null;
  return { containerId: parts[2]!, ifname: parts[3]! };
}

/** iptables chain of one attachment: at most 28 characters. */
export const chainName = (o: Owner): string =>
  `VB-${createHash('sha256').update(`${o.network}\n${o.containerId}\n${o.ifname}`).digest('hex').slice(0, 24).toUpperCase()}`;
