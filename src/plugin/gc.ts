// GC (CNI spec 1.1.0, "GC"): removes this network's host veths (found by ifalias) and firewall rules (found by
// comment) whose attachment the runtime no longer lists, keeps going past failures, forwards GC to IPAM and
// releases the addresses of the stale attachments it could name (IPAM DEL: host-local has no GC).
import { CniError, Code, listed } from '../cni/errors.js';
import type { Ctx } from '../cni/context.js';
import type { GcRequest } from '../cni/env.js';
import type { Attachment } from '../cni/valid-attachments.js';
import { deleteLink, getLink, isErrno, listLinkSummaries, openNetlink } from '../kernel/index.js';
import { ipamCall, ipamGc, ipamRelease } from '../ipam/delegate.js';
import { teardownFirewall, type Named } from '../firewall/index.js';
import { aliasMatchesNetwork, isGatewayLink, parseAlias } from './attachment.js';
import { Failures } from './failures.js';
import { syncUplinkVlans } from './uplink-vlans/sync.js';

/**
 * GC: removes this network's host veths (by alias) and firewall rules (by comment) whose attachment `valid` does not
 * list, goes on past failures, forwards GC to the IPAM plugin and releases the addresses of the stale attachments
 * it could name (ipamRelease). Throws one CniError for all failures (Failures).
 */
export async function cmdGc(req: GcRequest, ctx: Ctx, valid: Attachment[]): Promise<void> {
  const keep = new Set(valid.map((a) => `${a.containerID}\n${a.ifname}`));
  const failures = new Failures();
  // Stale attachments named by what GC removes (labels, nftables comments), whose addresses are released below.
  const stale: Named[] = [];
  failures.attempt('list host links', () => {
    const host = openNetlink(null);
    try {
      for (const l of listLinkSummaries(host)) {
        const a = parseAlias(l.alias);
        if (
          !a ||
          l.kind !== 'veth' ||
          isGatewayLink(a, l.linkNetnsId !== undefined) ||
          !aliasMatchesNetwork(a, ctx.conf.name)
        )
          continue;
        if (keep.has(`${a.containerId}\n${a.ifname}`)) continue;
        stale.push({ containerId: a.containerId, ifname: a.ifname });
        failures.attempt(`delete "${l.name}"`, () => {
          try {
            deleteLink(host, l.index);
            ctx.log.debug(`GC removed ${l.name} (${l.alias})`);
          } catch (err) {
            if (!isErrno(err, 'ENODEV')) throw err;
          }
        });
      }
      failures.attempt('remove unused VIDs from the uplinks', () =>
        syncUplinkVlans(host, ctx.conf.bridge, { to: 'none' }, ctx.env, ctx.log),
      );
    } finally {
      host.close();
    }
  });
  failures.attempt('remove firewall rules', () => {
    const keep = valid.map((a) => ({ network: ctx.conf.name, containerId: a.containerID, ifname: a.ifname }));
    const host = openNetlink(null);
    try {
      const portGone = (name: string) => name !== '' && getLink(host, name) === null;
      const left = teardownFirewall(ctx.conf, { network: ctx.conf.name, keep }, portGone);
      stale.push(...left.named);
      if (left.failures.length > 0)
        throw new CniError(Code.Firewall, 'could not remove firewall rules', listed(left.failures));
    } finally {
      host.close();
    }
  });
  if (ctx.conf.hasIpam) {
    failures.attempt('IPAM GC', () => ipamGc(ipamCall(req, ctx)));
    const release = [...new Map(stale.map((a) => [`${a.containerId}\n${a.ifname}`, a])).entries()]
      .filter(([k]) => !keep.has(k))
      .map(([, a]) => a);
    failures.attempt('release the addresses of stale attachments', () => {
      const left = ipamRelease(ipamCall(req, ctx), release);
      if (left.length > 0) throw new CniError(Code.Ipam, 'could not release addresses', listed(left));
    });
  }
  const err = failures.toError('GC');
  if (err) throw err;
}
