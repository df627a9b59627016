// L3 as the reference does it: the IPAM result's addresses and routes in the pod, gateways computed when
// isGateway, the gateway address on the bridge (or on `<bridge>.<vlan>` when vlan is set), IP forwarding on.
import { CniError, Code } from '../cni/errors.js';
import { vlanGatewayName, vlanGatewayProblem, type NetConf } from '../cni/config.js';
import type { Result } from '../cni/result.js';
import {
  Netns,
  addAddress,
  addRoute,
  createVeth,
  delAddress,
  deleteLink,
  getLink,
  listAddresses,
  listPorts,
  portVlans,
  setLink,
  writeSysctl,
  type Link,
  type NetlinkSocket,
} from '../kernel/index.js';
import { familyOf, firstHost, parseCidr, sameSubnet } from '../ip.js';
import {
  GATEWAY_ID,
  aliasMatchesNetwork,
  formatAlias,
  isGatewayLink,
  parseAlias,
  type AttachmentId,
} from './attachment.js';
import type { Undo } from './undo.js';
import { step } from './errors.js';
import { applyPortVlans } from './vlans.js';
import { MAX_IFNAME } from '../cni/names.js';

/**
 * Whether another attachment of this network than `id` is on bridge `br` (a veth carrying its alias): the shared
 * gateway interface and address that a failed ADD made are undone only while no other pod may rely on them.
 */
function othersOnBridge(host: NetlinkSocket, br: Link, id: AttachmentId): boolean {
  return listPorts(host, br.index, { kind: 'veth' }).some((l) => {
    const a = parseAlias(l.alias);
    return (
      l.kind === 'veth' &&
      l.master === br.index &&
      a !== null &&
      !isGatewayLink(a, l.linkNetnsId !== undefined) &&
      aliasMatchesNetwork(a, id.network) &&
      !(a.containerId === id.containerId && a.ifname === id.ifname)
    );
  });
}

/**
 * Puts `cidr` on the link unless it is there; a different address in the same subnet is replaced only with
 * forceAddress. Registers the undo of what it changed (ours removed, replaced ones put back) in `undo`.
 */
function ensureAddress(s: L3Setup, link: Link, cidr: string): void {
  const { host, undo } = s;
  const want = parseCidr(cidr);
  const existing = step(`list addresses of "${link.name}"`, () =>
    listAddresses(host, { index: link.index, family: want.family }),
  );
  if (existing.some((a) => a.ip === want.ip && a.prefix === want.prefix)) return;
  for (const a of existing.filter((x) => sameSubnet(x.cidr, cidr))) {
    if (!s.conf.forceAddress) {
      throw new CniError(
        Code.BridgeConflict,
        `"${link.name}" already has address ${a.cidr}, different from gateway ${cidr}`,
        'set forceAddress to replace it',
      );
    }
    step(`remove ${a.cidr} from "${link.name}"`, () => delAddress(host, link.index, a.cidr));
    undo.push(`put ${a.cidr} back on "${link.name}"`, () => addAddress(host, link.index, a.cidr, { replace: true }));
  }
  step(`add gateway ${cidr} to "${link.name}"`, () => addAddress(host, link.index, cidr, { replace: true }));
  undo.push(`remove gateway ${cidr} from "${link.name}"`, () => {
    if (!othersOnBridge(host, s.br, s.id)) delAddress(host, link.index, cidr);
  });
}

/**
 * `<bridge>.<vlan>`: a veth in the host namespace whose peer (`vgw<bridge index>v<vlan>`) is an access port of the
 * VLAN (as the reference). Made idempotently, so that what a killed ADD left is completed or replaced: a pair with
 * one end missing is made anew, and the peer is put on the bridge, labelled, given the VLAN and set up whatever it
 * had. A pair this ADD made is undone with the ADD unless another pod of the network is on the bridge by then.
 */
function vlanGateway(s: L3Setup): Link {
  const { host, br, conf, undo } = s;
  // Of the bridge's own name: a config may name the bridge by an altname, and every network of the bridge must find
  // the same gateway. Its length was checked on the config's name; the bridge's own may be longer.
  const name = vlanGatewayName(br.name, conf.vlan);
  const problem = vlanGatewayProblem(name);
  if (problem) throw new CniError(Code.InvalidConfig, 'invalid network configuration', `isGateway: ${problem}`);
  const peerName = `vgw${br.index.toString(16)}v${conf.vlan}`.slice(0, MAX_IFNAME);
  let gw = step(`look up "${name}"`, () => getLink(host, name));
  let peer = step(`look up "${peerName}"`, () => getLink(host, peerName));
  if (!gw || !peer || gw.peerIndex !== peer.index) {
    for (const half of [gw, peer])
      if (half) step(`delete the incomplete gateway half "${half.name}"`, () => deleteLink(host, half.index));
    // Registered before the request: the pair may exist even when the request's read-back fails.
    undo.push(`delete gateway interface "${name}"`, () => {
      const made = getLink(host, peerName);
      if (made && !othersOnBridge(host, br, s.id)) deleteLink(host, made.index);
    });
    const self = Netns.current();
    try {
      peer = step(`create gateway interface "${name}"`, () =>
        createVeth(
          host,
          { name: peerName, mtu: s.uplinkMtu, master: br.index },
          { name, netnsFd: self.fd, mtu: s.uplinkMtu },
        ),
      );
    } finally {
      self.close();
    }
    gw = step(`look up "${name}"`, () => getLink(host, name));
    if (!gw) throw new CniError(Code.Kernel, `gateway interface "${name}" vanished right after it was made`);
  }
  const p = peer;
  if (p.master !== br.index || parseAlias(p.alias)?.containerId !== GATEWAY_ID) {
    step(`connect "${p.name}" to "${br.name}"`, () =>
      setLink(host, p.index, {
        master: br.index,
        alias: formatAlias({ network: conf.name, containerId: GATEWAY_ID, ifname: name }),
      }),
    );
  }
  const current = step(`read VLANs of "${p.name}"`, () => portVlans(host, p.index));
  if (!current.some((v) => v.min <= conf.vlan && conf.vlan <= v.max && v.pvid && v.untagged)) {
    step(`set VLAN ${conf.vlan} on "${p.name}"`, () =>
      applyPortVlans(
        host,
        p.index,
        {
          vlan: conf.vlan,
          trunkRanges: [],
          preserveDefaultVlan: conf.preserveDefaultVlan,
        },
        current,
      ),
    );
  }
  const g = gw;
  if (!p.up) step(`set "${p.name}" up`, () => setLink(host, p.index, { up: true }));
  if (!g.up) step(`set "${name}" up`, () => setLink(host, g.index, { up: true }));
  return g;
}

export interface L3Setup {
  host: NetlinkSocket;
  podSock: NetlinkSocket;
  pod: Netns;
  br: Link;
  /** The MTU the bridge's uplink gives (src/plugin/uplink.ts), for the shared `<bridge>.<vlan>` gateway pair. */
  uplinkMtu: number;
  container: Link;
  conf: NetConf;
  result: Result;
  ifname: string;
  /** The attachment, for telling other pods of the network from this one. */
  id: AttachmentId;
  /** ADD's rollback: every change made here registers its undo. */
  undo: Undo;
}

/**
 * L3 of one attachment (see the top of this file). Throws the CniError of the failing step; everything it changed
 * up to then is registered in `s.undo`, which the caller runs.
 */
export function setupL3(s: L3Setup): void {
  const { conf, result } = s;
  const ips = result.ips ?? [];
  if (conf.isGateway) for (const ip of ips) ip.gateway ??= firstHost(ip.address);
  const routes = (result.routes ??= []);
  if (conf.isDefaultGateway) {
    for (const family of [4, 6] as const) {
      const gw = ips.find((ip) => familyOf(parseCidr(ip.address).ip) === family && ip.gateway)?.gateway;
      const dst = family === 4 ? '0.0.0.0/0' : '::/0';
      if (gw && !routes.some((r) => r.dst === dst)) routes.push({ dst, gw });
    }
  }
  if (routes.length === 0) delete result.routes;

  if (ips.some((ip) => familyOf(parseCidr(ip.address).ip) === 6)) {
    try {
      writeSysctl(s.pod, `net/ipv6/conf/${s.ifname}/disable_ipv6`, '0');
    } catch {
      // IPv6 not available in the pod; adding the address below will say so.
    }
  }
  for (const ip of ips) {
    step(`add ${ip.address} to "${s.ifname}"`, () =>
      addAddress(s.podSock, s.container.index, ip.address, { noDad: !conf.enabledad }),
    );
  }
  for (const r of routes) {
    const fam = familyOf(parseCidr(r.dst).ip);
    const gw = r.gw ?? ips.find((ip) => familyOf(parseCidr(ip.address).ip) === fam && ip.gateway)?.gateway;
    step(`add route ${r.dst}${gw ? ` via ${gw}` : ''} in the pod`, () =>
      addRoute(s.podSock, {
        dst: r.dst,
        gw,
        oif: s.container.index,
        mtu: r.mtu,
        advmss: r.advmss,
        priority: r.priority,
        table: r.table,
      }),
    );
  }

  if (!conf.isGateway) return;
  const gwLink = conf.vlan ? vlanGateway(s) : s.br;
  const families = new Set<4 | 6>();
  for (const ip of ips) {
    if (!ip.gateway) continue;
    const { prefix, family } = parseCidr(ip.address);
    ensureAddress(s, gwLink, `${ip.gateway}/${prefix}`);
    families.add(family);
  }
  if (families.has(4)) step('enable IPv4 forwarding', () => writeSysctl(null, 'net/ipv4/ip_forward', '1'));
  if (families.has(6)) step('enable IPv6 forwarding', () => writeSysctl(null, 'net/ipv6/conf/all/forwarding', '1'));
}
