// The built executable as a runtime runs it: stdout holds exactly one JSON document (or nothing), with the right
// exit code, whatever the input; no stack trace or log line ever reaches stdout. On this machine's CPU and, under
// qemu-user, on a CPU without AVX and a recent one: a build must work on every node's CPU, not just the builder's.
import { spawnSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { EMULATED_CPUS, binCommand, ensureBuilt, withoutQemuWarnings } from '../lab/binary.js';

beforeAll(ensureBuilt, 180_000);

const attach = { CNI_CONTAINERID: 'c1', CNI_NETNS: '/run/netns/none', CNI_IFNAME: 'net1', CNI_PATH: '/usr/lib/cni' };

describe.each([undefined, ...EMULATED_CPUS])('bin/vlan-bridge as a process (emulated CPU: %s)', (cpu) => {
  function run(env: Record<string, string>, stdin: string) {
    const { file, args } = binCommand(cpu);
    const r = spawnSync(file, args, { env, input: stdin, encoding: 'utf8', cwd: '/', timeout: 60_000 });
    const docs = r.stdout.split('\n').filter((l) => l.trim() !== '');
    return {
      status: r.status,
      stdout: r.stdout,
      stderr: withoutQemuWarnings(r.stderr),
      docs,
      json: docs.length === 1 ? JSON.parse(docs[0]!) : undefined,
    };
  }

  it.each([
    ['garbage stdin', 'not json at all', 6],
    ['empty stdin', '', 6],
    ['a JSON array', '[1,2,3]', 6],
    ['a bad config', JSON.stringify({ cniVersion: '1.0.0', name: 'x', vlan: 'ten', mtu: 5 }), 7],
    ['an unsupported version', JSON.stringify({ cniVersion: '3.0.0', name: 'x' }), 1],
  ])('ADD with %s exits 1 with one error document (code %i)', (_n, stdin, code) => {
    const r = run({ CNI_COMMAND: 'ADD', ...attach }, stdin);
    expect(r.status).toBe(1);
    expect(r.docs).toHaveLength(1);
    expect(r.json).toMatchObject({ code });
    expect(typeof r.json.msg).toBe('string');
    expect(r.stdout).not.toMatch(/\bat .*\(/);
  });

  it('reports every config problem with its path and value', () => {
    const r = run(
      { CNI_COMMAND: 'ADD', ...attach },
      JSON.stringify({ cniVersion: '1.0.0', name: 'x', vlan: 'ten', mtu: 5 }),
    );
    expect(r.json.details).toBe(
      'mtu: must be 0 (inherit) or 68-65535 (got 5); vlan: Invalid input: expected number, received string (got "ten")',
    );
  });

  it('a missing variable is code 4 naming it', () => {
    const r = run({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1', CNI_IFNAME: 'net1', CNI_PATH: '/x' }, '{}');
    expect(r.json).toMatchObject({ code: 4, msg: 'required env variables [CNI_NETNS] missing' });
  });

  it('VERSION answers with the input version', () => {
    const r = run({ CNI_COMMAND: 'VERSION' }, '{"cniVersion":"0.3.1"}');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.json).toEqual({
      cniVersion: '0.3.1',
      supportedVersions: ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'],
    });
  });

  it('VERSION with garbage or empty stdin still answers', () => {
    for (const stdin of ['garbage', '']) {
      const r = run({ CNI_COMMAND: 'VERSION' }, stdin);
      expect(r.status).toBe(0);
      expect(r.docs).toHaveLength(1);
      expect(r.json.cniVersion).toBe('1.1.0');
    }
  });

  it('without CNI_COMMAND prints the about line, the versions and where the help is, on stderr only', () => {
    const r = run({}, '');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(
      /^CNI vlan-bridge plugin \d+\.\d+\.\d+\nCNI protocol versions supported: 0\.1\.0, 0\.2\.0, 0\.3\.0, 0\.3\.1, 0\.4\.0, 1\.0\.0, 1\.1\.0\nRun 'vlan-bridge --help' for how to call it, its commands and exit codes\.\n$/,
    );
  });
});
