// The host veth's ifalias names the attachment it belongs to, so DEL, GC and operators can find it:
//   vlan-bridge:<network name>:<container ID>:<ifname>
// None of the three can contain ':' (libcni's name rules and the ifname rules forbid it). IFALIASZ is 256: a
// network name too long to fit is replaced by '#' and a hash of it.
import { createHash } from 'node:crypto';

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

export interface AttachmentId {
  network: string;
  containerId: string;
  ifname: string;
}

function networkField(network: string, room: number): string {
  if (network.length <= room) return network;
  return `#${createHash('sha256').update(network).digest('hex').slice(0, 16)}`;
}

export function formatAlias(a: AttachmentId): string {
  const room = MAX - PREFIX.length - a.containerId.length - a.ifname.length - 3;
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
