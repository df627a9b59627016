// STATUS: ready when the kernel interface answers and the bridge, if it exists, can be used as configured;
// IPAM STATUS is delegated.
import { CniError, Code } from '../cni/errors.js';
import type { Ctx } from '../cni/context.js';
import type { StatusRequest } from '../cni/env.js';
import { openNetlink } from '../kernel/index.js';
import { ipamCall, ipamStatus } from '../ipam/delegate.js';
import { inspectBridge } from './bridge.js';
import { toCniError } from './errors.js';

export async function cmdStatus(req: StatusRequest, ctx: Ctx): Promise<void> {
  let host;
  try {
    host = openNetlink(null);
  } catch (err) {
    throw new CniError(Code.NotAvailable, `kernel interface not usable: ${(err as Error).message}`);
  }
  try {
    inspectBridge(host, ctx.conf);
  } catch (err) {
    const e = toCniError(err, 'inspect bridge');
    throw new CniError(Code.NotAvailable, e.message, e.details);
  } finally {
    host.close();
  }
  if (ctx.conf.hasIpam) ipamStatus(ipamCall(req, ctx));
}
