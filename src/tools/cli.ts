// Operator subcommands of the same executable: `discover` (DHCP route discovery on a bridge VLAN) and `doctor`
// (a read of the node's bridges, VLANs, pods and MTUs). Exit codes are in ./errors.ts and the README.
// This module and everything it imports (node:dgram among them) load only when a subcommand runs, never into
// the startup snapshot: nothing the plugin imports may import from src/tools.
import { DISCOVER_USAGE, runDiscover } from './discover.js';
import { DOCTOR_USAGE, runDoctor } from './doctor.js';
import { Exit } from './errors.js';

const USAGE = `usage:
  ${DISCOVER_USAGE}
  ${DOCTOR_USAGE}
`;

export async function runTool(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'help' || sub === '--help' || sub === '-h') {
    process.stdout.write(USAGE);
    return Exit.Ok;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    if (sub === 'discover' || sub === 'doctor') {
      process.stdout.write(`usage: ${sub === 'discover' ? DISCOVER_USAGE : DOCTOR_USAGE}\n`);
      return Exit.Ok;
    }
  }
  if (sub === 'discover') return runDiscover(rest);
  if (sub === 'doctor') return runDoctor(rest);
  process.stderr.write(`vlan-bridge: unknown subcommand ${JSON.stringify(sub)}\n${USAGE}`);
  return Exit.Usage;
}
