// discover's probe: a temporary network namespace with one veth whose host end is a port of the bridge on the
// VLAN asked for (access: `VID PVID untagged`, as the plugin plugs a VLAN pod), everything removed by remove().
//
// The namespace is made with unshare(CLONE_NEWNET) (Netns.create): it has no name and no mount point and lives only
// while this process holds its fd or a socket in it. So however the process ends, SIGKILL included, the kernel
// destroys it and with it the veth pair: nothing is left on the node. remove() deletes the veth synchronously so a
// normal exit leaves nothing behind even for an instant.
import { randomBytes } from 'node:crypto';
import {
  Netns,
  addRoute,
  createVeth,
  deleteLink,
  getLink,
  isErrno,
  openNetlink,
  setLink,
  writeSysctl,
  type Link,
  type NetlinkSocket,
} from '../kernel/index.js';
import { applyPortVlans, vlanFiltering } from '../plugin/vlans.js';
import { Exit, ToolError, step } from './errors.js';

/** Prefix of the probe's host veth alias; the pid follows, so doctor can tell a leftover from a running probe. */
export const PROBE_ALIAS_PREFIX = 'vlan-bridge-discover:';
export const PROBE_IFNAME = 'eth0';

export interface Probe {
  ns: Netns;
  /** Netlink socket inside the probe's namespace. */
  sock: NetlinkSocket;
  hostName: string;
  hostIndex: number;
  /** The interface inside the namespace. */
  ifindex: number;
  mac: string;
  mtu: number;
  /** Deletes the veth and lets the namespace go; returns what could not be undone. Safe to call twice. */
  remove(): string[];
}

/** The bridge to probe, checked as the plugin checks it: a VLAN needs VLAN filtering. */
export function probeBridge(host: NetlinkSocket, name: string, vlan: number): Link {
  const br = step(`look up bridge "${name}"`, () => getLink(host, name));
  if (!br) throw new ToolError(Exit.Bridge, `bridge "${name}" does not exist`);
  if (br.kind !== 'bridge')
    throw new ToolError(Exit.Bridge, `"${name}" is not a bridge (kind ${br.kind ?? 'unknown'})`);
  const filtering = vlanFiltering(br);
  if (vlan !== 0 && filtering === 'unsupported') {
    throw new ToolError(
      Exit.Bridge,
      `this kernel has no bridge VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING): VLAN ${vlan} cannot exist on "${name}"`,
    );
  }
  if (vlan !== 0 && filtering === 'off') {
    throw new ToolError(Exit.Bridge, `bridge "${name}" has VLAN filtering off: VLAN ${vlan} does not exist on it`);
  }
  if (vlan === 0 && filtering === 'on' && br.bridge?.defaultPvid === 0) {
    throw new ToolError(Exit.Bridge, `bridge "${name}" has no default PVID: it has no untagged network (give --vlan)`);
  }
  return br;
}

/** Creates the probe. On any failure what was made is removed before the error is thrown. */
export function createProbe(host: NetlinkSocket, br: Link, vlan: number): Probe {
  const ns = step('create a network namespace', () => Netns.create('the discover namespace'));
  let sock: NetlinkSocket | undefined;
  let hostIndex: number | undefined;
  let removed = false;
  const remove = (): string[] => {
    if (removed) return [];
    removed = true;
    const failures: string[] = [];
    if (hostIndex !== undefined) {
      try {
        deleteLink(host, hostIndex);
      } catch (err) {
        if (!isErrno(err, 'ENODEV')) failures.push(`delete probe veth: ${(err as Error).message}`);
      }
    }
    sock?.close();
    ns.close();
    return failures;
  };
  try {
    sock = step('open a netlink socket in the discover namespace', () => openNetlink(ns));
    const hostName = `vbdisc${randomBytes(4).toString('hex')}`;
    const mtu = br.mtu;
    const hostEnd = step(`create veth "${hostName}"`, () =>
      createVeth(host, { name: hostName, mtu }, { name: PROBE_IFNAME, mtu, netnsFd: ns.fd }),
    );
    hostIndex = hostEnd.index;
    const index = hostEnd.index;
    step(`connect "${hostName}" to bridge "${br.name}"`, () =>
      setLink(host, index, { master: br.index, alias: `${PROBE_ALIAS_PREFIX}${process.pid}` }),
    );
    if (vlan !== 0) {
      // The access port a VLAN pod gets, without the default VLAN.
      step(`put "${hostName}" on VLAN ${vlan}`, () =>
        applyPortVlans(host, index, { vlan, trunkRanges: [], preserveDefaultVlan: false }),
      );
    }
    const s = sock;
    const inner = step(`look up ${PROBE_IFNAME} in the discover namespace`, () => getLink(s, PROBE_IFNAME));
    if (!inner?.mac) throw new ToolError(Exit.Kernel, `${PROBE_IFNAME} vanished from the discover namespace`);
    // Quiet on the VLAN: no IPv6 router solicitations, DAD or MLD from the probe (best effort: IPv6 may be off).
    try {
      writeSysctl(ns, `net/ipv6/conf/${PROBE_IFNAME}/disable_ipv6`, '1');
    } catch {
      // no IPv6 in this kernel
    }
    step(`set ${PROBE_IFNAME} up`, () => setLink(s, inner.index, { up: true }));
    step(`set "${hostName}" up`, () => setLink(host, index, { up: true }));
    // A route for the limited broadcast (255.255.255.255) and for the server's replies to pass reverse-path
    // filtering: the namespace has this one interface, so everything goes out of it.
    step('add the probe route', () => addRoute(s, { dst: '0.0.0.0/0', oif: inner.index, scope: 'link' }));
    return { ns, sock: s, hostName, hostIndex: index, ifindex: inner.index, mac: inner.mac, mtu, remove };
  } catch (err) {
    remove();
    throw err;
  }
}

/**
 * Waits (bounded) until the host port forwards: frames sent before that are dropped by the bridge. With STP on,
 * a new port spends 2 x forward_delay (15 s by default, 30 s at most) listening and learning: discover waits that
 * out before its --timeout starts, since no DHCP answer can come through sooner.
 */
export async function waitForwarding(
  host: NetlinkSocket,
  p: Probe,
  signal: AbortSignal,
  limitMs = 3000,
  stpLimitMs = 61_000,
): Promise<void> {
  const start = Date.now();
  for (;;) {
    signal.throwIfAborted();
    const l = step(`look up "${p.hostName}"`, () => getLink(host, p.hostIndex));
    if (!l) throw new ToolError(Exit.Kernel, `probe veth "${p.hostName}" vanished`);
    const state = l.port?.state;
    if (l.operstate === 'up' && (state === undefined || state === 'forwarding')) return;
    const stp = state === 'listening' || state === 'learning';
    if (Date.now() - start >= (stp ? stpLimitMs : limitMs)) {
      if (stp || state === 'blocking') {
        throw new ToolError(
          Exit.Bridge,
          `the probe's port on the bridge is still ${state} after ${Math.round((Date.now() - start) / 1000)} s (STP): no DHCP answer could reach it`,
        );
      }
      return; // not up yet for another reason: let DHCP try within --timeout
    }
    await new Promise((r) => setTimeout(r, stp ? 100 : 10));
  }
}
