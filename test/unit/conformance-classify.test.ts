// The conformance tier's classification (test/conformance/classify.ts) without Go or a kernel: three runs of a
// made-up suite, and the class each spec gets.
import { describe, expect, it } from 'vitest';
import { classify, report, type Divergence, type SpecOutcome } from '../conformance/classify.js';

const pass = (key: string): SpecOutcome => ({ key, passed: true, failure: '', where: '' });
const fail = (key: string, failure: string, where = 'bridge_test.go:1'): SpecOutcome => ({
  key,
  passed: false,
  failure,
  where,
});

const internal = [{ specs: '^collectVlanTrunk ', calls: 'collectVlanTrunk' }];
const divergence: Divergence = {
  id: 'l2-before-0.3.0',
  specs: '^\\[0\\.[12]\\.0\\] l2$',
  failure: 'Details: "cniVersion 0.',
  reason: 'why',
  readme: 'Protocol',
  quote: 'words',
};
const details = 'Expected <*types.Error>: cannot convert { Code: 107, Details: "cniVersion 0.1.0 results ..." }';

describe('conformance classification', () => {
  // key, native, control, ours, class
  const table: Array<[string, boolean, boolean, SpecOutcome, string]> = [
    ['collectVlanTrunk succeeds', true, true, fail('collectVlanTrunk succeeds', 'x'), 'internal'],
    ['[1.0.0] vlan 100', false, false, fail('[1.0.0] vlan 100', 'operation not supported'), 'kernel'],
    ['[1.0.0] debug hook', true, false, pass('[1.0.0] debug hook'), 'harness'],
    ['[1.0.0] l2', true, true, pass('[1.0.0] l2'), 'passed'],
    ['[0.1.0] l2', true, true, fail('[0.1.0] l2', details), 'divergence'],
    ['[0.2.0] l2', true, true, fail('[0.2.0] l2', 'Expected <string>: a not to equal <string>: a'), 'failed'],
    ['[1.0.0] mac', true, true, fail('[1.0.0] mac', details), 'failed'],
  ];
  const runs = {
    native: table.map(([k, n]) => (n ? pass(k) : fail(k, 'operation not supported'))),
    control: table.map(([k, , c]) => (c ? pass(k) : fail(k, 'operation not supported'))),
    ours: table.map(([, , , o]) => o),
  };
  const v = classify(runs, internal, [divergence]);

  it.each(table.map(([k, , , , cls], i) => [k, cls, i] as const))('%s: %s', (_k, cls, i) => {
    expect(v.rows[i]!.cls).toBe(cls);
  });

  it('counts each class; a divergence needs its spec name and its failure words', () => {
    expect(v.counts).toEqual({
      total: 7,
      passed: 1,
      divergence: 1,
      apart: { internal: 1, kernel: 1, harness: 1 },
    });
    expect(v.failed.map((r) => r.key)).toEqual(['[0.2.0] l2', '[1.0.0] mac']);
    expect(v.staleDivergences).toEqual([]);
    expect(v.staleInternal).toEqual([]);
  });

  it('reports a divergence that no spec shows any more, and an internal entry that names no spec', () => {
    const all = runs.native.map((s) => pass(s.key));
    const w = classify(
      { native: all, control: all, ours: all },
      [...internal, { specs: '^gone$', calls: 'x' }],
      [divergence],
    );
    expect(w.staleDivergences.map((d) => d.id)).toEqual(['l2-before-0.3.0']);
    expect(w.staleInternal.map((e) => e.specs)).toEqual(['^gone$']);
  });

  it('refuses runs that list different specs', () => {
    expect(() => classify({ ...runs, ours: runs.ours.slice(1) }, internal, [])).toThrow(/other specs/);
  });

  it('lists every spec that did not simply pass, and groups the unlisted failures by assertion', () => {
    const text = report(v);
    expect(text).toMatch(/^conformance: 7 specs: passed 1, listed divergences 1; .* failed for vlan-bridge only 2$/m);
    expect(text).toContain('divergence [0.1.0] l2 [l2-before-0.3.0]  bridge_test.go:1: Expected <*types.Error>');
    expect(text).toContain('  2 specs, bridge_test.go:1: ');
    expect(text).not.toMatch(/^passed /m);
  });
});
