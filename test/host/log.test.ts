// The log as an operator reads it on a node (issue 18): 32 concurrent ADDs and DELs of the executable, and a few
// refused ADDs among them, all appending to one file named by the config's logFile at logLevel debug. Every line
// must parse on its own (none torn or interleaved), every call must have its one line with its outcome, and the
// debug lines must name each kernel request. Then the same with the file just under its size cap, so that it is
// rotated while the processes write: exactly one rotation, and no line lost.
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { LOG_MAX_BYTES } from '../../src/cni/log-file.js';
import { cniAsync, type CniReply } from '../lab/cni.js';
import { freshNodeAndPod, makeNetns, type TestNs } from './netns-fixture.js';

let node: TestNs;
let tmp: string;
freshNodeAndPod('vb-log-', (n, _p, t) => {
  node = n;
  tmp = t;
});

const N = 32;
let pods: TestNs[];
beforeEach(() => {
  pods = Array.from({ length: N }, () => makeNetns('vblog'));
});

/** Lines of `text`, each parsed; a line that is not one whole JSON object fails the test, naming it. */
function parseLines(text: string): any[] {
  expect(text.endsWith('\n'), 'the file ends with a whole line').toBe(true);
  return text
    .slice(0, -1)
    .split('\n')
    .map((l, i) => {
      try {
        const v = JSON.parse(l);
        expect(typeof v).toBe('object');
        return v;
      } catch {
        throw new Error(`line ${i + 1} is not one JSON object: ${l.slice(0, 300)}`);
      }
    });
}

/** 32 ADDs (and 4 refused ADDs) at once, then 32 DELs at once, all logging to `file` at debug. */
async function churn(file: string): Promise<void> {
  const conf = {
    cniVersion: '1.0.0',
    name: 'logs',
    type: 'vlan-bridge',
    bridge: 'br-log',
    ipam: {},
    logFile: file,
    logLevel: 'debug',
  };
  const call = (command: string, i: number, extra: object = {}): Promise<CniReply> =>
    cniAsync(node.name, { command, conf: { ...conf, ...extra }, containerId: `c${i}`, netns: pods[i]!.path });
  const adds = await Promise.all([
    ...pods.map((_, i) => call('ADD', i)),
    ...[0, 1, 2, 3].map((i) => call('ADD', i, { vlan: 5000 })),
  ]);
  for (const r of adds.slice(0, N)) expect(r.code, r.stdout + r.stderr).toBe(0);
  for (const r of adds.slice(N)) expect(r.json).toMatchObject({ code: 7 });
  const dels = await Promise.all(pods.map((_, i) => call('DEL', i)));
  for (const r of dels) expect(r.code, r.stdout + r.stderr).toBe(0);
  // Nothing of the log reaches stdout or stderr: it all went to the file.
  for (const r of [...adds, ...dels]) expect(r.stderr).toBe('');
}

/** The calls' own lines, checked: one per call, with its fields; the debug lines of each call. */
function checkCalls(lines: any[]): void {
  const done = lines.filter((l) => l.outcome !== undefined);
  expect(done).toHaveLength(2 * N + 4);
  for (const l of done) {
    expect(Object.keys(l).slice(0, 7)).toEqual(['time', 'level', 'pid', 'cmd', 'network', 'container', 'ifname']);
    expect(l).toMatchObject({ network: 'logs', ifname: 'net1' });
    expect(typeof l.ms).toBe('number');
    expect(l.ms).toBeGreaterThan(0);
    expect(new Date(l.time).toISOString()).toBe(l.time);
  }
  const ok = (cmd: string) =>
    done
      .filter((l) => l.cmd === cmd && l.outcome === 'ok' && l.level === 'info')
      .map((l) => l.container)
      .sort();
  const all = pods.map((_, i) => `c${i}`).sort();
  expect(ok('ADD')).toEqual(all);
  expect(ok('DEL')).toEqual(all);
  const refused = done.filter((l) => l.outcome === 'error');
  expect(refused).toHaveLength(4);
  for (const l of refused) {
    expect(l).toMatchObject({ level: 'error', cmd: 'ADD', code: 7, msg: 'invalid network configuration' });
    expect(l.details).toContain('vlan:');
  }
  // Each successful call's steps: its kernel requests, each named, timed, before its own last line.
  for (const l of done.filter((x) => x.outcome === 'ok')) {
    const mine = lines.filter((x) => x.pid === l.pid);
    expect(mine.at(-1)).toBe(l);
    const steps = mine.filter((x) => x.level === 'debug' && x.msg === 'netlink');
    expect(steps.length, `${l.cmd} ${l.container}`).toBeGreaterThan(2);
    for (const s of steps) expect(typeof s.op === 'string' && typeof s.ms === 'number').toBe(true);
    const made = l.cmd === 'ADD' ? 'create veth' : 'delete link';
    expect(
      steps.some((s) => s.op.startsWith(made) && s.error === undefined),
      `${l.cmd}: ${made}`,
    ).toBe(true);
  }
}

describe('the log file under 32 concurrent calls', () => {
  it('every line whole and parseable; one line per call with its outcome; debug lines for each request', async () => {
    const file = path.join(tmp, 'vlan-bridge.log');
    await churn(file);
    checkCalls(parseLines(readFileSync(file, 'utf8')));
  });

  it('rotated once while they write, just under the cap: nothing lost, nothing torn, both files whole', async () => {
    const file = path.join(tmp, 'vlan-bridge.log');
    // Earlier lines that fill the file to 48 KiB under the cap: the calls' lines cross it.
    const filler = (n: number) => `{"earlier":"${String(n).padStart(8, '0')}","pad":"${'x'.repeat(80)}"}\n`;
    const count = Math.floor((LOG_MAX_BYTES - 48 * 1024) / filler(0).length);
    writeFileSync(file, Array.from({ length: count }, (_, n) => filler(n)).join(''));
    await churn(file);
    const rotated = parseLines(readFileSync(`${file}.1`, 'utf8'));
    const current = parseLines(readFileSync(file, 'utf8'));
    expect(statSync(`${file}.1`).size).toBeLessThanOrEqual(LOG_MAX_BYTES);
    // Every earlier line is in the rotated file, once and in order: a second rotation would have lost them.
    const earlier = rotated.filter((l) => l.earlier !== undefined).map((l) => Number(l.earlier));
    expect(earlier).toEqual(Array.from({ length: count }, (_, n) => n));
    expect(current.some((l) => l.earlier !== undefined)).toBe(false);
    // The calls' lines went to both files: the rotation happened while they ran.
    expect(rotated.some((l) => l.earlier === undefined)).toBe(true);
    expect(current.length).toBeGreaterThan(0);
    checkCalls([...rotated, ...current].filter((l) => l.earlier === undefined));
  });
});
