// Issue 23: every kernel step of ADD, CHECK, DEL and GC, failed in turn in-process (test/lab/step-failure.ts), once
// as the kernel refusing it (EIO) and once as a request that got no answer in time (ETIMEDOUT): the reply carries
// the README's code (100, 11), never a bug's 999, whether or not the failing call site names its step
// (src/plugin/errors.ts maps every failure at the commands' boundary), and nothing is left behind. An L3 config
// with host-local, a gateway address on the bridge, ipMasq and macspoofchk, so that the commands take every kernel
// step this kernel allows (VLANs are the UML tier's). VB_STEP_MATRIX=<file> writes the matrix there as Markdown.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { envOf } from '../lab/cni.js';
import { INJECTED, callInProcess, failEachStep, type Injected, type StepOutcome } from '../lab/step-failure.js';
import { attachmentState, deleteAllNetns, makeNetns, type TestNs } from './netns-fixture.js';

let node: TestNs;
let pod: TestNs;
const tmp = mkdtempSync(path.join(tmpdir(), 'vb-step-codes-'));
const matrix: Array<{ command: string; failure: Injected; outcomes: StepOutcome[] }> = [];

beforeAll(() => {
  node = makeNetns('vbn');
  pod = makeNetns('vbp');
});
afterAll(() => {
  deleteAllNetns();
  if (process.env.VB_STEP_MATRIX) writeFileSync(process.env.VB_STEP_MATRIX, markdown());
});

// 1.0.0: Debian's host-local (1.1.1) speaks no 1.1.0; GC, which needs 1.1.0, skips IPAM for that reason.
const conf = {
  cniVersion: '1.0.0',
  name: 'step-codes',
  type: 'vlan-bridge',
  bridge: 'br-sc',
  isGateway: true,
  isDefaultGateway: true,
  ipMasq: true,
  macspoofchk: true,
  ipam: { type: 'host-local', subnet: '10.85.0.0/24', dataDir: path.join(tmp, 'ipam') },
};
const env = (command: string) => envOf({ command, conf, netns: command === 'GC' ? undefined : pod.path });
const call = (command: string, c: object = conf) => callInProcess(node.path, env(command), c);

async function ok(command: string, c: object = conf): Promise<string> {
  const r = await call(command, c);
  expect(r.code, `${command}: ${r.stdout}`).toBe(0);
  return r.stdout;
}

/** What an attachment of this network leaves on the node and in the pod. */
function state() {
  return attachmentState(node, pod, {
    ipamDir: path.join(tmp, 'ipam', conf.name),
    bridge: conf.bridge,
    marker: /step-codes/,
  });
}
const clean = { veths: [], pod: ['lo'], reservations: [], bridgeAddresses: [], rules: [] };

/** DEL, and the bridge's gateway address (shared, so DEL leaves it) taken away too. */
async function delAll(): Promise<void> {
  await ok('DEL');
  node.exec('ip', 'addr', 'flush', 'dev', conf.bridge);
}

// A test that failed half-way leaves no attachment to the next one.
afterEach(async () => {
  await call('DEL');
  node.exec('ip', 'addr', 'flush', 'dev', conf.bridge);
});

describe.each(['refused', 'timeout'] as const)('each kernel step failing (%s)', (failure) => {
  const expected = INJECTED[failure];

  it(`ADD answers ${expected.code} and leaves nothing`, async () => {
    const r = await failEachStep({ run: () => call('ADD'), undo: delAll, leftovers: state, clean, failure });
    matrix.push({ command: 'ADD', failure, outcomes: r.outcomes });
    expect(r.steps).toBeGreaterThan(10);
    // Only the best-effort steps may fail without failing the ADD (the announcement of the pod's addresses).
    expect(r.failed).toBeGreaterThanOrEqual(r.steps - 4);
  }, 300_000);

  it(`CHECK answers ${expected.code} and changes nothing`, async () => {
    const result = JSON.parse(await ok('ADD'));
    const check = { ...conf, prevResult: result };
    const before = state();
    const r = await failEachStep({
      run: () => call('CHECK', check),
      undo: async () => {},
      leftovers: state,
      clean: before,
      failure,
    });
    matrix.push({ command: 'CHECK', failure, outcomes: r.outcomes });
    expect(r.steps).toBeGreaterThan(5);
    expect(r.failed).toBe(r.steps);
    await ok('CHECK', check);
  }, 300_000);

  it(`DEL answers ${expected.code}; a DEL after it leaves nothing`, async () => {
    const r = await failEachStep({
      prepare: async () => void (await ok('ADD')),
      run: () => call('DEL'),
      undo: delAll,
      afterFailure: delAll,
      leftovers: state,
      clean,
      failure,
    });
    matrix.push({ command: 'DEL', failure, outcomes: r.outcomes });
    expect(r.steps).toBeGreaterThan(3);
    expect(r.failed).toBe(r.steps);
  }, 300_000);

  it(`GC answers ${expected.code}; a DEL after it leaves nothing`, async () => {
    const gc = { ...conf, cniVersion: '1.1.0', 'cni.dev/valid-attachments': [] };
    const r = await failEachStep({
      prepare: async () => void (await ok('ADD')),
      run: () => call('GC', gc),
      undo: delAll,
      afterFailure: delAll,
      leftovers: state,
      clean,
      failure,
    });
    matrix.push({ command: 'GC', failure, outcomes: r.outcomes });
    expect(r.steps).toBeGreaterThan(2);
    expect(r.failed).toBe(r.steps);
  }, 300_000);
});

/** The matrix as Markdown: per command, each step's netlink operation and the code with EIO and with ETIMEDOUT. */
function markdown(): string {
  const out: string[] = [];
  for (const command of ['ADD', 'CHECK', 'DEL', 'GC']) {
    const rows = matrix.filter((m) => m.command === command);
    if (rows.length === 0) continue;
    out.push(`### ${command}`, '', '| step | netlink operation | EIO | ETIMEDOUT |', '| --- | --- | --- | --- |');
    const by = (f: Injected) => rows.find((m) => m.failure === f)?.outcomes ?? [];
    by('refused').forEach((x, i) => {
      const op = x.op.replace(/\(failure injected.*$/, '').replace(/\|/g, '\\|');
      out.push(`| ${x.step} | ${op} | ${x.code} | ${by('timeout')[i]?.code ?? '-'} |`);
    });
    out.push('');
  }
  return out.join('\n');
}
