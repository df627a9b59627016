#!/usr/bin/env node
// Runs every vitest project once and ends with one plain summary line ("vitest: N passed, N failed, N skipped").
// Under CI a skipped or todo test fails the run: no tier may silently not run. vitest runs under Bun (the pinned
// npm package), so the in-process kernel tests exercise the same bun:ffi code that the executable ships.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';

mkdirSync('build', { recursive: true });
const out = 'build/test-results.json';
rmSync(out, { force: true });
const args = process.argv.slice(2);

// The k8s project's Go parts (Multus and crictl, test/k8s/build.sh: about 4 minutes cold on 2 cores, nothing when
// build/k8s is up to date) build in the background, niced, while the other projects run; the k8s project runs
// after them (sequence.groupOrder in vitest.config.ts) and its first hook waits for this build (the script's flock)
// or builds what is missing itself. Started only when the run includes that project; output in build/k8s/build.log.
const projects = args.flatMap((a, i) =>
  a.startsWith('--project=') ? [a.slice('--project='.length)] : a === '--project' ? [args[i + 1]] : [],
);
let k8sBuild;
if (projects.length === 0 || projects.includes('k8s')) {
  mkdirSync('build/k8s', { recursive: true });
  const log = openSync('build/k8s/build.log', 'w');
  k8sBuild = spawn('nice', ['-n', '10', 'bash', 'test/k8s/build.sh'], { stdio: ['ignore', log, log], detached: true });
}

const r = spawnSync(
  'node_modules/@oven/bun-linux-x64/bin/bun',
  [
    '--bun',
    'node_modules/vitest/vitest.mjs',
    'run',
    '--reporter=default',
    '--reporter=json',
    `--outputFile.json=${out}`,
    ...args,
  ],
  { stdio: 'inherit' },
);
// A background build vitest never waited for (the run ended early) ends with it: its process group, by its id.
if (k8sBuild) {
  try {
    process.kill(-k8sBuild.pid, 'SIGTERM');
  } catch {
    // finished
  }
}
let report;
try {
  report = JSON.parse(readFileSync(out, 'utf8'));
} catch {
  console.error('test/run: vitest wrote no results');
  process.exit(r.status || 1);
}
const passed = report.numPassedTests;
const failed = report.numFailedTests;
const skipped = report.numPendingTests + report.numTodoTests;
const suitesFailed = report.numFailedTestSuites;
console.log(`vitest: ${passed} passed, ${failed} failed, ${skipped} skipped`);
if (passed === 0) {
  console.error('test/run: no test ran');
  process.exit(1);
}
if (process.env.CI && skipped > 0) {
  console.error('test/run: tests were skipped under CI; every tier must run');
  process.exit(1);
}
process.exit(r.status === 0 && failed === 0 && suitesFailed === 0 ? 0 : 1);
