// What an uplink is, and the MTU a pod inherits from it. One definition for the plugin (MTU inheritance, CHECK)
// and for doctor: an uplink is a port of the bridge that is neither a veth (pods, the `<bridge>.<vlan>` gateway,
// discover's probes, other namespaces' links) nor a tun/tap device (a VM's NIC). Harvester's rule is that VM
// networks take the MTU of the cluster network's uplink (`<cluster-network>-bo`), so the bridge's own MTU, which
// the kernel lowers to its smallest port, is only the fallback for a bridge with no uplink.
import type { Link, Port } from '../kernel/index.js';

/** True for a bridge port that leads out of the node: not a veth, not a tun/tap (kinds from IFLA_INFO_KIND). */
export function isUplink(port: Pick<Port, 'kind'>): boolean {
  return port.kind !== 'veth' && port.kind !== 'tun';
}

/** The uplinks of `bridge` among `links` (the bridge's ports from `listPorts`, or any list of the host's links). */
export function uplinksOf<P extends Port>(bridge: Link, links: readonly P[]): P[] {
  return links.filter((l) => l.master === bridge.index && l.index !== bridge.index && isUplink(l));
}

/**
 * The MTU (bytes) that a pod with no `mtu` takes on `bridge`: the smallest of its uplinks' MTUs, or the bridge's
 * own MTU when it has no uplink. Pods of other networks (whatever their `mtu`) never change it.
 */
export function inheritedMtu(bridge: Link, links: readonly Port[]): number {
  const up = uplinksOf(bridge, links);
  return up.length > 0 ? Math.min(...up.map((l) => l.mtu)) : bridge.mtu;
}
