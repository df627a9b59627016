// Issue 13, item 4, with the built executable: hostile input is answered with the right code and one error
// document, never 999 with a stack trace. Nothing here reaches a namespace (every case fails before that).
import { spawnSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { BIN, ensureBuilt } from '../lab/binary.js';

beforeAll(ensureBuilt, 180_000);

const attach = { CNI_CONTAINERID: 'c1', CNI_NETNS: '/run/netns/none', CNI_IFNAME: 'net1', CNI_PATH: '/usr/lib/cni' };
const nested = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;

function run(env: Record<string, string>, stdin: string | Buffer) {
  const r = spawnSync(BIN, [], { env, input: stdin, encoding: 'utf8', cwd: '/', timeout: 20_000 });
  const docs = r.stdout.split('\n').filter((l) => l.trim() !== '');
  return { status: r.status, stderr: r.stderr, docs, json: docs.length === 1 ? JSON.parse(docs[0]!) : undefined };
}

/** Runs the executable through sh, so that an environment value can hold bytes that are not UTF-8. */
function runRaw(assign: string, stdin: string) {
  const r = spawnSync('/bin/sh', ['-c', `${assign} exec "$0"`, BIN], {
    env: { CNI_COMMAND: 'ADD', ...attach },
    input: stdin,
    encoding: 'utf8',
    timeout: 20_000,
  });
  return { status: r.status, json: JSON.parse(r.stdout), stderr: r.stderr };
}

describe('hostile input to bin/vlan-bridge', () => {
  it('a stdout that cannot be written (a full disk): exit 1 and one line on stderr, no stack trace', () => {
    const r = spawnSync('/bin/sh', ['-c', 'exec "$0" >/dev/full', BIN], {
      env: { CNI_COMMAND: 'VERSION' },
      input: '{"cniVersion":"1.0.0"}',
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^vlan-bridge: cannot write the result to stdout: .*\n$/);
  });

  it.each(['mtu', 'args', 'runtimeConfig', 'vlanTrunk', 'dns', 'prevResult'])(
    '100,000 nested arrays under %s: code 6 for ADD and DEL, no stack trace',
    (key) => {
      const stdin = `{"cniVersion":"1.1.0","name":"net","type":"vlan-bridge","${key}":${nested(100_000)}}`;
      for (const command of ['ADD', 'DEL']) {
        const r = run({ CNI_COMMAND: command, ...attach }, stdin);
        expect(r.status).toBe(1);
        expect(r.docs).toHaveLength(1);
        expect(r.json).toMatchObject({ code: 6, msg: 'network configuration is nested too deeply' });
        // stderr: the error's one log line, without a stack trace.
        const logged = r.stderr.trim().split('\n');
        expect(logged).toHaveLength(1);
        expect(JSON.parse(logged[0]!)).toMatchObject({ level: 'error', outcome: 'error', code: 6 });
        expect(r.stderr).not.toMatch(/\bat .*\(/);
      }
    },
  );

  it('CNI_IFNAME=rtééééééé (9 characters, 16 bytes) is code 4 before anything is opened', () => {
    const r = run(
      { CNI_COMMAND: 'ADD', ...attach, CNI_IFNAME: 'rtééééééé' },
      JSON.stringify({ cniVersion: '1.1.0', name: 'net' }),
    );
    expect(r.json).toMatchObject({ code: 4, msg: 'invalid environment' });
    expect(r.json.details).toContain('longer than 15 bytes');
  });

  it('a bridge of 16 bytes is code 7', () => {
    const r = run(
      { CNI_COMMAND: 'ADD', ...attach },
      JSON.stringify({ cniVersion: '1.1.0', name: 'net', bridge: 'brééééééé' }),
    );
    expect(r.json).toMatchObject({ code: 7 });
    expect(r.json.details).toContain('bridge: interface name is longer than 15 bytes');
  });

  it("CNI_IFNAME=$'rt\\xff1' (not UTF-8) is code 4, not a device named rt\\xEF\\xBF\\xBD1", () => {
    const r = runRaw(`CNI_IFNAME=$(printf 'rt\\377\\061');`, JSON.stringify({ cniVersion: '1.1.0', name: 'net' }));
    expect(r.status).toBe(1);
    expect(r.json).toMatchObject({ code: 4, msg: 'invalid environment' });
    expect(r.json.details).toContain('CNI_IFNAME: interface name is not valid Unicode text');
  });

  it('CNI_NETNS that is not UTF-8 is code 4', () => {
    const r = runRaw(`CNI_NETNS=$(printf '/run/netns/p\\377');`, JSON.stringify({ cniVersion: '1.1.0', name: 'net' }));
    expect(r.json).toMatchObject({ code: 4 });
    expect(r.json.details).toContain('CNI_NETNS: not valid UTF-8');
  });

  it('a config whose bytes are not UTF-8 is code 6; VERSION still answers', () => {
    const bad = Buffer.concat([
      Buffer.from('{"cniVersion":"1.1.0","name":"net","bridge":"br'),
      Buffer.from([0xff]),
      Buffer.from('1"}'),
    ]);
    const r = run({ CNI_COMMAND: 'ADD', ...attach }, bad);
    expect(r.json).toMatchObject({ code: 6, msg: 'network configuration is not valid UTF-8' });
    const v = run({ CNI_COMMAND: 'VERSION' }, bad);
    expect(v.status).toBe(0);
    expect(v.json.supportedVersions).toContain('1.1.0');
  });
});
