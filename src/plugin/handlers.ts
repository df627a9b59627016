// The plugin's commands, loaded only when a command needs them (VERSION never pays for the kernel layer).
import type { Ctx, Handlers } from '../cni/dispatch.js';
import { nativeLoadCost } from '../kernel/index.js';
import { cmdAdd } from './add.js';
import { cmdCheck } from './check.js';
import { cmdDel } from './del.js';
import { cmdGc, cmdStatus } from './status.js';

/** Each command, followed by a debug line saying what loading the native addon cost (bench/ reads it). */
function reporting<Q, R, X extends unknown[]>(fn: (req: Q, ctx: Ctx, ...rest: X) => Promise<R>): (req: Q, ctx: Ctx, ...rest: X) => Promise<R> {
  return async (req, ctx, ...rest) => {
    try {
      return await fn(req, ctx, ...rest);
    } finally {
      const n = nativeLoadCost();
      if (n) {
        const f = (ms: number) => ms.toFixed(2);
        ctx.log.debug(`native addon: ${n.extracted ? 'written and verified' : 'found and verified'} in ${f(n.fileMs)} ms, dlopen ${f(n.dlopenMs)} ms, libc bound in ${f(n.bindMs)} ms`);
      }
    }
  };
}

export const handlers: Handlers = {
  add: reporting(cmdAdd),
  del: reporting(cmdDel),
  check: reporting(cmdCheck),
  status: reporting(cmdStatus),
  gc: reporting(cmdGc),
};
