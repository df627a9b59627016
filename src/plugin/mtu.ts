// MTU of a pod's veth pair. An explicit `mtu` goes on both ends. With none (or 0) both ends take the uplink's MTU
// (src/plugin/uplink.ts: the smallest uplink's, or the bridge's own when it has none): a 9000 uplink gives 9000
// pods (the reference leaves them at the kernel's 1500, Harvester issue #4353), even after a pod of another network
// with a smaller `mtu` has lowered the auto-sized bridge. Decision: an explicit `mtu` above that is an error, since
// frames larger than the uplink MTU would be dropped silently on the way out.
import { CniError, Code } from '../cni/errors.js';
import type { Link, Port } from '../kernel/index.js';
import { inheritedMtu, uplinksOf } from './uplink.js';

/**
 * The MTU (bytes) for both veth ends: `configured` when non-zero, else the inherited one. `links` holds the bridge's
 * ports (listPorts; any list of the host's links will do), to find its uplinks. Throws CniError 103 when
 * `configured` exceeds the inherited MTU.
 */
export function podMtu(configured: number, bridge: Link, links: readonly Port[]): number {
  const inherited = inheritedMtu(bridge, links);
  if (!configured) return inherited;
  if (configured > inherited) {
    const of =
      uplinksOf(bridge, links).length > 0
        ? `the uplink MTU ${inherited} of bridge "${bridge.name}"`
        : `bridge "${bridge.name}" MTU ${inherited}`;
    throw new CniError(
      Code.BridgeConflict,
      `mtu ${configured} exceeds ${of}`,
      'frames above the uplink MTU would be dropped: raise the uplink MTU or lower "mtu" (0 inherits the uplink\'s)',
    );
  }
  return configured;
}
