// Entry point of bin/vlan-bridge (compiled by Bun: scripts/build.mjs). Called by a runtime (CNI_COMMAND set, no
// arguments) it speaks CNI; called by a person with a subcommand (`vlan-bridge doctor`, `vlan-bridge discover ...`)
// it runs that tool. Every call is a fresh process, so everything is loaded when first needed: the protocol shell
// here, the config schema (zod) only for commands that read a config, the kernel layer only for commands that
// touch the kernel, the tools only for a subcommand.
import { runCni } from './stdio.js';

const args = process.argv.slice(2);
if (args.length > 0 && process.env.CNI_COMMAND === undefined) {
  void import('./tools/cli.js').then(async (m) => {
    process.exitCode = await m.runTool(args);
  });
} else {
  void runCni(() => import('./plugin/handlers.js').then((m) => m.handlers));
}
