// GC (CNI spec 1.1.0, "GC"): removes this network's host veths (found by ifalias) and firewall rules (found by
// comment) whose attachment the runtime no longer lists, keeps going past failures, and forwards GC to IPAM.
import { CniError, Code, listed } from '../cni/errors.js';
import type { Ctx } from '../cni/context.js';
import type { GcRequest } from '../cni/env.js';
import type { Attachment } from '../cni/valid-attachments.js';
import { deleteLink, getLink, isErrno, listLinks, openNetlink } from '../kernel/index.js';
import { ipamCall, ipamGc } from '../ipam/delegate.js';
import { teardownFirewall } from '../firewall/index.js';
import { aliasMatchesNetwork, isGatewayLink, parseAlias } from './attachment.js';
import { Failures } from './failures.js';
import { syncUplinkVlans } from './uplink-vlans.js';

/**
 * GC: removes this network's host veths (by alias) and firewall rules (by comment) whose attachment `valid` does not
 * list, goes on past failures, and forwards GC to the IPAM plugin. Throws one CniError for all failures (Failures).
 */
export async function cmdGc(req: GcRequest, ctx: Ctx, valid: Attachment[]): Promise<void> {
  const keep = new Set(valid.map((a) => `${a.containerID}\n${a.ifname}`));
  const failures = new Failures();
  failures.attempt('list host links', () => {
    const host = openNetlink(null);
    try {
      for (const l of listLinks(host)) {
        const a = parseAlias(l.alias);
        if (
          !a ||
          l.kind !== 'veth' ||
          isGatewayLink(a, l.linkNetnsId !== undefined) ||
          !aliasMatchesNetwork(a, ctx.conf.name)
        )
          continue;
        if (keep.has(`${a.containerId}\n${a.ifname}`)) continue;
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
        syncUplinkVlans(host, ctx.conf.bridge, null, ctx.env, ctx.log),
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
      if (left.length > 0) throw new CniError(Code.Firewall, 'could not remove firewall rules', listed(left));
    } finally {
      host.close();
    }
  });
  if (ctx.conf.hasIpam) failures.attempt('IPAM GC', () => ipamGc(ipamCall(req, ctx)));
  const err = failures.toError('GC');
  if (err) throw err;
}
