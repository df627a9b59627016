// Entry point of bin/vlan-bridge. The executable is built with a V8 startup snapshot: everything below is loaded
// and initialised at build time (zod schemas included), and only `start` runs when the executable does.
import { runCni } from './cli.js';
import './cni/command.js';
import { handlers } from './plugin/handlers.js';

const start = (): void => void runCni(async () => handlers);

const v8 = process.getBuiltinModule('node:v8') as typeof import('node:v8');
if (v8.startupSnapshot.isBuildingSnapshot()) v8.startupSnapshot.setDeserializeMainFunction(start);
else start();
