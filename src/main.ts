// Entry point of bin/vlan-bridge. The executable is built with a V8 startup snapshot: everything imported here
// is loaded and initialised at build time (zod schemas included), and only `start` runs when the executable
// does. Called by a runtime (CNI_COMMAND set, no arguments) it speaks CNI; called by a person with a subcommand
// (`vlan-bridge doctor`, `vlan-bridge discover ...`) it runs that tool, loaded only then.
import { runCni } from './stdio.js';
import './cni/command.js';
import { handlers } from './plugin/handlers.js';
import { warmUp } from './warmup.js';

function start(): void {
  const args = process.argv.slice(2);
  if (args.length > 0 && process.env.CNI_COMMAND === undefined) {
    void import('./tools/cli.js').then(async (m) => {
      process.exitCode = await m.runTool(args);
    });
    return;
  }
  void runCni(handlers);
}

const v8 = process.getBuiltinModule('node:v8') as typeof import('node:v8');
if (v8.startupSnapshot.isBuildingSnapshot()) {
  v8.startupSnapshot.setDeserializeMainFunction(start);
  // The snapshot is taken once the event loop is empty, so after the warm-up's requests have all run.
  void warmUp();
} else start();
