// Operator subcommands of the same executable: `discover` (DHCP route discovery on a bridge VLAN) and `doctor`
// (a read of the node's bridges, VLANs, pods and MTUs). Exit codes are listed in the README.
const USAGE = `usage:
  vlan-bridge discover --bridge <br> --vlan <id> [--server <ip>] [--timeout <s>] [--ping]
  vlan-bridge doctor [--bridge <br>] [--json]
`;

export async function runTool(args: string[]): Promise<number> {
  const [sub] = args;
  if (sub === 'help' || sub === '--help' || sub === '-h') {
    process.stdout.write(USAGE);
    return 0;
  }
  process.stderr.write(`vlan-bridge: unknown subcommand ${JSON.stringify(sub)}\n${USAGE}`);
  return 2;
}
