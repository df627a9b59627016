// The plugin's commands, loaded only when a command needs them (VERSION never pays for the kernel layer).
import type { Ctx, Handlers } from '../cni/context.js';
import { netnsOverride } from '../cni/env.js';
import { CniError, Code, show } from '../cni/errors.js';
import { isCurrentNetns } from '../kernel/index.js';
import { cmdAdd } from './add.js';
import { cmdCheck } from './check.js';
import { cmdDel } from './del.js';
import { cmdGc } from './gc.js';
import { cmdStatus } from './status.js';
import { toCniError } from './errors.js';

/**
 * ADD and DEL refuse a CNI_NETNS that is the plugin's own network namespace (ADD would put the pod's addresses and
 * routes on the host, DEL delete the host's CNI_IFNAME) unless CNI_NETNS_OVERRIDE is "true" or "1", with libcni's
 * code 8 and message. Read in containernetworking/cni pkg/skel/skel.go at tag v1.3.0 (pluginMain): skel checks ADD
 * and DEL (not CHECK), but only after the plugin's function has run; here nothing is done first. Throws CniError 8.
 */
function guardNetns<Q extends { netns?: string }, R>(
  fn: (req: Q, ctx: Ctx) => Promise<R>,
): (req: Q, ctx: Ctx) => Promise<R> {
  return async (req, ctx) => {
    if (req.netns !== undefined && !netnsOverride(ctx.env) && isCurrentNetns(req.netns)) {
      throw new CniError(
        Code.InvalidNetns,
        "plugin's netns and netns from CNI_NETNS should not be the same",
        `CNI_NETNS ${show(req.netns)} is the plugin's own network namespace; set CNI_NETNS_OVERRIDE=1 if that is meant`,
      );
    }
    return fn(req, ctx);
  };
}

/**
 * The commands' boundary, as skel's: whatever a command throws, from whichever call site, leaves it as the CNI error
 * that errors.ts' table gives it (a netlink timeout in CHECK is 11, not a bug's 999).
 */
function boundary<A extends unknown[], R>(fn: (...a: A) => Promise<R>): (...a: A) => Promise<R> {
  return async (...a) => {
    try {
      return await fn(...a);
    } catch (err) {
      throw toCniError(err);
    }
  };
}

export const handlers: Handlers = {
  add: boundary(guardNetns(cmdAdd)),
  del: boundary(guardNetns(cmdDel)),
  check: boundary(cmdCheck),
  status: boundary(cmdStatus),
  gc: boundary(cmdGc),
};
