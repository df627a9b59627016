// Entry point of bin/vlan-bridge. Kept to a few lines: everything lives in the dispatcher.
import { runFromProcess } from './cni/dispatch.js';

runFromProcess();
