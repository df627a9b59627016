// The plugin's commands. Filled in by the kernel layer and the bridge attachment (issues 3 and 4).
import { CniError, Code } from '../cni/errors.js';
import type { Handlers } from '../cni/dispatch.js';

const notYet = async (): Promise<never> => {
  throw new CniError(Code.NotAvailable, 'command not implemented yet');
};

export const handlers: Handlers = { add: notYet, del: notYet, check: notYet, status: notYet, gc: notYet };
