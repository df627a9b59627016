// Runs vitest INSIDE user-mode Linux on guest test files (*.guest.test.ts) and brings the results back to the
// host test as data. Guest files use the guest kernel (VLAN-filtering bridges, 802.1q, bonding) directly.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT, removeUmlDir, runInUml, shQuote } from './uml.js';

export const GUEST_CONFIG = 'test/uml/vitest.guest.config.ts';

export interface GuestVitestOptions {
  /** Whole UML run, boot and vitest startup included (default 240 s). */
  timeoutMs?: number;
  memMb?: number;
  env?: Record<string, string>;
  /** Keep the work dir even when everything passed (it is always kept when something did not). */
  keepDir?: boolean;
}

export type GuestTestStatus = 'passed' | 'failed' | 'skipped' | 'pending' | 'todo' | 'disabled' | string;

export interface GuestTest {
  /** Path relative to the repo root. */
  file: string;
  /** describe titles and test title joined by spaces. */
  fullName: string;
  status: GuestTestStatus;
  failureMessages: string[];
  durationMs?: number;
}

export interface GuestReport {
  tests: GuestTest[];
  /** Files that failed outside any test (import error, failing hook, syntax error...). */
  fileErrors: { file: string; message: string }[];
  passed: number;
  failed: number;
  skipped: number;
  /** False when vitest wrote no JSON report (it crashed, the guest timed out or never booted). */
  reportFound: boolean;
  /** vitest's exit status inside the guest (null: it never finished). */
  exitCode: number | null;
  timedOut: boolean;
  /** vitest's default-reporter output (stdout+stderr). */
  output: string;
  consoleLog: string;
  dir: string;
  durationMs: number;
}

// Shape of the parts of vitest's JSON reporter output (jest-compatible) that we read.
interface JsonAssertion {
  fullName?: string;
  title?: string;
  ancestorTitles?: string[];
  status: string;
  failureMessages?: string[] | null;
  duration?: number | null;
}
interface JsonFileResult {
  name: string;
  status: string;
  message?: string;
  assertionResults?: JsonAssertion[];
}

/**
 * Runs `vitest run` inside UML on `files` (paths relative to the repo root, or absolute). With no files it runs the
 * guest config's
 * default include (test/uml/guest/**\/*.guest.test.ts); with files, exactly those files are included, wherever
 * they live (the config reads VB_GUEST_INCLUDE).
 */
export async function runGuestVitest(files: string[], opts: GuestVitestOptions = {}): Promise<GuestReport> {
  const rels = files.map((f) => (path.isAbsolute(f) ? path.relative(REPO_ROOT, f) : f));
  for (const f of rels) {
    if (f.includes(',')) throw new Error(`guest test path must not contain a comma: ${f}`);
  }
  // The report path is only known once runInUml has made the work dir, so the script reads it from
  // UML_WORK_DIR, which runInUml exports in the guest. `--outputFile.json` targets only the json reporter.
  const script = [
    // Bun runs vitest in the guest too: the in-process kernel tests exercise the bun:ffi code that ships.
    'exec node_modules/@oven/bun-linux-x64/bin/bun --bun node_modules/vitest/vitest.mjs run',
    `--config ${shQuote(GUEST_CONFIG)}`,
    '--reporter=default --reporter=json --outputFile.json="$UML_WORK_DIR/vitest-report.json"',
    ...rels.map(shQuote),
  ].join(' ');
  const run = await runInUml({
    script,
    timeoutMs: opts.timeoutMs ?? 240_000,
    ...(opts.memMb !== undefined ? { memMb: opts.memMb } : {}),
    env: {
      NO_COLOR: '1',
      CI: '1',
      ...(rels.length ? { VB_GUEST_INCLUDE: rels.join(',') } : {}),
      ...opts.env,
    },
  });
  const report: GuestReport = {
    tests: [],
    fileErrors: [],
    passed: 0,
    failed: 0,
    skipped: 0,
    reportFound: false,
    exitCode: run.exitCode,
    timedOut: run.timedOut,
    output: run.output,
    consoleLog: run.consoleLog,
    dir: run.dir,
    durationMs: run.durationMs,
  };
  const jsonPath = path.join(run.dir, 'vitest-report.json');
  if (fs.existsSync(jsonPath)) {
    const json = JSON.parse(fs.readFileSync(jsonPath, 'utf8')) as { testResults?: JsonFileResult[] };
    report.reportFound = true;
    for (const fr of json.testResults ?? []) {
      const file = path.relative(REPO_ROOT, fr.name);
      const asserts = fr.assertionResults ?? [];
      for (const a of asserts) {
        report.tests.push({
          file,
          fullName: a.fullName ?? [...(a.ancestorTitles ?? []), a.title ?? ''].join(' '),
          status: a.status,
          failureMessages: a.failureMessages ?? [],
          ...(typeof a.duration === 'number' ? { durationMs: a.duration } : {}),
        });
      }
      // A failed file with a message and no failed test failed outside any test.
      if (fr.status === 'failed' && fr.message && !asserts.some((a) => a.status === 'failed')) {
        report.fileErrors.push({ file, message: fr.message });
      }
    }
  }
  report.passed = report.tests.filter((t) => t.status === 'passed').length;
  report.failed = report.tests.filter((t) => t.status === 'failed').length;
  report.skipped = report.tests.length - report.passed - report.failed;
  if (guestProblems(report).length === 0 && !opts.keepDir) removeUmlDir(run.dir);
  return report;
}

function guestProblems(r: GuestReport): string[] {
  const problems: string[] = [];
  if (r.timedOut) problems.push(`UML run timed out after ${r.durationMs} ms`);
  if (!r.reportFound) problems.push('vitest wrote no JSON report (crashed, or the guest never got that far)');
  for (const e of r.fileErrors) problems.push(`${e.file}: ${e.message}`);
  for (const t of r.tests.filter((t) => t.status === 'failed')) {
    problems.push(`FAILED ${t.file} > ${t.fullName}\n${t.failureMessages.join('\n')}`);
  }
  // A run that executed nothing proves nothing (wrong path, include mismatch, everything skipped).
  if (r.reportFound && r.passed === 0) problems.push('no guest test passed (did any run at all?)');
  if (problems.length === 0 && r.exitCode !== 0) problems.push(`vitest exited with status ${r.exitCode}`);
  return problems;
}

/** Throws, listing every failed test with its messages, unless the guest run passed and passed > 0 tests. */
export function expectGuestPassed(r: GuestReport): void {
  const problems = guestProblems(r);
  if (problems.length === 0) return;
  const tail = (s: string, n: number) => s.split('\n').slice(-n).join('\n');
  throw new Error(
    `guest vitest run failed (${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped; work dir ${r.dir}):\n` +
      problems.join('\n\n') +
      `\n--- vitest output (tail) ---\n${tail(r.output, 40)}` +
      (r.reportFound ? '' : `\n--- UML console (tail) ---\n${tail(r.consoleLog, 20)}`),
  );
}

/**
 * Runs one guest file against the built executable: builds it here on the host if needed, hands the guest a
 * private copy (VB_PLUGIN_BIN) so a concurrent rebuild of bin/ cannot change it mid-run, and requires exactly
 * `tests` tests, every one passed (a test that vanished or was skipped fails the host test).
 */
export async function expectGuestFilePasses(
  file: string,
  tests: number,
  timeoutMs: number,
  memMb?: number,
): Promise<void> {
  const { BIN, ensureBuilt } = await import('./binary.js');
  ensureBuilt();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vb-guest-bin-'));
  try {
    const bin = path.join(tmp, 'vlan-bridge');
    fs.copyFileSync(BIN, bin);
    const report = await runGuestVitest([file], {
      timeoutMs,
      env: { VB_PLUGIN_BIN: bin },
      ...(memMb !== undefined ? { memMb } : {}),
    });
    expectGuestPassed(report);
    const wrong = report.tests
      .filter((t) => t.file !== file || t.status !== 'passed')
      .map((t) => `${t.status} ${t.file} ${t.fullName}`);
    if (wrong.length) throw new Error(`guest tests not passed or from another file:\n${wrong.join('\n')}`);
    if (report.passed !== tests)
      throw new Error(
        `${file}: ${report.passed} tests passed, expected exactly ${tests} (update the count when adding tests)`,
      );
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
