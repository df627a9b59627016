// Builds and runs the reference's bridge suite for the conformance tier (test/conformance/conformance.test.ts):
// test/conformance/build.sh makes the test binaries and the reference executables under build/conformance, and each
// run writes Ginkgo's JSON report, read back here as one SpecOutcome per spec.
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from '../lab/binary.js';
import { squash, type SpecOutcome } from './classify.js';

export const OUT = path.join(ROOT, 'build', 'conformance');
/** The reference executables of the same tree: `bridge` (the control) and `host-local`, on CNI_PATH for both. */
const CNI_DIR = path.join(OUT, 'cni');
export const REFERENCE_BRIDGE = path.join(CNI_DIR, 'bridge');

/** Runs build.sh (nothing to do when its stamp matches); returns what it said. */
export function buildSuite(): string {
  const script = path.join(ROOT, 'test', 'conformance', 'build.sh');
  const r = spawnSync('bash', [script], { encoding: 'utf8', timeout: 600_000 });
  if (r.status !== 0) throw new Error(`${script} failed (${r.status ?? r.signal}):\n${r.stdout}${r.stderr}`);
  return r.stderr.trim();
}

interface GinkgoSpec {
  ContainerHierarchyTexts: string[];
  LeafNodeType: string;
  LeafNodeText: string;
  State: string;
  Failure?: { Message?: string; Location?: { FileName?: string; LineNumber?: number } };
}

/** A report's specs in run order; a name that repeats (the suite has several) gets `#2`, `#3`... */
function outcomes(reportFile: string): SpecOutcome[] {
  const report = JSON.parse(readFileSync(reportFile, 'utf8')) as Array<{ SpecReports: GinkgoSpec[] | null }>;
  const seen = new Map<string, number>();
  return (report[0]?.SpecReports ?? [])
    .filter((s) => s.LeafNodeType === 'It')
    .map((s) => {
      const name = [...s.ContainerHierarchyTexts.slice(1), s.LeafNodeText].join(' ');
      const n = (seen.get(name) ?? 0) + 1;
      seen.set(name, n);
      const loc = s.Failure?.Location;
      const passed = s.State === 'passed';
      return {
        key: n === 1 ? name : `${name} #${n}`,
        passed,
        failure: passed ? '' : squash(`${s.State === 'failed' ? '' : `${s.State}: `}${s.Failure?.Message ?? ''}`),
        where: passed ? '' : `${path.basename(loc?.FileName ?? '?')}:${loc?.LineNumber ?? '?'}`,
      };
    });
}

export interface SuiteRun {
  specs: SpecOutcome[];
  seconds: number;
  /** Where the run's output (Ginkgo's succinct log, the shim's notes) and JSON report are. */
  log: string;
}

/**
 * Runs the suite once: `native` is the reference in process (bridge-native.test), anything else the path of an
 * executable that the exec shim runs for every ADD/DEL/CHECK/STATUS (bridge-exec.test). Specs run one after the
 * other in namespaces the suite makes (testutils.NewNS); its temp files go to a directory of its own, removed after.
 */
export function runSuite(name: string, plugin: 'native' | string): SuiteRun {
  const runs = path.join(OUT, 'runs');
  mkdirSync(runs, { recursive: true });
  const reportFile = path.join(runs, `${name}.json`);
  const log = path.join(runs, `${name}.log`);
  rmSync(reportFile, { force: true });
  const tmp = mkdtempSync(path.join(runs, `${name}-tmp-`));
  const binary = path.join(OUT, plugin === 'native' ? 'bridge-native.test' : 'bridge-exec.test');
  const t0 = performance.now();
  const fd = openSync(log, 'w');
  const args = ['--ginkgo.seed=1', '--ginkgo.no-color', '--ginkgo.succinct', `--ginkgo.json-report=${reportFile}`];
  const r = spawnSync(binary, args, {
    cwd: runs,
    stdio: ['ignore', fd, fd],
    timeout: 300_000,
    env: {
      ...process.env,
      // testutils passes PATH as CNI_PATH: the suite's IPAM (host-local) comes from the same tree.
      PATH: `${CNI_DIR}:${process.env.PATH}`,
      TMPDIR: tmp,
      CONFORMANCE_PLUGIN: plugin === 'native' ? '' : plugin,
      // Ours keeps no state and writes no log for these configs (no uplink, no logFile); should it, not in the
      // machine's /var/lib/cni and /var/log.
      VLAN_BRIDGE_STATE_DIR: path.join(tmp, 'state'),
      VLAN_BRIDGE_LOG_DIR: path.join(tmp, 'log'),
    },
  });
  closeSync(fd);
  const seconds = (performance.now() - t0) / 1000;
  const left = readdirSync(tmp).filter((f) => f !== 'state' && f !== 'log');
  rmSync(tmp, { recursive: true, force: true });
  // Ginkgo exits 1 when a spec fails (some always do here); anything else is a crash.
  if (r.status !== 0 && r.status !== 1)
    throw new Error(
      `${name}: ${binary} ended with ${r.status ?? r.signal}${r.error ? ` (${r.error.message})` : ''}; see ${log}`,
    );
  let specs: SpecOutcome[];
  try {
    specs = outcomes(reportFile);
  } catch (e) {
    throw new Error(`${name}: no readable JSON report from ${binary} (${(e as Error).message}); see ${log}`);
  }
  if (specs.length === 0) throw new Error(`${name}: the report lists no spec; see ${log}`);
  if (left.length) throw new Error(`${name}: the suite left ${left.join(', ')} in its TMPDIR`);
  return { specs, seconds, log };
}
