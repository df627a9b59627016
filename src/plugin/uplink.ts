// What an uplink is, and the MTU a pod's port takes: the one home of the MTU rule, for ADD, CHECK and doctor.
//
// An uplink is a port of the bridge that is neither a veth (pods, the `<bridge>.<vlan>` gateway, discover's probes,
// other namespaces' links) nor a tun/tap device (a VM's NIC). Harvester's rule is that VM networks take the MTU of
// the cluster network's uplink (`<cluster-network>-bo`), so the bridge's own MTU, which the kernel lowers to its
// smallest port, is only the fallback for a bridge with no uplink.
//
// MTU of a pod's veth pair: an explicit `mtu` goes on both ends. With none (or 0) both ends take the inherited MTU: a
// 9000 uplink gives 9000 pods (the reference leaves them at the kernel's 1500, Harvester issue #4353), even after a
// pod of another network with a smaller `mtu` has lowered the auto-sized bridge. Decision: ADD refuses an explicit
// `mtu` above the inherited one, since frames larger than the uplink MTU would be dropped silently on the way out.
import { CniError, Code } from '../cni/errors.js';
import type { Link, Port } from '../kernel/index.js';

/** True for a bridge port that leads out of the node: not a veth, not a tun/tap (kinds from IFLA_INFO_KIND). */
export function isUplink(port: Pick<Port, 'kind'>): boolean {
  return port.kind !== 'veth' && port.kind !== 'tun';
}

/** The uplinks of `bridge` among `links` (the bridge's ports from `listPorts`, or any list of the host's links). */
export function uplinksOf<P extends Port>(bridge: Link, links: readonly P[]): P[] {
  return links.filter((l) => l.master === bridge.index && l.index !== bridge.index && isUplink(l));
}

/** Where an inherited MTU comes from, for messages: the uplinks', or the bridge's own when it has none. */
export interface MtuSource {
  name: string;
  mtu: number;
}

/**
 * The MTU (bytes) that a pod with no `mtu` takes on bridge `bridge` whose uplinks are `uplinks`: the smallest of
 * their MTUs, or the bridge's own MTU when it has no uplink. Pods of other networks (whatever their `mtu`) never
 * change it. Never throws.
 */
export function inheritedMtu(bridge: MtuSource, uplinks: readonly MtuSource[]): number {
  return uplinks.length > 0 ? Math.min(...uplinks.map((l) => l.mtu)) : bridge.mtu;
}

/** The MTU (bytes) a pod's port should have: `configured` when non-zero, else the inherited one. Never throws. */
export function expectedMtu(configured: number, bridge: MtuSource, uplinks: readonly MtuSource[]): number {
  return configured || inheritedMtu(bridge, uplinks);
}

/**
 * ADD's MTU for both veth ends: expectedMtu, plus ADD's refusal. Throws CniError 103 when `configured` exceeds the
 * inherited MTU.
 */
export function podMtu(configured: number, bridge: MtuSource, uplinks: readonly MtuSource[]): number {
  const inherited = inheritedMtu(bridge, uplinks);
  if (configured > inherited) {
    const of =
      uplinks.length > 0
        ? `the uplink MTU ${inherited} of bridge "${bridge.name}"`
        : `bridge "${bridge.name}" MTU ${inherited}`;
    throw new CniError(
      Code.BridgeConflict,
      `mtu ${configured} exceeds ${of}`,
      'frames above the uplink MTU would be dropped: raise the uplink MTU or lower "mtu" (0 inherits the uplink\'s)',
    );
  }
  return expectedMtu(configured, bridge, uplinks);
}
