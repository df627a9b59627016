// Routes in the main table (RTM_NEWROUTE / RTM_GETROUTE / RTM_DELROUTE).
import { bytesToIp, familyOf, ipToBytes, parseCidr, type Family } from '../ip.js';
import { attrMap, bytes, nest, u32 } from './netlink/attrs.js';
import * as C from './netlink/constants.js';
import type { NetlinkSocket } from './netlink/socket.js';
import { EINVAL } from './errno.js';
import { KernelError } from './errors.js';

export type Scope = 'universe' | 'link' | 'host';
const SCOPES: Record<Scope, number> = { universe: C.RT_SCOPE_UNIVERSE, link: C.RT_SCOPE_LINK, host: C.RT_SCOPE_HOST };

export interface RouteSpec {
  /** "0.0.0.0/0", "10.2.0.0/16", "::/0" */
  dst: string;
  gw?: string;
  oif?: number;
  scope?: Scope;
  priority?: number;
  table?: number;
  mtu?: number;
  advmss?: number;
}

export interface Route extends RouteSpec {
  family: Family;
  table: number;
  protocol: number;
}

function rtmsg(family: Family, dstLen: number, table: number, scope: number, protocol: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt8(family === 4 ? C.AF_INET : C.AF_INET6, 0);
  b.writeUInt8(dstLen, 1);
  b.writeUInt8(table < 256 ? table : 0, 4);
  b.writeUInt8(protocol, 5);
  b.writeUInt8(scope, 6);
  b.writeUInt8(C.RTN_UNICAST, 7);
  return b;
}

function body(r: RouteSpec): Buffer {
  const dst = parseCidr(r.dst);
  // What the kernel would refuse (EINVAL), refused here with the route named: a KernelError, code 100 at the boundary.
  if (r.gw && familyOf(r.gw) !== dst.family)
    throw new KernelError(`route ${r.dst}: gateway ${r.gw} is of another family`, EINVAL);
  const table = r.table ?? C.RT_TABLE_MAIN;
  const attrs = [u32(C.RTA_TABLE, table)];
  if (dst.prefix > 0) attrs.push(bytes(C.RTA_DST, ipToBytes(dst.ip)));
  if (r.gw) attrs.push(bytes(C.RTA_GATEWAY, ipToBytes(r.gw)));
  if (r.oif) attrs.push(u32(C.RTA_OIF, r.oif));
  if (r.priority) attrs.push(u32(C.RTA_PRIORITY, r.priority));
  const metrics = [...(r.mtu ? [u32(C.RTAX_MTU, r.mtu)] : []), ...(r.advmss ? [u32(C.RTAX_ADVMSS, r.advmss)] : [])];
  if (metrics.length) attrs.push(nest(C.RTA_METRICS, ...metrics));
  const scope = SCOPES[r.scope ?? (r.gw ? 'universe' : 'link')];
  return Buffer.concat([rtmsg(dst.family, dst.prefix, table, scope, C.RTPROT_BOOT), ...attrs]);
}

const describe = (r: RouteSpec) => `${r.dst}${r.gw ? ` via ${r.gw}` : ''}${r.oif ? ` dev ${r.oif}` : ''}`;

/**
 * Adds a route (RTM_NEWROUTE, protocol boot) to the main table unless `r.table` names another; scope is link for a
 * route without gateway, universe with one. `replace` replaces an equal route rather than failing with EEXIST.
 */
export function addRoute(sock: NetlinkSocket, r: RouteSpec, o: { replace?: boolean } = {}): void {
  const flags = C.NLM_F_CREATE | (o.replace ? C.NLM_F_REPLACE : C.NLM_F_EXCL);
  sock.request(C.RTM_NEWROUTE, flags, body(r), `add route ${describe(r)}`);
}

/** Routes of one family in one table (main by default). */
export function listRoutes(sock: NetlinkSocket, family: Family, table: number = C.RT_TABLE_MAIN): Route[] {
  const out: Route[] = [];
  const req = rtmsg(family, 0, 0, 0, 0);
  for (const m of sock.dump(C.RTM_GETROUTE, req, 'list routes')) {
    if (m.type !== C.RTM_NEWROUTE) continue;
    const a = attrMap(m.data, 12);
    const t = a.get(C.RTA_TABLE)?.readUInt32LE(0) ?? m.data.readUInt8(4);
    if (t !== table) continue;
    const dstLen = m.data.readUInt8(1);
    const dstRaw = a.get(C.RTA_DST);
    const dst = `${dstRaw ? bytesToIp(dstRaw) : family === 4 ? '0.0.0.0' : '::'}/${dstLen}`;
    const scopeNum = m.data.readUInt8(6);
    const route: Route = { family, dst, table: t, protocol: m.data.readUInt8(5) };
    const scope = (Object.keys(SCOPES) as Scope[]).find((k) => SCOPES[k] === scopeNum);
    if (scope) route.scope = scope;
    const gw = a.get(C.RTA_GATEWAY);
    if (gw) route.gw = bytesToIp(gw);
    const oif = a.get(C.RTA_OIF);
    if (oif) route.oif = oif.readUInt32LE(0);
    const prio = a.get(C.RTA_PRIORITY);
    if (prio) route.priority = prio.readUInt32LE(0);
    const metrics = a.get(C.RTA_METRICS);
    if (metrics) {
      const mm = attrMap(metrics);
      const mtu = mm.get(C.RTAX_MTU);
      if (mtu) route.mtu = mtu.readUInt32LE(0);
      const advmss = mm.get(C.RTAX_ADVMSS);
      if (advmss) route.advmss = advmss.readUInt32LE(0);
    }
    out.push(route);
  }
  return out;
}
