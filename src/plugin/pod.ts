// The pod's side of a request: its network namespace, and the MAC the runtime asks for its interface.
import type { Ctx } from '../cni/context.js';
import { Netns } from '../kernel/index.js';
import { step } from './errors.js';

/** Container MAC, by precedence: runtimeConfig.mac > args.cni.mac > CNI_ARGS MAC (as the reference). */
export function requestedMac(req: { args: { mac?: string } }, ctx: Ctx): string | undefined {
  return ctx.conf.runtimeConfig?.mac ?? ctx.conf.args?.cni?.mac ?? req.args.mac;
}

/** Opens CNI_NETNS; throws CniError 101 (NetnsError) or 110 through step(). */
export function openPodNetns(path: string): Netns {
  return step('open network namespace', () => Netns.open(path));
}
