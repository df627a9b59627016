// The bridge: reused when it exists, created when it does not (concurrent ADDs may race to create it).
import { CniError, Code } from '../cni/errors.js';
import type { NetConf } from '../cni/config.js';
import { createBridge, getLink, isErrno, setLink, writeSysctl, type Link, type NetlinkSocket } from '../kernel/index.js';
import { kernelFailure, step } from './errors.js';
import { usesVlans } from './vlans.js';

function checkExisting(br: Link, conf: NetConf): void {
  if (br.kind !== 'bridge') {
    throw new CniError(Code.BridgeConflict, `"${conf.bridge}" exists but is not a bridge`, `found a device of kind ${br.kind ?? 'unknown'}`);
  }
  // Decision: a VLAN config on a bridge without VLAN filtering would give no isolation at all (every VLAN entry
  // is ignored), and turning filtering on would change switching for every other port and the uplink. Refuse.
  if (usesVlans(conf) && !br.bridge?.vlanFiltering) {
    throw new CniError(Code.BridgeConflict, `bridge "${conf.bridge}" has VLAN filtering off: VLAN ${conf.vlan || 'trunk'} would not be isolated`,
      `enable it (ip link set ${conf.bridge} type bridge vlan_filtering 1) or let vlan-bridge create the bridge`);
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
      br = createBridge(host, { name: conf.bridge, mtu: conf.mtu || undefined, vlanFiltering: usesVlans(conf) || undefined });
      try {
        writeSysctl(null, `net/ipv6/conf/${conf.bridge}/accept_ra`, '0');
      } catch {
        // No IPv6 on this node: nothing to turn off.
      }
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) {
        if (isErrno(err, 'EOPNOTSUPP', 'ENOTSUP') && usesVlans(conf)) {
          throw new CniError(Code.Kernel, `cannot create bridge "${conf.bridge}" with VLAN filtering: the kernel does not support it`, 'CONFIG_BRIDGE_VLAN_FILTERING');
        }
        throw kernelFailure(`create bridge "${conf.bridge}"`, err);
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
