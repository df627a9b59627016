// CHECK: works for L2 configs (the reference fails on every one: it always calls IPAM CHECK, bridge.go v1.9.1) and
// verifies, besides the MACs and promiscuous mode the reference checks, what it ignores: VLANs on the host port as
// the rule in vlans.ts makes them, MTU (the rule in uplink.ts), hairpin and isolation, plus prevResult's addresses
// and routes. As the reference's cmdCheck splits into validators (validateCniBrInterface, validateCniVethInterface,
// validateCniContainerInterface), each part below compares one thing and records what differs; msg names what
// differs, details give "what: expected X, found Y" (or "missing").
import { CniError, Code, cut, listed, show as quote } from '../cni/errors.js';
import type { Ctx } from '../cni/context.js';
import type { NetConf } from '../cni/config.js';
import type { CheckRequest } from '../cni/env.js';
import type { Result } from '../cni/result.js';
import {
  RT_SCOPE_UNIVERSE,
  RT_TABLE_MAIN,
  getLink,
  listAddresses,
  listLinks,
  listPorts,
  listRoutes,
  openNetlink,
  portVlans,
  type Link,
  type NetlinkSocket,
  type Port,
  type VlanRange,
} from '../kernel/index.js';
import { familyOf, parseCidr } from '../ip.js';
import { ipamCall, ipamCheck } from '../ipam/delegate.js';
import { formatVids, formatVlans } from '../vids.js';
import { attachmentOf, formatAlias, hostVethName, isHostVethOf, parseAlias } from './attachment.js';
import { openPodNetns, peerInHost } from './pod.js';
import { inspectBridge } from './bridge.js';
import { expectedMtu, uplinksOf } from './uplink.js';
import { isManagedVid } from './uplink-vlans/plan.js';
import { step } from './errors.js';
import { expectedPortVlans, normalizeVlans, podVids, usesVlans, vlanFlagsByVid } from './vlans.js';

/** What differs, collected over all validators: `what` (named in msg), `text` (expected and found, in details). */
class Diffs {
  readonly list: Array<{ what: string; text: string }> = [];

  differ(what: string, text: string): void {
    this.list.push({ what, text });
  }

  /** Records a difference when `want` and `got` differ (compared as JSON). */
  expect(what: string, want: unknown, got: unknown): void {
    if (JSON.stringify(want) !== JSON.stringify(got))
      this.differ(what, `expected ${quote(want)}, ${got === undefined ? 'missing' : `found ${quote(got)}`}`);
  }

  /** Throws CniError 105 naming every difference; returns when there is none. */
  throwIfAny(): void {
    if (this.list.length === 0) return;
    const whats = [...new Set(this.list.map((d) => d.what))];
    const msg =
      whats.length === 1
        ? `CHECK failed: ${whats[0]} not as configured`
        : `CHECK failed: ${whats.length} things not as configured: ${listed(whats, ', ')}`;
    throw new CniError(Code.CheckMismatch, msg, listed(this.list.map((d) => `${d.what}: ${d.text}`)));
  }
}

/** The attachment's two ends as CHECK found them. */
interface Pair {
  /** The pod's end, CNI_IFNAME in CNI_NETNS. */
  container: Link;
  /** The host end: ours (labelled), or the unlabelled peer of a reference-made attachment. */
  hostVeth: Link;
  /** Whether hostVeth carries this attachment's identity (made by vlan-bridge). */
  ours: boolean;
  /** Whether the container end's peer is in the host's namespace. */
  peerInHost: boolean;
}

/**
 * Finds both ends. The host end: the veth that carries this attachment's identity (attachment.ts), or, for an
 * attachment the reference plugin made before vlan-bridge took the node over, the container end's peer when it
 * carries no identity of ours (the reference names its host veth at random and labels nothing). Throws CniError
 * 105 when either end is missing.
 */
function findPair(host: NetlinkSocket, podSock: NetlinkSocket, req: CheckRequest, ctx: Ctx): Pair {
  const container = getLink(podSock, req.ifname);
  if (!container)
    throw new CniError(Code.CheckMismatch, `CHECK: interface "${req.ifname}" does not exist in ${cut(req.netns)}`);
  const inHost = step('look up the host namespace from the pod', () => peerInHost(podSock, container));
  const id = attachmentOf(ctx.conf.name, req);
  // By name and by the peer index, one request each (the node's other links are never read).
  const named = step(`look up "${hostVethName(id)}"`, () => getLink(host, hostVethName(id)));
  const peer =
    inHost && container.peerIndex
      ? (step(`look up link ${container.peerIndex}`, () => getLink(host, container.peerIndex!)) ?? undefined)
      : undefined;
  // A host veth with our alias under another name (renamed, or not the peer of this pod end) is found by reading
  // every link, but only when neither lookup found ours: never for a healthy attachment of ours.
  const ours =
    [named, peer].find((l): l is Link => !!l && isHostVethOf(l, id)) ??
    step('list host links', () => listLinks(host)).find((l: Link) => isHostVethOf(l, id));
  const foreign = !ours && peer?.kind === 'veth' && !parseAlias(peer.alias) ? peer : undefined;
  const hostVeth = ours ?? foreign;
  if (!hostVeth)
    throw new CniError(
      Code.CheckMismatch,
      `CHECK: no host veth for ${cut(req.containerId)}/${req.ifname} on network ${quote(ctx.conf.name)}`,
      peer ? `the peer of "${req.ifname}" is "${peer.name}" (alias: ${peer.alias ?? 'none'})` : undefined,
    );
  return { container, hostVeth, ours: ours !== undefined, peerInHost: inHost };
}

/** The pair itself: kinds, the alias of ours, the peer relation across the host and the pod, the bridge. */
function checkPair(d: Diffs, p: Pair, br: Link, host: NetlinkSocket, req: CheckRequest, ctx: Ctx): void {
  const { container, hostVeth } = p;
  d.expect(`"${req.ifname}" kind`, 'veth', container.kind);
  // Found by its name only: an ADD that never finished (it sets the alias right after creating the pair).
  if (p.ours && !parseAlias(hostVeth.alias))
    d.expect(`"${hostVeth.name}" alias`, formatAlias(attachmentOf(ctx.conf.name, req)), hostVeth.alias);
  d.expect(`"${req.ifname}" peer index`, hostVeth.index, container.peerIndex);
  if (!p.peerInHost) {
    const where = container.linkNetnsId === undefined ? 'the pod itself' : `namespace id ${container.linkNetnsId}`;
    d.differ(`"${req.ifname}" peer namespace`, `expected the host's, found ${where}`);
  }
  // The master's name is looked up only to say what it is when it is not the bridge.
  if (hostVeth.master !== br.index)
    d.expect(`"${hostVeth.name}" master`, br.name, hostVeth.master ? getLink(host, hostVeth.master)?.name : undefined);
}

/**
 * What the pair carries: prevResult's record of it, the MAC, the MTU, the port flags. prevResult is the chain's final
 * result: a later plugin (tuning) may have changed the pod end's MAC on purpose, so the MAC is compared with
 * prevResult, and with the request only when prevResult says nothing. The pod end's MTU is not checked: tuning may
 * set it and does not write it into its result (tuning.go v1.9.1 updates only the MAC there), and the reference's
 * validateCniContainerInterface does not check it either. Our end of the pair is ours alone: it carries the
 * configured (or inherited) MTU. A reference-made port got the config's MTU, or the kernel's default when the
 * config names none (the reference does not inherit the uplink's): only the config's is expected of it; doctor
 * flags one that differs from the uplink's (tools/doctor-check.ts).
 */
function checkPairSettings(d: Diffs, p: Pair, prev: Result, hostMtu: () => number, req: CheckRequest, ctx: Ctx): void {
  const { container, hostVeth } = p;
  const prevIfaces = prev.interfaces ?? [];
  const prevContainer = prevIfaces.find((i) => i.name === req.ifname && i.sandbox);
  if (!prevContainer) d.differ('prevResult', `expected an interface "${req.ifname}" with a sandbox, missing`);
  else d.expect(`"${req.ifname}" sandbox`, req.netns, prevContainer.sandbox);
  const mac = prevContainer?.mac?.toLowerCase() ?? ctx.mac;
  if (mac) d.expect(`"${req.ifname}" MAC`, mac, container.mac);
  if (!prevIfaces.some((i) => i.name === hostVeth.name))
    d.differ('prevResult', `expected host veth "${hostVeth.name}" listed, missing`);
  if (p.ours || ctx.conf.mtu) d.expect(`"${hostVeth.name}" MTU`, hostMtu(), hostVeth.mtu);
  d.expect(`"${hostVeth.name}" hairpin`, ctx.conf.hairpinMode, hostVeth.port?.hairpin ?? false);
  d.expect(`"${hostVeth.name}" isolated`, ctx.conf.portIsolation, hostVeth.port?.isolated ?? false);
}

/** The host port's VLANs: what the rule in vlans.ts makes of a fresh port of this bridge. */
function checkPortVlans(d: Diffs, conf: NetConf, br: Link, hostVeth: Link, got: readonly VlanRange[]): void {
  const dflt = br.bridge?.defaultPvid ?? 1;
  const want = expectedPortVlans(conf.vlans, dflt ? [{ min: dflt, max: dflt, pvid: true, untagged: true }] : []);
  const have = normalizeVlans(got);
  if (formatVlans(want) !== formatVlans(have))
    d.differ(`"${hostVeth.name}" VLANs`, `expected ${formatVlans(want)}, found ${formatVlans(have)}`);
}

/**
 * uplinkVlans: every (or the named) uplink carries the pod's VIDs that uplink-vlans manages (VID 1 and the bridge's
 * default PVID are the operator's). `vlansOf` reads one link's VLANs.
 */
function checkUplinkVlans(
  d: Diffs,
  conf: NetConf,
  br: Link,
  uplinks: readonly Port[],
  vlansOf: (l: Port) => readonly VlanRange[],
): void {
  const named = uplinks.filter((u) => conf.uplinkInterface === undefined || u.name === conf.uplinkInterface);
  if (named.length === 0)
    d.differ('uplink', `expected ${conf.uplinkInterface ?? 'an uplink'} on bridge "${br.name}", missing`);
  const vids = podVids(conf.vlans).filter((v) => isManagedVid(v, br));
  for (const u of named) {
    const carried = vlanFlagsByVid(vlansOf(u));
    const missing = vids.filter((v) => !carried.has(v));
    if (missing.length > 0)
      d.differ(
        `uplink "${u.name}" VLANs`,
        `expected to carry ${formatVids(vids)} (uplinkVlans), missing ${formatVids(missing)}`,
      );
  }
}

/** prevResult's addresses and routes of this interface (later chained plugins may add more; ours must be there). */
function checkL3(d: Diffs, podSock: NetlinkSocket, prev: Result, container: Link, req: CheckRequest): void {
  const prevIfaces = prev.interfaces ?? [];
  const addrs = listAddresses(podSock, { index: container.index });
  for (const ip of prev.ips ?? []) {
    if (ip.interface !== undefined && prevIfaces[ip.interface]?.name !== req.ifname) continue;
    const { ip: addr, prefix, family } = parseCidr(ip.address);
    const same = addrs.filter((a) => a.family === family && a.scope === RT_SCOPE_UNIVERSE).map((a) => a.cidr);
    if (!same.includes(`${addr}/${prefix}`))
      d.differ(
        `"${req.ifname}" address`,
        `expected ${ip.address}, ${same.length ? `found ${same.join(', ')}` : 'missing'}`,
      );
  }
  for (const r of prev.routes ?? []) {
    const dst = parseCidr(r.dst);
    const have = listRoutes(podSock, familyOf(dst.ip), r.table ?? RT_TABLE_MAIN).some((x) => {
      const xd = parseCidr(x.dst);
      return xd.ip === dst.ip && xd.prefix === dst.prefix && (r.gw === undefined || x.gw === r.gw);
    });
    if (!have)
      d.differ(`route ${r.dst}`, `expected ${r.dst}${r.gw ? ` via ${r.gw}` : ''} in ${cut(req.netns)}, missing`);
  }
}

/**
 * CHECK (CNI spec, "CHECK: Check container's networking is as expected"): returns when the attachment is as the
 * config and prevResult say; throws CniError 7 without prevResult, 105 naming every difference, or the code of the
 * kernel call or IPAM CHECK that failed.
 */
export async function cmdCheck(req: CheckRequest, ctx: Ctx): Promise<void> {
  const { conf, prevResult: prev } = ctx;
  if (!prev)
    throw new CniError(Code.InvalidConfig, 'invalid network configuration', 'prevResult: required for CHECK (missing)');
  if (conf.hasIpam) ipamCheck(ipamCall(req, ctx));

  const d = new Diffs();
  const pod = openPodNetns(req.netns);
  const host = step('open netlink socket', () => openNetlink(null));
  const podSock = step(`open netlink socket in ${cut(req.netns)}`, () => openNetlink(pod));
  try {
    const br = inspectBridge(host, conf);
    if (!br) throw new CniError(Code.CheckMismatch, `CHECK: bridge "${conf.bridge}" does not exist`);
    if (conf.promiscMode) d.expect(`bridge "${br.name}" promiscuous`, true, br.promisc);
    // The bridge's ports, for its uplinks (uplink.ts): read only when an inherited MTU or uplinkVlans needs them.
    let ports: Port[] | undefined;
    const uplinks = () =>
      uplinksOf(br, (ports ??= step(`list the ports of bridge "${br.name}"`, () => listPorts(host, br.index))));
    const pair = findPair(host, podSock, req, ctx);
    checkPair(d, pair, br, host, req, ctx);
    checkPairSettings(d, pair, prev, () => expectedMtu(conf.mtu, br, conf.mtu ? [] : uplinks()), req, ctx);
    if (usesVlans(conf.vlans)) {
      const vlansOf = (l: Port) => portVlans(host, l.index);
      checkPortVlans(d, conf, br, pair.hostVeth, vlansOf(pair.hostVeth));
      if (conf.uplinkVlans) checkUplinkVlans(d, conf, br, uplinks(), vlansOf);
    }
    checkL3(d, podSock, prev, pair.container, req);
  } finally {
    host.close();
    podSock.close();
    pod.close();
  }
  d.throwIfAny();
}
