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
import { ensureBridge, gatewayOnBridge, pinBridgeMac } from './bridge.js';
import { step, toCniError } from './errors.js';
import { attachmentOf, formatAlias, hostVethName, isHostVethOf, type AttachmentId } from './attachment.js';
import { podMtu } from './mtu.js';
import { inheritedMtu } from './uplink.js';
import { applyPortVlans, usesVlans, vlanIntent } from './vlans.js';
import { syncUplinkVlans } from './uplink-vlans.js';
import { Undo } from './undo.js';
import { setupL3 } from './l3.js';
import { openPodNetns, requestedMac } from './pod.js';
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

export async function cmdAdd(req: AddRequest, ctx: Ctx): Promise<Result> {
  const { conf } = ctx;
  const mac = requestedMac(req, ctx);
  const pod = openPodNetns(req.netns);
  const host = step('open netlink socket', () => openNetlink(null));
  const podSock = step(`open netlink socket in ${cut(req.netns)}`, () => openNetlink(pod));
  const undo = new Undo();
  try {
    if (step(`look up "${req.ifname}" in ${cut(req.netns)}`, () => getLink(podSock, req.ifname))) {
      throw new CniError(Code.IfnameExists, `interface "${req.ifname}" already exists in ${cut(req.netns)}`);
    }
    const br = ensureBridge(host, conf);
    // Before the pod's port joins: the bridge keeps the MAC it has now (bridge.ts).
    if (gatewayOnBridge(conf)) pinBridgeMac(host, br);
    const hostLinks = step(`list the ports of bridge "${br.name}"`, () => listPorts(host, br.index));
    const mtu = podMtu(conf.mtu, br, hostLinks);

    const id = attachmentOf(conf.name, req);
    // Runs last in a rollback, once the pair is gone: the uplinks lose the VIDs this ADD added for it alone.
    if (conf.uplinkVlans)
      undo.push('bring the uplink VLANs back in step', () => syncUplinkVlans(host, br.name, null, ctx.env, ctx.log));
    // Registered before the request: the pair may exist even when the request's read-back fails.
    undo.push(`delete veth "${hostVethName(id)}"`, () => {
      const made = getLink(host, hostVethName(id));
      if (made && isHostVethOf(made, id)) deleteLink(host, made.index);
    });
    const hostVeth = createPair(host, pod, id, br, mtu, mac);
    step(`label "${hostVeth.name}" with its attachment`, () =>
      setLink(host, hostVeth.index, { alias: formatAlias(id) }),
    );

    const intent = vlanIntent(conf);
    if (usesVlans(intent)) step(`set VLANs on "${hostVeth.name}"`, () => applyPortVlans(host, hostVeth.index, intent));
    // Once the port carries its VIDs, it counts among the bridge's users of them. Also for an untagged pod: the
    // bridge's other pods' VIDs are kept on the uplinks, and a wrong uplinkInterface is refused all the same.
    if (conf.uplinkVlans)
      step("add the pods' VIDs to the uplinks", () =>
        syncUplinkVlans(host, br.name, conf.uplinkInterface ?? 'all', ctx.env, ctx.log),
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

    const result: Result = { cniVersion: '1.1.0', interfaces: [], dns: conf.dns };
    if (conf.hasIpam) {
      const call = ipamCall(req, ctx);
      // Registered before the call: a plugin stopped at ipamTimeout may have allocated already (DEL is idempotent).
      undo.push(`release IPAM allocation (${call.type})`, () => ipamDel(call));
      const ipam = ipamAdd(call);
      result.ips = ipam.ips;
      result.routes = ipam.routes;
      // The config's dns wins when it sets anything, else the IPAM's: the reference's `dnsConfSet` (bridge.go,
      // v1.8.0 to v1.9.1), where a key present counts as set even when its list is empty.
      if (!dnsConfSet(conf.dns)) result.dns = ipam.dns;
      setupL3({
        host,
        podSock,
        pod,
        br,
        uplinkMtu: inheritedMtu(br, hostLinks),
        container,
        conf,
        result,
        ifname: req.ifname,
        id,
        undo,
      });
    }
    if (conf.ipMasq && result.ips?.length)
      setupMasq(
        conf,
        id,
        result.ips.map((ip) => ip.address),
      );

    if (!conf.disableContainerInterface) {
      await waitForwarding(host, hostVeth.index, hostVeth.name, ctx.log);
      if (result.ips?.length) announceAddresses(podSock, container, req.ifname, ctx.log);
    }
    const hostNow = step(`look up "${hostVeth.name}"`, () => getLink(host, hostVeth.index)) ?? hostVeth;
    const brNow = step(`look up bridge "${br.name}"`, () => getLink(host, br.index)) ?? br;
    const ifaces: Interface[] = [
      { name: brNow.name, mac: brNow.mac, mtu: brNow.mtu },
      { name: hostNow.name, mac: hostNow.mac, mtu: hostNow.mtu },
      { name: req.ifname, mac: container.mac, mtu: container.mtu, sandbox: req.netns },
    ];
    result.interfaces = ifaces.map(
      (i) => Object.fromEntries(Object.entries(i).filter(([, v]) => v !== undefined)) as Interface,
    );
    for (const ip of result.ips ?? []) ip.interface = 2;
    if (!result.dns || Object.keys(result.dns).length === 0) delete result.dns;
    return result;
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
