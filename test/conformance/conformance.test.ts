// The conformance tier: the reference's own bridge test suite (containernetworking/plugins v1.9.1,
// plugins/main/bridge/bridge_test.go, from ../shared/vendor) run against bin/vlan-bridge on this machine's kernel.
// The suite calls cmdAdd/cmdDel/cmdCheck/cmdStatus in process; test/conformance/build.sh compiles it with those
// redirected to test/conformance/shim.go, which runs an executable as a runtime would. Three runs: the reference in
// process (what it passes natively here), the reference executable through the shim (the control) and vlan-bridge
// through the shim. test/conformance/classify.ts sorts every spec; the tier fails on a spec that vlan-bridge alone
// fails unless divergences.json lists it, on a listed divergence that no longer shows, and when a count differs
// from expected-counts.json. CONFORMANCE_WRITE=1 rewrites expected-counts.json (and drops divergences no spec
// shows) from the run and prints every failing spec's class and first failure line; build/conformance/
// classification.txt always has that listing.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { BIN, ROOT, ensureBuilt } from '../lab/binary.js';
import {
  classify,
  firstLine,
  report,
  squash,
  type Counts,
  type Divergence,
  type InternalEntry,
  type Verdict,
} from './classify.js';
import { OUT, REFERENCE_BRIDGE, buildSuite, runSuite, type SuiteRun } from './suite.js';

const HERE = path.join(ROOT, 'test', 'conformance');
const COUNTS_FILE = path.join(HERE, 'expected-counts.json');
const DIVERGENCES_FILE = path.join(HERE, 'divergences.json');
const WRITE = process.env.CONFORMANCE_WRITE === '1';

const internal = (JSON.parse(readFileSync(path.join(HERE, 'internal.json'), 'utf8')) as { entries: InternalEntry[] })
  .entries;
const divergenceFile = JSON.parse(readFileSync(DIVERGENCES_FILE, 'utf8')) as { divergences: Divergence[] };
const expected = JSON.parse(readFileSync(COUNTS_FILE, 'utf8')) as { counts: Counts };
const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const headings = readme
  .split('\n')
  .filter((l) => /^#{1,6} /.test(l))
  .map((l) => l.replace(/^#+ /, '').trim());

/** The suite's namespaces (testutils.NewNS names them cnitest-<uuid>). */
const suiteNetns = (): string[] => {
  try {
    return readdirSync('/var/run/netns').filter((n) => n.startsWith('cnitest-'));
  } catch {
    return [];
  }
};

let runs: Record<'native' | 'control' | 'ours', SuiteRun>;
let verdict: Verdict;
let netnsLeft: string[] = [];

beforeAll(() => {
  const t0 = performance.now();
  const built = buildSuite();
  const buildSeconds = (performance.now() - t0) / 1000;
  ensureBuilt();
  const netnsBefore = new Set(suiteNetns());
  runs = {
    native: runSuite('native', 'native'),
    control: runSuite('control', REFERENCE_BRIDGE),
    ours: runSuite('vlan-bridge', BIN),
  };
  netnsLeft = suiteNetns().filter((n) => !netnsBefore.has(n));
  verdict = classify(
    { native: runs.native.specs, control: runs.control.specs, ours: runs.ours.specs },
    internal,
    divergenceFile.divergences,
  );
  const listing = report(verdict);
  writeFileSync(path.join(OUT, 'classification.txt'), listing);
  const s = (x: number) => `${x.toFixed(1)} s`;
  console.log(
    `${listing.split('\n')[0]}\n` +
      `conformance: build ${s(buildSeconds)} (${built.split('\n').pop()}); runs: reference in process ` +
      `${s(runs.native.seconds)}, reference executable ${s(runs.control.seconds)}, vlan-bridge ${s(runs.ours.seconds)}; ` +
      `every spec's class in ${path.relative(ROOT, path.join(OUT, 'classification.txt'))}`,
  );
  if (WRITE) {
    const stale = new Set(verdict.staleDivergences.map((d) => d.id));
    writeFileSync(COUNTS_FILE, JSON.stringify({ ...expected, counts: verdict.counts }, null, 2) + '\n');
    if (stale.size)
      writeFileSync(
        DIVERGENCES_FILE,
        JSON.stringify(
          { ...divergenceFile, divergences: divergenceFile.divergences.filter((d) => !stale.has(d.id)) },
          null,
          2,
        ) + '\n',
      );
    expected.counts = verdict.counts;
    console.log(listing.split('\n').slice(2).join('\n'));
    console.log(
      `conformance: wrote ${path.relative(ROOT, COUNTS_FILE)}` +
        (stale.size ? ` and dropped ${[...stale].join(', ')} from ${path.relative(ROOT, DIVERGENCES_FILE)}` : ''),
    );
  }
}, 900_000);

describe('the reference bridge suite (containernetworking/plugins v1.9.1) against bin/vlan-bridge', () => {
  it('ran every spec three times (reference in process, reference executable, vlan-bridge) and left no namespace', () => {
    expect(runs.native.specs.length).toBeGreaterThan(0);
    expect(runs.control.specs.length).toBe(runs.native.specs.length);
    expect(runs.ours.specs.length).toBe(runs.native.specs.length);
    expect(netnsLeft).toEqual([]);
  });

  it('vlan-bridge fails no spec that the reference executable passes, unless divergences.json lists it', () => {
    expect(verdict.failed.map((r) => `${r.key}  ${firstLine(r.ours)}`)).toEqual([]);
  });

  it('every listed divergence still shows, and the README section and words that document it exist', () => {
    const problems = verdict.staleDivergences.map((d) => `${d.id}: no spec fails this way any more`);
    for (const d of divergenceFile.divergences) {
      if (!headings.includes(d.readme)) problems.push(`${d.id}: README has no section "${d.readme}"`);
      if (!squash(readme).includes(squash(d.quote))) problems.push(`${d.id}: README does not say "${d.quote}"`);
    }
    expect(problems).toEqual([]);
  });

  it('every entry of internal.json names specs of the suite', () => {
    expect(verdict.staleInternal.map((e) => e.specs)).toEqual([]);
  });

  it('the counts are those of expected-counts.json (CONFORMANCE_WRITE=1 rewrites it)', () => {
    expect(verdict.counts).toEqual(expected.counts);
  });
});
