// Entry point of bin/vlan-bridge (compiled by Bun: scripts/build.mjs). Called by a runtime (CNI_COMMAND set) it
// speaks CNI; called by a person with arguments (`vlan-bridge --help`, `vlan-bridge doctor`, ...) and no
// CNI_COMMAND it runs the command line (src/tools/cli.ts). Every call is a fresh process, so everything is loaded
// when first needed: the protocol shell here, the config schema (zod) only for commands that read a config, the
// kernel layer only for commands that touch the kernel, the tools only for the command line.
import { reportStdoutFailure, runCni } from './stdio.js';

const args = process.argv.slice(2);
if (args.length > 0 && process.env.CNI_COMMAND === undefined) {
  // A stdout that cannot be written (a full disk, a closed pipe) ends the command with one line, not a stack trace.
  const cannotWrite = (err: unknown) => {
    reportStdoutFailure(err);
    process.exit(1);
  };
  process.stdout.on('error', cannotWrite);
  void import('./tools/cli.js')
    .then(async (m) => {
      process.exitCode = await m.runTool(args);
    })
    .catch(cannotWrite);
} else {
  void runCni(async (log) => {
    const [{ handlers }, { setKernelTrace }, { netlinkCounters }] = await Promise.all([
      import('./plugin/handlers.js'),
      import('./kernel/trace.js'),
      import('./kernel/netlink/counters.js'),
    ]);
    // Debug lines for each netlink request and program run; the kernel layer itself knows nothing of the log.
    if (log.enabled('debug')) setKernelTrace(({ step, ...rest }) => log.debug(step, rest));
    // What the command asked of the kernel and received, as one JSON line on stderr when the process exits (never
    // stdout, which carries the result): the host tier's measure of a command's netlink traffic (issue 24).
    if (process.env.VLAN_BRIDGE_NETLINK_COUNTS === '1')
      process.on('exit', () => {
        const line = `${JSON.stringify({ netlink: netlinkCounters() })}\n`;
        try {
          (process.getBuiltinModule('node:fs') as typeof import('node:fs')).writeSync(2, line);
        } catch {
          // stderr is gone: nothing to report to
        }
      });
    return handlers;
  });
}
