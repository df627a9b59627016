// The bridge: reused when it exists, created when it does not (concurrent ADDs may race to create it).
import { CniError, Code, show } from '../cni/errors.js';
import type { NetConf } from '../cni/config.js';
import {
  createBridge,
  getLink,
  isErrno,
  setLink,
  writeSysctl,
  type Link,
  type NetlinkSocket,
} from '../kernel/index.js';
import { step, toCniError } from './errors.js';
import { usesVlans, vlanFiltering } from './vlans.js';

/** The config key that makes this config need VLAN filtering, as `key=value` for messages. */
function vlanKey(conf: NetConf): string {
  return conf.vlan ? `vlan=${conf.vlan}` : `vlanTrunk=${show(conf.vlanTrunk ?? [])}`;
}

/**
 * Code 108: this kernel cannot do what the config asks. The hint names what works on this machine: another kernel,
 * or a config without VLAN keys (the untagged network).
 */
function noVlanFiltering(conf: NetConf): CniError {
  return new CniError(
    Code.KernelFeature,
    `this kernel has no bridge VLAN filtering, which ${vlanKey(conf)} needs`,
    `kernel option CONFIG_BRIDGE_VLAN_FILTERING, needed by config key ${vlanKey(conf)}: run on a kernel built with it, or leave out vlan and vlanTrunk (the untagged network)`,
  );
}

function checkExisting(br: Link, conf: NetConf): void {
  if (br.kind !== 'bridge') {
    throw new CniError(
      Code.BridgeConflict,
      `"${conf.bridge}" exists but is not a bridge`,
      `found a device of kind ${br.kind ?? 'unknown'}`,
    );
  }
  // Decision: a VLAN config on a bridge without VLAN filtering would give no isolation at all (every VLAN entry
  // is ignored), and turning filtering on would change switching for every other port and the uplink. Refuse.
  const filtering = vlanFiltering(br);
  if (usesVlans(conf.vlans) && filtering !== 'on') {
    if (filtering === 'unsupported') throw noVlanFiltering(conf);
    throw new CniError(
      Code.BridgeConflict,
      `bridge "${conf.bridge}" has VLAN filtering off: ${vlanKey(conf)} would not be isolated`,
      `turn it on (ip link set ${conf.bridge} type bridge vlan_filtering 1; this changes switching for every port), or delete the bridge and let vlan-bridge create it`,
    );
  }
}

/** Read-only: the bridge as it stands, or null when it does not exist yet; throws when it cannot be used. */
export function inspectBridge(host: NetlinkSocket, conf: NetConf): Link | null {
  const br = step(`look up bridge "${conf.bridge}"`, () => getLink(host, conf.bridge));
  if (br) checkExisting(br, conf);
  return br;
}

/** The bridge up (and promiscuous when asked; never turned off), created if missing. */
export function ensureBridge(host: NetlinkSocket, conf: NetConf): Link {
  let br = inspectBridge(host, conf);
  if (!br) {
    try {
      br = createBridge(host, {
        name: conf.bridge,
        mtu: conf.mtu || undefined,
        vlanFiltering: usesVlans(conf.vlans) || undefined,
      });
      try {
        writeSysctl(null, `net/ipv6/conf/${conf.bridge}/accept_ra`, '0');
      } catch {
        // No IPv6 on this node: nothing to turn off.
      }
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) {
        if (isErrno(err, 'EOPNOTSUPP', 'ENOTSUP') && usesVlans(conf.vlans)) {
          throw noVlanFiltering(conf);
        }
        throw toCniError(err, `create bridge "${conf.bridge}"`);
      }
      // Another ADD created it first: use theirs.
      br = inspectBridge(host, conf);
      if (!br) throw new CniError(Code.TryAgainLater, `bridge "${conf.bridge}" appeared and vanished during ADD`);
    }
  }
  const changes: { up?: boolean; promisc?: boolean } = {};
  if (!br.up) changes.up = true;
  if (conf.promiscMode && !br.promisc) changes.promisc = true;
  if (Object.keys(changes).length > 0) {
    const index = br.index;
    step(`set bridge "${conf.bridge}" ${Object.keys(changes).join(', ')}`, () => setLink(host, index, changes));
    br = { ...br, ...changes };
  }
  return br;
}

/**
 * Pins the MAC of a gateway bridge to the address it has before the pod's port joins (`br` as ensureBridge read it):
 * setting it makes the kernel mark it as set by the administrator (addr_assign_type NET_ADDR_SET), so it no longer
 * follows the lowest-MAC port (net/bridge/br_stp_if.c `br_stp_recalculate_bridge_id`). Otherwise deleting the pod
 * whose veth lent the bridge its MAC changes the gateway's MAC under every other pod's ARP entry, and a pod's host
 * veth shares the bridge's MAC. The reference's `ensureAddr` (plugins/main/bridge/bridge.go, v1.9.1) sets the MAC
 * of the `netlink.Bridge` it read before the veth was attached, after IPAM; pinning before the port joins gives the
 * same MAC and leaves no moment, for a plugin killed mid-ADD, when the bridge carries a pod's MAC. With `vlan` the
 * gateway is the `<bridge>.<vlan>` veth, whose MAC never follows anything, and the bridge is left alone. Throws
 * CniError 100 when the kernel refuses.
 */
export function pinBridgeMac(host: NetlinkSocket, br: Link): void {
  const mac = br.mac;
  if (!mac) return;
  step(`pin the MAC of bridge "${br.name}" (${mac})`, () => setLink(host, br.index, { mac }));
}
