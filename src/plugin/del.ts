// DEL: idempotent and best effort. A missing netns, a missing interface and a repeated DEL all succeed; IPAM
// DEL always runs; the host veth is also found by its ifalias, so it goes even when the netns is gone.
import { CniError } from '../cni/errors.js';
import type { Ctx } from '../cni/dispatch.js';
import type { DelRequest } from '../cni/env.js';
import { Netns, NetnsError, deleteLink, getLink, isErrno, listLinks, openNetlink } from '../kernel/index.js';
import { ipamDel } from '../ipam/delegate.js';
import { aliasMatchesNetwork, parseAlias } from './alias.js';
import { kernelFailure } from './errors.js';
import { ipamCall } from './l3.js';
import { teardownAttachment } from '../firewall/index.js';

export async function cmdDel(req: DelRequest, ctx: Ctx): Promise<void> {
  const failures: CniError[] = [];
  const attempt = (what: string, fn: () => void) => {
    try {
      fn();
    } catch (err) {
      failures.push(kernelFailure(what, err));
    }
  };

  if (ctx.conf.hasIpam) {
    try {
      ipamDel(ipamCall(req, ctx));
    } catch (err) {
      failures.push(err instanceof CniError ? err : kernelFailure('IPAM DEL', err));
    }
  }

  // Firewall rules are found by the attachment's comment: they go even when the netns is already gone.
  if (ctx.conf.ipMasq || ctx.conf.macspoofchk) {
    attempt('remove firewall rules', () => teardownAttachment(ctx.conf, { network: ctx.conf.name, containerId: req.containerId, ifname: req.ifname }));
  }

  if (req.netns) {
    let pod: Netns | undefined;
    try {
      pod = Netns.open(req.netns);
    } catch (err) {
      // The container is gone: its end of the veth went with it. Anything else is a real error.
      if (!(err instanceof NetnsError && err.kind === 'missing')) failures.push(kernelFailure(`open ${req.netns}`, err));
    }
    if (pod) {
      const p = pod;
      attempt(`delete "${req.ifname}" in ${req.netns}`, () => {
        const sock = openNetlink(p);
        try {
          const l = getLink(sock, req.ifname);
          if (l) deleteLink(sock, l.index);
        } catch (err) {
          if (!isErrno(err, 'ENODEV')) throw err;
        } finally {
          sock.close();
          p.close();
        }
      });
    }
  }

  attempt('delete the host veth', () => {
    const host = openNetlink(null);
    try {
      for (const l of listLinks(host)) {
        const a = parseAlias(l.alias);
        if (!a || l.kind !== 'veth' || a.containerId !== req.containerId || a.ifname !== req.ifname || !aliasMatchesNetwork(a, ctx.conf.name)) continue;
        try {
          deleteLink(host, l.index);
        } catch (err) {
          if (!isErrno(err, 'ENODEV')) throw err;
        }
      }
    } finally {
      host.close();
    }
  });

  if (failures.length === 1) throw failures[0];
  if (failures.length > 1) {
    throw new CniError(failures[0]!.code, `DEL failed in ${failures.length} steps`, failures.map((f) => `${f.message}${f.details ? ` (${f.details})` : ''}`).join('; '));
  }
}
