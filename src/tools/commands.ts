// The command line's words: each command with its options, defaults and exit codes, and the help texts made from
// them. Nothing here loads a command's code (./cli.ts imports that only to run it), so `--help` stays cheap.
import type { OptionSpec } from './args.js';
import { Exit } from './errors.js';

export interface CommandSpec {
  name: string;
  /** One line for the command list. */
  summary: string;
  synopsis: string;
  /** Paragraphs of the command's help, before its options. */
  about: string[];
  options: OptionSpec[];
  exits: Array<[number | string, string]>;
}

const COMMON_EXITS: Array<[number, string]> = [
  [Exit.Internal, 'something unexpected (a bug): the message says what'],
  [Exit.Usage, 'a usage error: unknown command or option, a bad value'],
  [Exit.Kernel, 'a kernel request failed (netlink, namespace, socket)'],
];

export const DOCTOR: CommandSpec = {
  name: 'doctor',
  summary: "read this node's bridges, uplinks, pod ports, VLANs and MTUs and say what is wrong",
  synopsis: 'vlan-bridge doctor [--bridge <name>] [--json]',
  about: [
    'Reads the node and changes nothing: each bridge with its VLAN filtering, default PVID and MTU, its uplinks',
    "and the VLANs each carries, the pods' host veths (network, container and ifname from the ifalias the plugin",
    'sets) with their VLANs and MTU and whether their namespace still lives, then the findings. Run it as root in',
    "the host's network and PID namespaces.",
  ],
  options: [
    { name: 'bridge', type: 'string', value: '<name>', default: 'every bridge', help: 'only this bridge' },
    { name: 'json', type: 'boolean', help: 'print the report as JSON instead of a table' },
  ],
  exits: [
    [Exit.Ok, 'nothing found'],
    [Exit.Warnings, 'warnings only'],
    [Exit.Problems, 'at least one error'],
    [Exit.Bridge, '--bridge names no bridge'],
    ...COMMON_EXITS,
  ],
};

/** discover's --timeout when none is given, in seconds. */
export const DEFAULT_TIMEOUT_S = 10;

export const DISCOVER: CommandSpec = {
  name: 'discover',
  summary: "ask a VLAN network's DHCP server for its subnet and gateway, from a probe on the bridge",
  synopsis:
    'vlan-bridge discover --bridge <name> --vlan <id> [--server <ip> [--address <ip/prefix> [--gateway <ip>]]] ' +
    '[--timeout <s>] [--ping]',
  about: [
    'Asks what Harvester\'s "auto (DHCP)" route mode asks, from a probe veth in a throwaway namespace on the bridge',
    'and VLAN, and prints JSON: cidr, gateway, server, lease time, DNS. Without --server it reads the OFFER to a',
    'DHCPDISCOVER and takes no lease. The probe is removed however the run ends; a lease it took is released.',
  ],
  options: [
    { name: 'bridge', type: 'string', value: '<name>', required: true, help: 'the bridge of the network' },
    {
      name: 'vlan',
      type: 'string',
      value: '<id>',
      required: true,
      help: 'the VLAN: 1-4094, or 0 for the untagged network',
    },
    {
      name: 'server',
      type: 'string',
      value: '<ip>',
      default: 'broadcast DHCPDISCOVER',
      help: 'send a DHCPINFORM to this server',
    },
    {
      name: 'address',
      type: 'string',
      value: '<ip/prefix>',
      default: 'a lease, released at the end',
      help: "with --server: the probe's address for the INFORM",
    },
    {
      name: 'gateway',
      type: 'string',
      value: '<ip>',
      default: 'none',
      help: 'with --address: the router towards a --server outside its subnet',
    },
    {
      name: 'timeout',
      type: 'string',
      value: '<s>',
      default: String(DEFAULT_TIMEOUT_S),
      help: 'seconds for the DHCP exchanges',
    },
    { name: 'ping', type: 'boolean', help: 'also send ICMP echo to the gateway, for at most 3 s' },
  ],
  exits: [
    [Exit.Ok, 'a server answered (and with --ping, the gateway too)'],
    [Exit.Bridge, 'the bridge is missing, not a bridge, filters no VLANs, or STP keeps the probe from forwarding'],
    [Exit.NoAnswer, 'no DHCP server answered within --timeout'],
    [Exit.BadAnswer, 'the server refused (DHCPNAK) or sent no usable subnet mask'],
    [Exit.GatewayDown, '--ping: the gateway did not answer (the JSON is printed all the same)'],
    ['129, 130, 143', 'interrupted by SIGHUP, SIGINT or SIGTERM, after cleaning up'],
    ...COMMON_EXITS,
  ],
};

export const COMMANDS: readonly CommandSpec[] = [DOCTOR, DISCOVER];

/** Every word the first argument may be: the commands, `help`, `version` and the top-level options. */
export const FIRST_WORDS = [...COMMANDS.map((c) => c.name), 'help', 'version', '--help', '--version'];

const table = (rows: Array<[string, string]>, indent = '  '): string => {
  const width = Math.max(...rows.map(([a]) => a.length));
  return rows.map(([a, b]) => `${indent}${a.padEnd(width)}  ${b}`.trimEnd()).join('\n');
};

/** `vlan-bridge <command> --help`. */
export function commandHelp(c: CommandSpec): string {
  const opts = c.options.map((o): [string, string] => {
    const left = `--${o.name}${o.value ? ` ${o.value}` : ''}`;
    const right = `${o.help}${o.required ? ' (required)' : ''}${o.default !== undefined ? ` (default: ${o.default})` : ''}`;
    return [left, right];
  });
  return [
    `Usage: ${c.synopsis}`,
    '',
    ...c.about,
    '',
    'Options:',
    table([...opts, ['--help', 'this text']]),
    '',
    'Exit codes:',
    table(
      [...c.exits]
        .sort(([a], [b]) => (typeof a === 'number' ? a : 1000) - (typeof b === 'number' ? b : 1000))
        .map(([code, text]) => [String(code), text]),
    ),
    '',
  ].join('\n');
}

/** `vlan-bridge --help`: what the executable is, how a runtime calls it, the commands and the exit codes. */
export function mainHelp(version: string): string {
  return [
    `vlan-bridge ${version}: a CNI plugin that attaches pods to a Linux bridge on an access VLAN, a trunk or the`,
    "untagged network (Harvester's VLAN semantics), and a few tools for an operator.",
    '',
    'Usage:',
    '  CNI_COMMAND=<command> CNI_...=... vlan-bridge < config.json    as a container runtime calls it',
    '  vlan-bridge <command> [options]                                an operator tool',
    '  vlan-bridge --help | --version',
    '',
    'As a CNI plugin (CNI spec 0.1.0 to 1.1.0):',
    '  CNI_COMMAND     ADD, DEL, CHECK, VERSION, STATUS or GC',
    '  CNI_CONTAINERID the container (ADD, DEL, CHECK)',
    '  CNI_NETNS       its network namespace, a path (ADD, CHECK; optional for DEL)',
    '  CNI_IFNAME      the interface to create in it (ADD, DEL, CHECK)',
    '  CNI_PATH        where to find IPAM plugins, a colon-separated list',
    '  CNI_ARGS        optional K=V;K=V (IgnoreUnknown, MAC, K8S_POD_NAME, ...)',
    '  stdin           the network configuration (JSON)',
    '  stdout          the result, or the error as {"code","msg","details"}: one JSON document',
    '  exit code       0 on success, 1 on an error (its code is in the JSON)',
    '  logs            stderr, or the config\'s "logFile"; "logLevel" error, warn, info or debug;',
    '                  VLAN_BRIDGE_LOG_FILE and VLAN_BRIDGE_LOG_LEVEL override them (VLAN_BRIDGE_DEBUG=1: debug)',
    '  With neither CNI_COMMAND nor arguments it prints its version and the spec versions it supports on stderr.',
    '',
    'Commands:',
    table([
      ...COMMANDS.map((c): [string, string] => [c.name, c.summary]),
      ['help [<command>]', 'this text, or a command\'s (as "vlan-bridge <command> --help")'],
      ['version', 'the version (as --version)'],
    ]),
    '',
    "Run 'vlan-bridge <command> --help' for a command's options, defaults and exit codes.",
    '',
    'Exit codes of the commands: 0 done; 1 a bug; 2 a usage error; 3 a kernel request failed; 4 the bridge cannot',
    'be used; 5-7 discover; 8 doctor found warnings, 9 errors; 129, 130, 143 interrupted.',
    'The README has the error codes of the plugin, the configuration keys and troubleshooting.',
    '',
  ].join('\n');
}

/** The line after a usage error: where the help is. */
export function tryHelp(command?: string): string {
  return command
    ? `Run 'vlan-bridge ${command} --help' for its options.\n`
    : "Run 'vlan-bridge --help' for the commands.\n";
}
