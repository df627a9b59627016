// ADD: bridge, veth pair, VLANs, port flags, IPAM and L3, then wait for the port to forward. Everything is
// validated before the first change; after it, every change registers its undo, and any failure undoes all.
import { CniError, Code, cut, listed } from '../cni/errors.js';
import type { Ctx } from '../cni/context.js';
import type { NetConf } from '../cni/config.js';
import type { AddRequest } from '../cni/env.js';
import type { Interface, Result } from '../cni/result.js';
import {
  Netns,
  createVeth,
  deleteLink,
  getLink,
  isErrno,
  listPorts,
  openNetlink,
  setBridgePort,
  setLink,
  writeSysctl,
  type Link,
  type NetlinkSocket,
} from '../kernel/index.js';
import { ensureBridge, pinBridgeMac } from './bridge.js';
import { step, toCniError } from './errors.js';
import { attachmentOf, formatAlias, hostVethName, isHostVethOf, type AttachmentId } from './attachment.js';
import { inheritedMtu, podMtu, uplinksOf } from './uplink.js';
import { applyPortVlans, usesVlans } from './vlans.js';
import { syncUplinkVlans } from './uplink-vlans/sync.js';
import { Undo } from './undo.js';
import { setupL3 } from './l3.js';
import { openPodNetns } from './pod.js';
import { ipamAdd, ipamCall, ipamDel } from '../ipam/delegate.js';
import { waitForwarding } from './wait.js';
import type { Logger } from '../cni/log.js';
import { setupMacSpoofCheck, setupMasq, teardownAttachment } from '../firewall/index.js';

/**
 * Creates the pair: the host end named after the attachment and enslaved to the bridge in the same request, so it
 * is recognisably this attachment's from the moment it exists (attachment.ts); the pod end placed in the pod as
 * `ifname`. A host veth of that name left by an earlier ADD of this attachment that was killed (no alias, or ours)
 * is replaced. Throws 102 when the pod has `ifname` already, 100 for other kernel refusals.
 */
function createPair(
  host: NetlinkSocket,
  pod: Netns,
  id: AttachmentId,
  br: Link,
  mtu: number,
  mac: string | undefined,
): Link {
  const name = hostVethName(id);
  for (let attempt = 0; ; attempt++) {
    try {
      return createVeth(host, { name, mtu, master: br.index }, { name: id.ifname, netnsFd: pod.fd, mtu, mac });
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw toCniError(err, `create veth pair for "${id.ifname}"`);
      const stale = step(`look up "${name}"`, () => getLink(host, name));
      if (!stale) throw new CniError(Code.IfnameExists, `interface "${id.ifname}" already exists in ${cut(pod.path)}`);
      if (attempt > 0 || !isHostVethOf(stale, id)) {
        throw new CniError(
          Code.Kernel,
          `host veth name "${name}" is taken by another device`,
          `its alias: ${stale.alias ?? 'none'}`,
        );
      }
      step(`delete "${name}", left by an earlier ADD of this attachment`, () => deleteLink(host, stale.index));
    }
  }
}

/** What ADD has open for the whole command: the pod's namespace and a netlink socket in each namespace. */
interface Sockets {
  pod: Netns;
  host: NetlinkSocket;
  podSock: NetlinkSocket;
}

/**
 * ADD (CNI spec, "ADD: Add container to network"): the bridge, the pair, its VLANs and port flags, the firewall, IPAM
 * and L3, then the wait for the port to forward. Returns the 1.1.0 result (converted by the caller). Throws the
 * CniError of the failing step (102 when the pod has CNI_IFNAME already, 103 for an MTU above the uplink's, ...)
 * after undoing everything it changed.
 */
export async function cmdAdd(req: AddRequest, ctx: Ctx): Promise<Result> {
  const pod = openPodNetns(req.netns);
  const host = step('open netlink socket', () => openNetlink(null));
  const podSock = step(`open netlink socket in ${cut(req.netns)}`, () => openNetlink(pod));
  const undo = new Undo();
  try {
    return await attach({ pod, host, podSock }, req, ctx, undo);
  } catch (err) {
    const failures = undo.run();
    if (failures.size > 0) ctx.log.warn(`rollback after failed ADD left something behind: ${listed(failures.lines())}`);
    throw err;
  } finally {
    host.close();
    podSock.close();
    pod.close();
  }
}

/** ADD's steps in order; every change registers its undo in `undo` before it is made. */
async function attach(s: Sockets, req: AddRequest, ctx: Ctx, undo: Undo): Promise<Result> {
  const { conf } = ctx;
  const { pod, host, podSock } = s;
  if (step(`look up "${req.ifname}" in ${cut(req.netns)}`, () => getLink(podSock, req.ifname))) {
    throw new CniError(Code.IfnameExists, `interface "${req.ifname}" already exists in ${cut(req.netns)}`);
  }
  const br = ensureBridge(host, conf);
  // Before the pod's port joins: the bridge keeps the MAC it has now (bridge.ts).
  if (conf.gatewayOnBridge) pinBridgeMac(host, br);
  const ports = step(`list the ports of bridge "${br.name}"`, () => listPorts(host, br.index));
  const uplinks = uplinksOf(br, ports);
  const mtu = podMtu(conf.mtu, br, uplinks);

  const id = attachmentOf(conf.name, req);
  // Runs last in a rollback, once the pair is gone: the uplinks lose the VIDs this ADD added for it alone.
  if (conf.uplinkVlans)
    undo.push('bring the uplink VLANs back in step', () =>
      syncUplinkVlans(host, br.name, { to: 'none' }, ctx.env, ctx.log),
    );
  // Registered before the request: the pair may exist even when the request's read-back fails.
  undo.push(`delete veth "${hostVethName(id)}"`, () => {
    const made = getLink(host, hostVethName(id));
    if (made && isHostVethOf(made, id)) deleteLink(host, made.index);
  });
  const hostVeth = createPair(host, pod, id, br, mtu, ctx.mac);
  step(`label "${hostVeth.name}" with its attachment`, () => setLink(host, hostVeth.index, { alias: formatAlias(id) }));
  configurePort(host, hostVeth, br, ctx);

  const container = step(`look up "${req.ifname}" in ${cut(req.netns)}`, () => getLink(podSock, req.ifname));
  if (!container) throw new CniError(Code.Kernel, `"${req.ifname}" vanished from ${cut(req.netns)} during ADD`);
  podSysctls(pod, req.ifname, conf.enabledad);
  if (conf.macspoofchk || conf.ipMasq) undo.push('remove firewall rules', () => teardownAttachment(conf, id));
  // As the reference: the spoof check is in place before the pod's interface comes up.
  if (conf.macspoofchk && container.mac) setupMacSpoofCheck(id, hostVeth.name, container.mac);

  // Up before IPAM (the reference brings it up after IPAM, in ConfigureIface, and its dhcp daemon sets the link
  // up itself): a DHCP client (the dhcp IPAM plugin) needs a working link.
  if (!conf.disableContainerInterface)
    step(`set "${req.ifname}" up`, () => setLink(podSock, container.index, { up: true }));

  const l3 = conf.hasIpam ? addressPod(s, br, inheritedMtu(br, uplinks), container, req, ctx, undo) : undefined;
  if (conf.ipMasq && l3?.ips?.length)
    setupMasq(
      conf,
      id,
      l3.ips.map((ip) => ip.address),
    );
  if (!conf.disableContainerInterface) {
    await waitForwarding(host, hostVeth.index, hostVeth.name, ctx.log);
    if (l3?.ips?.length) announceAddresses(podSock, container, req.ifname, ctx.log);
  }
  const hostNow = step(`look up "${hostVeth.name}"`, () => getLink(host, hostVeth.index)) ?? hostVeth;
  const brNow = step(`look up bridge "${br.name}"`, () => getLink(host, br.index)) ?? br;
  return addResult(conf, brNow, hostNow, container, req.netns, l3);
}

/**
 * The host port's VLANs, its share of the uplinks' VLANs (uplinkVlans), its port flags, and up. Throws the CniError of
 * the failing step.
 */
function configurePort(host: NetlinkSocket, hostVeth: Link, br: Link, ctx: Ctx): void {
  const { conf } = ctx;
  if (usesVlans(conf.vlans))
    step(`set VLANs on "${hostVeth.name}"`, () => applyPortVlans(host, hostVeth.index, conf.vlans));
  // Once the port carries its VIDs, it counts among the bridge's users of them. Also for an untagged pod: the
  // bridge's other pods' VIDs are kept on the uplinks, and a wrong uplinkInterface is refused all the same.
  if (conf.uplinkVlans)
    step("add the pods' VIDs to the uplinks", () =>
      syncUplinkVlans(
        host,
        br.name,
        conf.uplinkInterface === undefined ? { to: 'all' } : { to: 'interface', name: conf.uplinkInterface },
        ctx.env,
        ctx.log,
      ),
    );
  if (conf.hairpinMode || conf.portIsolation) {
    step(`set port flags on "${hostVeth.name}"`, () =>
      setBridgePort(host, hostVeth.index, {
        hairpin: conf.hairpinMode || undefined,
        isolated: conf.portIsolation || undefined,
      }),
    );
  }
  step(`set "${hostVeth.name}" up`, () => setLink(host, hostVeth.index, { up: true }));
}

/** IPAM's answer as ADD reports it: addresses, routes, and the DNS that wins (the config's or IPAM's). */
interface L3Result {
  ips?: Result['ips'];
  routes?: Result['routes'];
  dns?: Result['dns'];
}

/**
 * IPAM ADD, then the addresses, routes and gateway (l3.ts). The IPAM release is registered before the call: a plugin
 * stopped at ipamTimeout may have allocated already (DEL is idempotent).
 */
function addressPod(
  s: Sockets,
  br: Link,
  uplinkMtu: number,
  container: Link,
  req: AddRequest,
  ctx: Ctx,
  undo: Undo,
): L3Result {
  const { conf } = ctx;
  const call = ipamCall(req, ctx);
  undo.push(`release IPAM allocation (${call.type})`, () => ipamDel(call));
  const ipam = ipamAdd(call);
  // The config's dns wins when it sets anything, else the IPAM's: the reference's `dnsConfSet` (bridge.go, v1.8.0
  // to v1.9.1), where a key present counts as set even when its list is empty.
  const l3: L3Result = { ips: ipam.ips, routes: ipam.routes, dns: dnsConfSet(conf.dns) ? conf.dns : ipam.dns };
  const result: Result = { cniVersion: '1.1.0', interfaces: [], ...l3 };
  setupL3({ ...s, br, uplinkMtu, container, conf, result, ifname: req.ifname, id: attachmentOf(conf.name, req), undo });
  return { ips: result.ips, routes: result.routes, dns: l3.dns };
}

/**
 * The 1.1.0 result of an ADD (CNI spec, "Success"): interfaces bridge, host veth, pod interface (with its sandbox),
 * every address on the pod interface (index 2), routes, and DNS unless empty. Pure.
 */
export function addResult(
  conf: NetConf,
  br: Link,
  hostVeth: Link,
  container: Link,
  sandbox: string,
  l3: L3Result | undefined,
): Result {
  const ifaces: Interface[] = [
    { name: br.name, mac: br.mac, mtu: br.mtu },
    { name: hostVeth.name, mac: hostVeth.mac, mtu: hostVeth.mtu },
    { name: container.name, mac: container.mac, mtu: container.mtu, sandbox },
  ];
  const result: Result = {
    cniVersion: '1.1.0',
    interfaces: ifaces.map(
      (i) => Object.fromEntries(Object.entries(i).filter(([, v]) => v !== undefined)) as Interface,
    ),
  };
  if (l3?.ips) result.ips = l3.ips.map((ip) => ({ ...ip, interface: 2 }));
  if (l3?.routes) result.routes = l3.routes;
  const dns = l3 ? l3.dns : conf.dns;
  if (dns && Object.keys(dns).length > 0) result.dns = dns;
  return result;
}

/**
 * Tells the segment that the pod's addresses are here now (gratuitous ARP for IPv4, unsolicited neighbour
 * advertisement for IPv6), so a neighbour that cached another MAC for a reused address (the pod that had it
 * before) switches at once instead of after its entry expires. The kernel sends both for every address of the
 * interface on NETDEV_CHANGEADDR when arp_notify / ndisc_notify are on (net/ipv4/devinet.c `inetdev_event`,
 * net/ipv6/ndisc.c `ndisc_netdev_event`); setting the MAC the interface already has raises that event and changes
 * nothing else. Called once the addresses are in place and the host port forwards. Best effort: a failure is
 * logged, never fails the ADD (the neighbours then learn the new MAC when their entries expire).
 */
function announceAddresses(podSock: NetlinkSocket, container: Link, ifname: string, log: Logger): void {
  if (!container.mac) return;
  try {
    setLink(podSock, container.index, { mac: container.mac });
  } catch (err) {
    log.warn(
      `could not announce the addresses of "${ifname}" (gratuitous ARP / unsolicited NA): ${(err as Error).message}`,
    );
  }
}

/**
 * accept_dad off unless enabledad, arp_notify on (the reference does both for L3 configs only), ndisc_notify on
 * (for announceAddresses; ours);
 * IPv6 may be disabled in the pod.
 */
function podSysctls(pod: Netns, ifname: string, enabledad: boolean): void {
  const set = (key: string, value: string, optional: boolean) => {
    try {
      writeSysctl(pod, key, value);
    } catch (err) {
      if (!(optional && (err as NodeJS.ErrnoException).code === 'ENOENT')) throw toCniError(err, `set ${key}=${value}`);
    }
  };
  set(`net/ipv6/conf/${ifname}/accept_dad`, enabledad ? '1' : '0', true);
  set(`net/ipv4/conf/${ifname}/arp_notify`, '1', false);
  set(`net/ipv6/conf/${ifname}/ndisc_notify`, '1', true);
}

/** Whether a config's `dns` sets anything: the reference's `dnsConfSet` (plugins/main/bridge/bridge.go, v1.9.1). */
function dnsConfSet(dns: NetConf['dns']): boolean {
  return (
    dns !== undefined &&
    (dns.nameservers !== undefined || dns.search !== undefined || dns.options !== undefined || !!dns.domain)
  );
}
