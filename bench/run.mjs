#!/usr/bin/env node
// `make bench`: whole-process figures, interleaved runs, medians and p95, side by side with the floor (bare
// `node -e 0`) and the reference plugin where it applies. Writes bench/results/latest.{json,md}.
// Today: VERSION (start-up cost alone). ADD/DEL, churn and UML trunk figures join here (issue 7).
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const RUNS = Number(process.env.BENCH_RUNS ?? 60);
const bin = path.resolve('bin/vlan-bridge');
const ref = '/usr/lib/cni/bridge';

function timeOnce(cmd, args, env, input) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env, input, stdio: ['pipe', 'ignore', 'ignore'] });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} exited ${r.status}`);
  return ms;
}

const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { median: q(0.5), p95: q(0.95), n: s.length };
};

const subjects = {
  'node -e 0 (floor)': () => timeOnce(process.execPath, ['-e', '0'], {}, ''),
  'vlan-bridge VERSION': () => timeOnce(bin, [], { CNI_COMMAND: 'VERSION' }, '{"cniVersion":"1.0.0"}'),
  'reference bridge VERSION': () => timeOnce(ref, [], { CNI_COMMAND: 'VERSION' }, '{"cniVersion":"1.0.0"}'),
};

const samples = Object.fromEntries(Object.keys(subjects).map((k) => [k, []]));
for (const fn of Object.values(subjects)) fn(); // warm the page cache
for (let i = 0; i < RUNS; i++) for (const [k, fn] of Object.entries(subjects)) samples[k].push(fn());

const rows = Object.entries(samples).map(([k, xs]) => ({ subject: k, ...stats(xs) }));
const floor = rows[0].median;
const ours = rows[1].median;
const reference = rows[2].median;
const result = {
  date: new Date().toISOString(),
  machine: `${os.cpus()[0]?.model ?? 'cpu'} x${os.cpus().length}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.release()}, node ${process.version}`,
  runs: RUNS,
  rows,
  goals: { versionOverFloorMs: { value: ours - floor, goal: 10, met: ours - floor <= 10 } },
  ratios: { versionToReference: ours / reference },
};
const md = [
  `| subject | median ms | p95 ms |`, `| --- | --- | --- |`,
  ...rows.map((r) => `| ${r.subject} | ${r.median.toFixed(1)} | ${r.p95.toFixed(1)} |`),
  '',
  `VERSION over the node floor: ${(ours - floor).toFixed(1)} ms (goal <= 10 ms: ${result.goals.versionOverFloorMs.met ? 'met' : 'missed'}); `
    + `${result.ratios.versionToReference.toFixed(1)}x the reference plugin's VERSION. ${RUNS} interleaved runs on ${result.machine}.`,
].join('\n');
mkdirSync('bench/results', { recursive: true });
writeFileSync('bench/results/latest.json', `${JSON.stringify(result, null, 2)}\n`);
writeFileSync('bench/results/latest.md', `${md}\n`);
console.log(md);
