// CHECK: works for L2 configs (the reference fails on every one: it always calls IPAM CHECK, bridge.go v1.9.1) and
// verifies, besides the MACs and promiscuous mode the reference checks, what it ignores: VLANs on the host port as
// the rule in vlans.ts makes them, MTU (the uplink rule in uplink.ts), hairpin and isolation, plus prevResult's
// addresses and routes. msg names what differs; details give "what: expected X, found Y" (or "missing").
import { CniError, Code, cut, listed, show as quote } from '../cni/errors.js';
import type { Ctx } from '../cni/context.js';
import type { CheckRequest } from '../cni/env.js';
import {
  Netns,
  RT_SCOPE_UNIVERSE,
  RT_TABLE_MAIN,
  getLink,
  listAddresses,
  listLinks,
  listPorts,
  listRoutes,
  nsidOf,
  openNetlink,
  portVlans,
  type Link,
  type Port,
} from '../kernel/index.js';
import { familyOf, parseCidr } from '../ip.js';
import { ipamCall, ipamCheck } from '../ipam/delegate.js';
import { attachmentOf, formatAlias, hostVethName, isHostVethOf, parseAlias } from './attachment.js';
import { openPodNetns, requestedMac } from './pod.js';
import { inspectBridge } from './bridge.js';
import { inheritedMtu, uplinksOf } from './uplink.js';
import { isManagedVid } from './uplink-vlans.js';
import { step } from './errors.js';
import {
  expectedPortVlans,
  formatVlans,
  normalizeVlans,
  podVids,
  usesVlans,
  vlanFlagsByVid,
  vlanIntent,
} from './vlans.js';

export async function cmdCheck(req: CheckRequest, ctx: Ctx): Promise<void> {
  const { conf, prevResult: prev } = ctx;
  if (!prev)
    throw new CniError(Code.InvalidConfig, 'invalid network configuration', 'prevResult: required for CHECK (missing)');
  if (conf.hasIpam) ipamCheck(ipamCall(req, ctx));

  // Each difference: what differs (named in msg) and what was expected and found (in details).
  const diffs: Array<{ what: string; text: string }> = [];
  const differ = (what: string, text: string) => diffs.push({ what, text });
  const found = (v: unknown) => (v === undefined ? 'missing' : `found ${quote(v)}`);
  const expect = (what: string, want: unknown, got: unknown) => {
    if (JSON.stringify(want) !== JSON.stringify(got)) differ(what, `expected ${quote(want)}, ${found(got)}`);
  };

  const pod = openPodNetns(req.netns);
  const host = step('open netlink socket', () => openNetlink(null));
  const podSock = step(`open netlink socket in ${cut(req.netns)}`, () => openNetlink(pod));
  try {
    const br = inspectBridge(host, conf);
    if (!br) throw new CniError(Code.CheckMismatch, `CHECK: bridge "${conf.bridge}" does not exist`);
    if (conf.promiscMode) expect(`bridge "${br.name}" promiscuous`, true, br.promisc);

    const container = getLink(podSock, req.ifname);
    if (!container)
      throw new CniError(Code.CheckMismatch, `CHECK: interface "${req.ifname}" does not exist in ${cut(req.netns)}`);
    expect(`"${req.ifname}" kind`, 'veth', container.kind);

    // The peer index means something only in the namespace the kernel names for the peer (IFLA_LINK_NETNSID, in
    // the pod's numbering): it must be the host's, or a pair with both ends in the pod would pass.
    const self = Netns.current();
    let hostId: number | undefined;
    try {
      hostId = step('look up the host namespace from the pod', () => nsidOf(podSock, self.fd));
    } finally {
      self.close();
    }
    const peerInHost = container.linkNetnsId !== undefined && container.linkNetnsId === hostId;

    // The host end: the veth that carries this attachment's identity (attachment.ts), or, for an attachment the
    // reference plugin made before vlan-bridge took the node over, the container end's peer when it carries no
    // identity of ours (the reference names its host veth at random and labels nothing).
    // Looked up by name and by the peer index, one request each (the node's other links are never read): ours is the
    // veth named after the attachment, or the container end's peer when that carries our alias for it.
    const id = attachmentOf(conf.name, req);
    const named = step(`look up "${hostVethName(id)}"`, () => getLink(host, hostVethName(id)));
    const peer =
      peerInHost && container.peerIndex
        ? (step(`look up link ${container.peerIndex}`, () => getLink(host, container.peerIndex!)) ?? undefined)
        : undefined;
    // A host veth with our alias under another name (renamed, or not the peer of this pod end) is found as before,
    // by reading every link, but only when neither lookup found ours: never for a healthy attachment of ours.
    const ours =
      [named, peer].find((l): l is Link => !!l && isHostVethOf(l, id)) ??
      step('list host links', () => listLinks(host)).find((l: Link) => isHostVethOf(l, id));
    const foreign = !ours && peer?.kind === 'veth' && !parseAlias(peer.alias) ? peer : undefined;
    const hostVeth = ours ?? foreign;
    if (!hostVeth)
      throw new CniError(
        Code.CheckMismatch,
        `CHECK: no host veth for ${cut(req.containerId)}/${req.ifname} on network ${quote(conf.name)}`,
        peer ? `the peer of "${req.ifname}" is "${peer.name}" (alias: ${peer.alias ?? 'none'})` : undefined,
      );
    // Found by its name only: an ADD that never finished (it sets the alias right after creating the pair).
    if (ours && !parseAlias(ours.alias)) expect(`"${ours.name}" alias`, formatAlias(id), ours.alias);
    expect(`"${req.ifname}" peer index`, hostVeth.index, container.peerIndex);
    if (!peerInHost) {
      differ(
        `"${req.ifname}" peer namespace`,
        `expected the host's, found ${container.linkNetnsId === undefined ? 'the pod itself' : `namespace id ${container.linkNetnsId}`}`,
      );
    }
    expect(`"${hostVeth.name}" master`, br.name, hostVeth.master ? getLink(host, hostVeth.master)?.name : undefined);

    const prevIfaces = prev.interfaces ?? [];
    const prevContainer = prevIfaces.find((i) => i.name === req.ifname && i.sandbox);
    if (!prevContainer) differ('prevResult', `expected an interface "${req.ifname}" with a sandbox, missing`);
    else expect(`"${req.ifname}" sandbox`, req.netns, prevContainer.sandbox);
    // prevResult is the chain's final result: a later plugin (tuning) may have changed the MAC or MTU on purpose,
    // so the pod's side is compared with prevResult, and with the request only when prevResult says nothing.
    const mac = prevContainer?.mac?.toLowerCase() ?? requestedMac(req, ctx);
    if (mac) expect(`"${req.ifname}" MAC`, mac, container.mac);
    if (prevIfaces.some((i) => i.name === hostVeth.name) === false)
      differ('prevResult', `expected host veth "${hostVeth.name}" listed, missing`);

    // Our end of the pair is ours alone: it carries the configured (or inherited) MTU. The pod's end is checked
    // against prevResult when it records an MTU (1.1.0 results), since a later plugin may set its own.
    // A reference-made port got the config's MTU, or the kernel's default when the config names none (the reference
    // does not inherit the uplink's): only the config's is expected of it; doctor flags one that differs from the
    // uplink's (tools/doctor-check.ts).
    // The bridge's ports, for its uplinks (uplink.ts): read only when an MTU or uplinkVlans needs them.
    let ports: Port[] | undefined;
    const bridgePorts = () =>
      (ports ??= step(`list the ports of bridge "${br.name}"`, () => listPorts(host, br.index)));
    if (ours || conf.mtu) expect(`"${hostVeth.name}" MTU`, conf.mtu || inheritedMtu(br, bridgePorts()), hostVeth.mtu);
    if (prevContainer?.mtu) expect(`"${req.ifname}" MTU`, prevContainer.mtu, container.mtu);

    expect(`"${hostVeth.name}" hairpin`, conf.hairpinMode, hostVeth.port?.hairpin ?? false);
    expect(`"${hostVeth.name}" isolated`, conf.portIsolation, hostVeth.port?.isolated ?? false);

    const intent = vlanIntent(conf);
    if (usesVlans(intent)) {
      const d = br.bridge?.defaultPvid ?? 1;
      const want = expectedPortVlans(intent, d ? [{ min: d, max: d, pvid: true, untagged: true }] : []);
      const got = normalizeVlans(portVlans(host, hostVeth.index));
      if (formatVlans(want) !== formatVlans(got))
        differ(`"${hostVeth.name}" VLANs`, `expected ${formatVlans(want)}, found ${formatVlans(got)}`);
      if (conf.uplinkVlans) {
        const uplinks = uplinksOf(br, bridgePorts()).filter(
          (u) => conf.uplinkInterface === undefined || u.name === conf.uplinkInterface,
        );
        if (uplinks.length === 0)
          differ('uplink', `expected ${conf.uplinkInterface ?? 'an uplink'} on bridge "${br.name}", missing`);
        // The VIDs uplinkVlans puts on the uplinks (uplink-vlans.ts): VID 1 and the default PVID are the operator's.
        const vids = podVids(intent).filter((v) => isManagedVid(v, br));
        for (const u of uplinks) {
          const carried = vlanFlagsByVid(portVlans(host, u.index));
          const missing = vids.filter((v) => !carried.has(v));
          if (missing.length > 0)
            differ(
              `uplink "${u.name}" VLANs`,
              `expected to carry ${vids.join(',')} (uplinkVlans), missing ${missing.join(',')}`,
            );
        }
      }
    }

    // Addresses and routes of prevResult (later chained plugins may add more: only ours must be there).
    const addrs = listAddresses(podSock, { index: container.index });
    for (const ip of prev.ips ?? []) {
      if (ip.interface !== undefined && prevIfaces[ip.interface]?.name !== req.ifname) continue;
      const { ip: addr, prefix, family } = parseCidr(ip.address);
      const same = addrs.filter((a) => a.family === family && a.scope === RT_SCOPE_UNIVERSE).map((a) => a.cidr);
      if (!same.includes(`${addr}/${prefix}`))
        differ(
          `"${req.ifname}" address`,
          `expected ${ip.address}, ${same.length ? `found ${same.join(', ')}` : 'missing'}`,
        );
    }
    for (const r of prev.routes ?? []) {
      const fam = familyOf(parseCidr(r.dst).ip);
      const dst = parseCidr(r.dst);
      const have = listRoutes(podSock, fam, r.table ?? RT_TABLE_MAIN).some((x) => {
        const xd = parseCidr(x.dst);
        return xd.ip === dst.ip && xd.prefix === dst.prefix && (r.gw === undefined || x.gw === r.gw);
      });
      if (!have)
        differ(`route ${r.dst}`, `expected ${r.dst}${r.gw ? ` via ${r.gw}` : ''} in ${cut(req.netns)}, missing`);
    }
  } finally {
    host.close();
    podSock.close();
    pod.close();
  }
  if (diffs.length > 0) {
    const whats = [...new Set(diffs.map((d) => d.what))];
    const msg =
      whats.length === 1
        ? `CHECK failed: ${whats[0]} not as configured`
        : `CHECK failed: ${whats.length} things not as configured: ${listed(whats, ', ')}`;
    throw new CniError(Code.CheckMismatch, msg, listed(diffs.map((d) => `${d.what}: ${d.text}`)));
  }
}
