// The plugin's commands, loaded only when a command needs them (VERSION never pays for the kernel layer).
import type { Handlers } from '../cni/dispatch.js';
import { cmdAdd } from './add.js';
import { cmdCheck } from './check.js';
import { cmdDel } from './del.js';
import { cmdGc, cmdStatus } from './status.js';

export const handlers: Handlers = { add: cmdAdd, del: cmdDel, check: cmdCheck, status: cmdStatus, gc: cmdGc };
