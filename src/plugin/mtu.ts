// MTU of a pod's veth pair. An explicit `mtu` goes on both ends. With none (or 0) both ends take the bridge's
// MTU, which follows its uplink: a 9000 uplink gives 9000 pods (the reference leaves them at 1500, Harvester
// issue #4353). Decision: an explicit `mtu` above the bridge's is an error, since frames larger than the
// bridge/uplink MTU would be dropped silently on the way out.
import { CniError, Code } from '../cni/errors.js';
import type { Link } from '../kernel/index.js';

export function podMtu(configured: number, bridge: Link): number {
  if (!configured) return bridge.mtu;
  if (configured > bridge.mtu) {
    throw new CniError(Code.BridgeConflict, `mtu ${configured} exceeds bridge "${bridge.name}" MTU ${bridge.mtu}`,
      'frames above the bridge (uplink) MTU would be dropped: raise the uplink MTU or lower "mtu" (0 inherits the bridge\'s)');
  }
  return configured;
}
