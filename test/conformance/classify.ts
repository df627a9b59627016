// The conformance tier's verdict, pure: the reference's bridge suite (containernetworking/plugins v1.9.1) run three
// times (test/conformance/suite.ts) is sorted spec by spec into one class each:
//   internal    apart: the spec calls the reference's internal functions (test/conformance/internal.json), so no
//               executable can pass or fail it;
//   kernel      apart: the reference fails it in process as well as through the exec shim (this kernel lacks a
//               feature, e.g. bridge VLAN filtering: "operation not supported");
//   harness     apart: the reference passes it in process but fails it through the exec shim;
//   passed      vlan-bridge passes it (the reference through the shim does too);
//   divergence  vlan-bridge fails it with the failure text of a listed divergence (divergences.json);
//   failed      anything else: vlan-bridge fails a spec the reference passes. The tier fails.

/** One spec's outcome in one run of the suite. */
export interface SpecOutcome {
  /** The spec's name (containers below the top one, then the It's text), with `#n` when the name repeats. */
  key: string;
  passed: boolean;
  /** Ginkgo's failure message, whitespace squashed ('' when passed). */
  failure: string;
  /** Where the failing assertion is (`bridge_test.go:708`), '' when passed. */
  where: string;
}

/** The three runs of the suite: the reference in process, the reference executable and ours through the shim. */
export interface Runs {
  native: SpecOutcome[];
  control: SpecOutcome[];
  ours: SpecOutcome[];
}

export interface InternalEntry {
  /** A regular expression on the spec's key. */
  specs: string;
  /** The reference's internal functions (or hook) the specs call. */
  calls: string;
}

export interface Divergence {
  id: string;
  /** A regular expression on the spec's key. */
  specs: string;
  /** Words vlan-bridge's failure must contain (whitespace-insensitive). */
  failure: string;
  reason: string;
  /** The README heading of the section that documents it, and its words there (whitespace-insensitive). */
  readme: string;
  quote: string;
}

export type SpecClass = 'passed' | 'divergence' | 'internal' | 'kernel' | 'harness' | 'failed';

export interface Row {
  key: string;
  cls: SpecClass;
  /** The divergence id or the internal entry's functions. */
  why?: string;
  ours: SpecOutcome;
  control: SpecOutcome;
  native: SpecOutcome;
}

export interface Counts {
  total: number;
  passed: number;
  divergence: number;
  apart: { internal: number; kernel: number; harness: number };
}

export interface Verdict {
  rows: Row[];
  counts: Counts;
  /** vlan-bridge's failures that no divergence lists (the tier fails). */
  failed: Row[];
  /** Divergences that no spec showed: the list must shrink. */
  staleDivergences: Divergence[];
  /** Internal entries that name no spec. */
  staleInternal: InternalEntry[];
}

export const squash = (s: string) => s.replace(/\s+/g, ' ').trim();

/** The runs must list the same specs in the same order (one top-level container: definition order). */
function align(runs: Runs): void {
  const names = (r: SpecOutcome[]) => r.map((s) => s.key).join('\n');
  for (const run of ['control', 'ours'] as const)
    if (names(runs[run]) !== names(runs.native))
      throw new Error(
        `the ${run} run lists other specs than the native run (${runs[run].length} vs ${runs.native.length})`,
      );
}

export function classify(runs: Runs, internal: InternalEntry[], divergences: Divergence[]): Verdict {
  align(runs);
  const internalRes = internal.map((e) => ({ e, re: new RegExp(e.specs), used: false }));
  const divergenceRes = divergences.map((d) => ({ d, re: new RegExp(d.specs), used: false }));
  const rows: Row[] = runs.native.map((native, i) => {
    const control = runs.control[i]!;
    const ours = runs.ours[i]!;
    const row = { key: native.key, native, control, ours };
    const inner = internalRes.find((x) => x.re.test(native.key));
    if (inner) {
      inner.used = true;
      return { ...row, cls: 'internal', why: inner.e.calls };
    }
    if (!control.passed) return { ...row, cls: native.passed ? 'harness' : 'kernel' };
    if (ours.passed) return { ...row, cls: 'passed' };
    const listed = divergenceRes.find(
      (x) => x.re.test(native.key) && squash(ours.failure).includes(squash(x.d.failure)),
    );
    if (listed) {
      listed.used = true;
      return { ...row, cls: 'divergence', why: listed.d.id };
    }
    return { ...row, cls: 'failed' };
  });
  const count = (c: SpecClass) => rows.filter((r) => r.cls === c).length;
  return {
    rows,
    counts: {
      total: rows.length,
      passed: count('passed'),
      divergence: count('divergence'),
      apart: { internal: count('internal'), kernel: count('kernel'), harness: count('harness') },
    },
    failed: rows.filter((r) => r.cls === 'failed'),
    staleDivergences: divergenceRes.filter((x) => !x.used).map((x) => x.d),
    staleInternal: internalRes.filter((x) => !x.used).map((x) => x.e),
  };
}

/**
 * One line of a failure: where, then the message without pointers (Gomega prints `<*T | 0xc000123>`) and with `?`
 * for what is not printable ASCII (Gomega prints a net.HardwareAddr's bytes as a string when it can).
 */
export const firstLine = (o: SpecOutcome, width = 200): string => {
  const msg = squash(o.failure)
    .replace(/ \| 0x[0-9a-f]+>/g, '>')
    .replace(/[^\x20-\x7e]/g, '?');
  return `${o.where}: ${msg.length > width ? `${msg.slice(0, width)}…` : msg}`;
};

/**
 * The classification of every spec that did not simply pass, one per line (`class  key  [why]  where: message`,
 * the message of the run that decided the class), then vlan-bridge's unlisted failures grouped by the assertion
 * that failed.
 */
export function report(v: Verdict): string {
  const c = v.counts;
  const lines = [
    `conformance: ${c.total} specs: passed ${c.passed}, listed divergences ${c.divergence}; apart: internal ` +
      `${c.apart.internal}, kernel ${c.apart.kernel}, harness ${c.apart.harness}; failed for vlan-bridge only ` +
      `${v.failed.length}`,
    '',
  ];
  for (const r of v.rows) {
    if (r.cls === 'passed') continue;
    const decided = r.cls === 'kernel' || r.cls === 'harness' ? r.control : r.ours;
    const detail = r.cls === 'internal' ? `vlan-bridge ${r.ours.passed ? 'passed' : 'failed'}` : firstLine(decided);
    lines.push(`${r.cls.padEnd(10)} ${r.key}${r.why ? ` [${r.why}]` : ''}  ${detail}`);
  }
  if (v.failed.length) {
    lines.push('', `failed for vlan-bridge only, by assertion:`);
    const groups = new Map<string, Row[]>();
    for (const r of v.failed) groups.set(r.ours.where, [...(groups.get(r.ours.where) ?? []), r]);
    for (const rs of [...groups.values()].sort((a, b) => b.length - a.length)) {
      lines.push(`  ${rs.length} specs, ${firstLine(rs[0]!.ours)}`);
      for (const r of rs) lines.push(`      ${r.key}`);
    }
  }
  return lines.join('\n') + '\n';
}
