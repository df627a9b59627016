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
    expect(r.stderr).toMatch(/^vlan-bridge: cannot write to stdout: .*\n$/);
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

// Issue 23: an error stays small whatever the input (kubelet copies it into the pod's events and its log): values
// quoted in it are cut after 64 characters, a list of problems stops after 20, the whole JSON is under 4 KiB.
describe('errors of bounded size, whatever the input', () => {
  const conf = { cniVersion: '1.1.0', name: 'net', type: 'vlan-bridge' };
  const mb = 'x'.repeat(1 << 20);
  const nestedValue = (depth: number): unknown => (depth === 0 ? 'leaf' : [nestedValue(depth - 1)]);

  /** One error document under 4 KiB with `code`; returns it. */
  function bounded(r: ReturnType<typeof run>, code: number): { code: number; msg: string; details?: string } {
    expect(r.status, r.stderr).toBe(1);
    expect(r.docs).toHaveLength(1);
    expect(Buffer.byteLength(r.docs[0]!), r.docs[0]).toBeLessThan(4096);
    expect(r.json.code, r.docs[0]).toBe(code);
    expect(r.stderr).not.toMatch(/\bat .*\(/);
    return r.json;
  }

  it.each([
    [
      '10,000 vlanTrunk entries without maxID',
      {},
      { ...conf, vlanTrunk: Array.from({ length: 10_000 }, (_, i) => ({ minID: (i % 4094) + 1 })) },
      7,
      /^vlanTrunk\[0\]: minID and maxID must be set together \(got \{"minID":1\}\); .*; and \d+ more$/,
    ],
    [
      '10,000 unknown CNI_ARGS keys',
      { CNI_ARGS: Array.from({ length: 10_000 }, (_, i) => `K${i}=v${i}`).join(';') },
      conf,
      2,
      /^CNI_ARGS\.K0: unknown key \(got "v0"\); set IgnoreUnknown=true to allow it; .*; and \d+ more$/,
    ],
    [
      'a name of 1 MB',
      {},
      { ...conf, name: `-${mb}` },
      7,
      /^name: must match .* \(got "-x+…\(1048515 more characters\)\)$/,
    ],
    [
      'a bridge of 1 MB',
      {},
      { ...conf, bridge: mb },
      7,
      /^bridge: interface name is longer than 15 bytes .* \(got "x+…\(1048514 more characters\)\)$/,
    ],
    ['a 1 MB string for a number', {}, { ...conf, mtu: mb }, 7, /^mtu: .* \(got "x+…\(1048514 more characters\)\)$/],
    [
      'a 1 MB MAC in runtimeConfig',
      {},
      { ...conf, runtimeConfig: { mac: mb } },
      7,
      /^runtimeConfig\.mac: not a 48-bit MAC address .*…\(1048514 more characters\)\)$/,
    ],
    [
      'a deep, wide prevResult (10,000 entries nested 60 levels)',
      {},
      { ...conf, prevResult: { cniVersion: '1.1.0', ips: Array.from({ length: 10_000 }, () => nestedValue(60)) } },
      7,
      /^prevResult\.ips\[0\]: .* \(got \[\[\[\[.*…\(\d+ more characters\)\); .*; and \d+ more$/,
    ],
    [
      '10,000 bad cni.dev/valid-attachments for GC',
      { CNI_COMMAND: 'GC' },
      { ...conf, 'cni.dev/valid-attachments': Array.from({ length: 10_000 }, () => ({ containerID: 5 })) },
      7,
      /^cni\.dev\/valid-attachments\[0\]: must be .*; and \d+ more$/,
    ],
  ])('%s', (_, env, stdin, code, details) => {
    const e = bounded(run({ CNI_COMMAND: 'ADD', ...attach, ...env }, JSON.stringify(stdin)), code);
    expect(e.details).toMatch(details);
  });

  it('a cniVersion of 1 MB: code 1, the version cut in the message', () => {
    const e = bounded(run({ CNI_COMMAND: 'ADD', ...attach }, JSON.stringify({ ...conf, cniVersion: mb })), 1);
    expect(e.msg).toBe(`incompatible CNI version "${'x'.repeat(63)}…(1048514 more characters)`);
  });

  it('a CNI_COMMAND and a CNI_NETNS of 100,000 characters: codes 4 and 101, cut', () => {
    const long = 'X'.repeat(100_000);
    expect(bounded(run({ ...attach, CNI_COMMAND: long }, JSON.stringify(conf)), 4).msg).toBe(
      `unknown CNI_COMMAND: ${'X'.repeat(64)}…(99936 more characters)`,
    );
    const netns = `/${'n'.repeat(100_000)}`;
    expect(bounded(run({ CNI_COMMAND: 'ADD', ...attach, CNI_NETNS: netns }, JSON.stringify(conf)), 101).msg).toMatch(
      /^open network namespace: \/n+…\(99937 more characters\): (no such network namespace|cannot open: .*)$/,
    );
  });

  it('10,000 valid vlanTrunk entries on a bridge that cannot filter VLANs: 103 or 108, the trunk cut', () => {
    // In a network namespace of its own (it goes with the process) holding a bridge with VLAN filtering off; the
    // plugin's namespace is the pod's (CNI_NETNS_OVERRIDE), and ADD refuses before it makes anything.
    const trunk = {
      ...conf,
      bridge: 'br-big',
      vlanTrunk: Array.from({ length: 10_000 }, (_, i) => ({ id: (i % 4094) + 1 })),
    };
    const r = spawnSync('unshare', ['--net', 'sh', '-c', 'ip link add br-big type bridge && exec "$0"', BIN], {
      env: {
        CNI_COMMAND: 'ADD',
        ...attach,
        CNI_NETNS: '/proc/self/ns/net',
        CNI_NETNS_OVERRIDE: '1',
        PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
      },
      input: JSON.stringify(trunk),
      encoding: 'utf8',
      timeout: 20_000,
    });
    const docs = r.stdout.split('\n').filter((l) => l.trim() !== '');
    // The kernel reports a bridge's VLAN attributes only when it has bridge VLAN filtering.
    const probe = spawnSync(
      'unshare',
      ['--net', 'sh', '-c', 'ip link add br-big type bridge && ip -j -d link show br-big'],
      {
        encoding: 'utf8',
      },
    );
    const filtering = 'vlan_default_pvid' in JSON.parse(probe.stdout)[0].linkinfo.info_data;
    const e = bounded({ status: r.status, stderr: r.stderr, docs, json: JSON.parse(docs[0]!) }, filtering ? 103 : 108);
    const quoted = /vlanTrunk=\[\{"id":1\},\{"id":2\},.*…\(\d+ more characters\)/;
    expect(e.msg).toMatch(quoted);
    expect(e.details).toMatch(quoted);
  });
});
