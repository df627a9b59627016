// The command line of bin/vlan-bridge as an operator meets it (issue 18): --help says what the executable is, how a
// runtime calls it and what each command does, with options, defaults and exit codes; --version; a mistyped command
// or option is answered with the nearest real one, in one form, exit 2; nothing of that reaches a CNI call.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { BIN, ROOT, ensureBuilt } from '../lab/binary.js';

beforeAll(ensureBuilt, 180_000);

const VERSION = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version as string;

function run(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(BIN, args, { env, encoding: 'utf8', cwd: '/', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('vlan-bridge --help', () => {
  it.each([['--help'], ['-h'], ['help']])('%s: what it is, CNI mode, the commands, exit codes; on stdout', (arg) => {
    const r = run([arg]);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(new RegExp(`^vlan-bridge ${VERSION.replace(/\./g, '\\.')}: a CNI plugin`));
    for (const must of [
      'CNI_COMMAND     ADD, DEL, CHECK, VERSION, STATUS or GC',
      'CNI_CONTAINERID',
      'CNI_NETNS',
      'CNI_IFNAME',
      'CNI_PATH',
      'CNI_ARGS',
      'stdin           the network configuration (JSON)',
      'stdout          the result, or the error',
      'exit code       0 on success, 1 on an error',
      '"logFile"',
      'VLAN_BRIDGE_LOG_FILE',
      /\n {2}doctor +read this node's bridges/,
      /\n {2}discover +ask a VLAN network's DHCP server/,
      "Run 'vlan-bridge <command> --help'",
      'Exit codes of the commands: 0 done; 1 a bug; 2 a usage error',
    ])
      expect(r.stdout).toMatch(must);
    expect(Math.max(...r.stdout.split('\n').map((l) => l.length))).toBeLessThanOrEqual(120);
  });

  it.each([
    ['doctor', ['--bridge <name>  only this bridge (default: every bridge)', '--json', '9  at least one error']],
    [
      'discover',
      [
        '--bridge <name>        the bridge of the network (required)',
        '--vlan <id>            the VLAN: 1-4094, or 0 for the untagged network (required)',
        '--timeout <s>          seconds for the DHCP exchanges (default: 10)',
        '--server <ip>',
        '--address <ip/prefix>',
        '--gateway <ip>',
        '--ping',
        '5              no DHCP server answered within --timeout',
        '129, 130, 143',
      ],
    ],
  ])('%s --help: its options with their defaults and its exit codes', (command, lines) => {
    for (const args of [
      [command, '--help'],
      [command, '-h'],
      ['help', command],
      [command, '--json', '--help'],
    ]) {
      const r = run(args);
      expect(r.status, args.join(' ')).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(new RegExp(`^Usage: vlan-bridge ${command} `));
      for (const l of lines) expect(r.stdout).toContain(l);
      expect(r.stdout).toContain('\nOptions:\n');
      expect(r.stdout).toContain('\nExit codes:\n');
    }
  });

  it('--version and version print the version', () => {
    for (const arg of ['--version', 'version']) {
      const r = run([arg]);
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(
        new RegExp(`^vlan-bridge ${VERSION.replace(/\./g, '\\.')} \\(bun \\d+\\.\\d+\\.\\d+\\)\\n$`),
      );
    }
  });
});

describe('mistakes on the command line', () => {
  it.each([
    [['doctr'], 'vlan-bridge: unknown command "doctr" (did you mean "doctor"?)', ''],
    [['discovr', '--bridge', 'br'], 'vlan-bridge: unknown command "discovr" (did you mean "discover"?)', ''],
    [['--hlep'], 'vlan-bridge: unknown option "--hlep" (did you mean "--help"?)', ''],
    [['--verison'], 'vlan-bridge: unknown option "--verison" (did you mean "--version"?)', ''],
    [['frobnicate'], 'vlan-bridge: unknown command "frobnicate"', ''],
    [['help', 'doktor'], 'vlan-bridge: no help for "doktor" (did you mean "doctor"?)', ''],
    [['doctor', '--brige', 'br0'], 'vlan-bridge doctor: unknown option "--brige" (did you mean "--bridge"?)', 'doctor'],
    [['doctor', '--jsn'], 'vlan-bridge doctor: unknown option "--jsn" (did you mean "--json"?)', 'doctor'],
    [
      ['discover', '--bridge', 'br', '--vlan', '5', '--timout', '3'],
      'vlan-bridge discover: unknown option "--timout" (did you mean "--timeout"?)',
      'discover',
    ],
    [['discover', '--bridge', 'br'], 'vlan-bridge discover: missing --vlan', 'discover'],
    [
      ['discover', '--bridge', 'br', '--vlan', '5000'],
      'vlan-bridge discover: --vlan must be an integer from 0 to 4094 (got 5000)',
      'discover',
    ],
  ])('%j: one line saying what, one saying where the help is; exit 2', (args, first, command) => {
    const r = run(args);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    const help = command
      ? `Run 'vlan-bridge ${command} --help' for its options.`
      : "Run 'vlan-bridge --help' for the commands.";
    expect(r.stderr).toBe(`${first}\n${help}\n`);
  });

  it('with CNI_COMMAND set, arguments are ignored: it is a CNI call', () => {
    const r = run(['--help'], { CNI_COMMAND: 'VERSION' });
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ cniVersion: '1.1.0' });
  });
});
