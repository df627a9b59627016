#!/usr/bin/env node
// Runs every vitest project once and ends with one plain summary line ("vitest: N passed, N failed, N skipped").
// Under CI a skipped or todo test fails the run: no tier may silently not run. vitest runs under Bun (the pinned
// npm package), so the in-process kernel tests exercise the same bun:ffi code that the executable ships.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';

mkdirSync('build', { recursive: true });
const out = 'build/test-results.json';
rmSync(out, { force: true });
const r = spawnSync(
  'node_modules/@oven/bun-linux-x64/bin/bun',
  [
    '--bun',
    'node_modules/vitest/vitest.mjs',
    'run',
    '--reporter=default',
    '--reporter=json',
    `--outputFile.json=${out}`,
    ...process.argv.slice(2),
  ],
  { stdio: 'inherit' },
);
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
