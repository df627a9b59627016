// Errors stay small whatever the input (issue 23): a quoted value is cut after 64 characters, a list of problems
// stops after 20, and a CniError's JSON stays under 4 KiB however long its msg and details were made.
import { describe, expect, it } from 'vitest';
import { CniError, MAX_LISTED, MAX_QUOTED, cut, listed, show } from '../../src/cni/errors.js';
import { parseCniArgs } from '../../src/cni/args.js';
import { parseNetConf } from '../../src/cni/config.js';
import { parseResult } from '../../src/cni/result.js';
import { thrown } from '../lab/thrown.js';

const size = (e: CniError) => Buffer.byteLength(JSON.stringify(e.toJSON('1.1.0')));

describe('cut and show', () => {
  it('keep a short value whole', () => {
    expect(cut('br0')).toBe('br0');
    expect(show('br0')).toBe('"br0"');
    expect(show({ id: 5 })).toBe('{"id":5}');
    expect(show(undefined)).toBe('nothing');
    expect(show(Number.NaN)).toBe('NaN');
  });

  it('cut a long one after 64 characters and say how much is left out', () => {
    expect(cut('n'.repeat(1000))).toBe(`${'n'.repeat(MAX_QUOTED)}…(936 more characters)`);
    expect(show('n'.repeat(1 << 20))).toBe(`"${'n'.repeat(MAX_QUOTED - 1)}…(1048514 more characters)`);
    const trunk = Array.from({ length: 10_000 }, (_, i) => ({ id: i + 1 }));
    expect(show(trunk)).toMatch(/^\[\{"id":1\},\{"id":2\},.*…\(\d+ more characters\)$/);
  });

  it('never split a character made of two UTF-16 units', () => {
    const s = `${'a'.repeat(MAX_QUOTED - 1)}${'😀'.repeat(10)}`;
    expect(cut(s)).toBe(`${'a'.repeat(MAX_QUOTED - 1)}…(20 more characters)`);
  });
});

describe('listed', () => {
  it('lists every problem when there are few', () => {
    expect(listed(['a', 'b', 'c'])).toBe('a; b; c');
    expect(listed(['a', 'b'], ', ')).toBe('a, b');
  });

  it('stops after 20 and counts the rest', () => {
    const items = Array.from({ length: 10_000 }, (_, i) => `problem ${i}`);
    const text = listed(items);
    expect(text.split('; ')).toHaveLength(MAX_LISTED + 1);
    expect(text).toMatch(/; problem 19; and 9980 more$/);
  });

  it('stops earlier when the problems are long, and cuts a first one that is too long by itself', () => {
    const items = Array.from({ length: 30 }, (_, i) => `${i}: ${'x'.repeat(500)}`);
    const text = listed(items);
    expect(Buffer.byteLength(text)).toBeLessThan(2300);
    expect(text).toMatch(/; and 2\d more$/);
    expect(Buffer.byteLength(listed(['y'.repeat(1 << 20)]))).toBeLessThanOrEqual(2048);
  });
});

describe('a CniError of any size', () => {
  it.each([
    ['ASCII', 'm'.repeat(1 << 20), 'd'.repeat(1 << 20)],
    ['quotes (escaped as two bytes)', '"'.repeat(100_000), '"'.repeat(100_000)],
    ['control characters (escaped as six)', '\u0001'.repeat(100_000), '\u0002'.repeat(100_000)],
    ['three-byte characters', 'ü€'.repeat(100_000), '€'.repeat(100_000)],
    ['emoji', '😀'.repeat(100_000), '😀'.repeat(100_000)],
  ])('stays under 4 KiB as JSON: %s', (_, msg, details) => {
    const e = new CniError(999, msg, details);
    expect(size(e)).toBeLessThan(4096);
    expect(e.message).toMatch(/…\(\d+ more characters\)$/);
    expect(e.details).toMatch(/…\(\d+ more characters\)$/);
    expect(() => JSON.parse(JSON.stringify(e.toJSON('1.1.0')))).not.toThrow();
  });

  it('is left as it is when small', () => {
    const e = new CniError(7, 'invalid network configuration', 'vlan: Too big (got 5000)');
    expect(e.message).toBe('invalid network configuration');
    expect(e.details).toBe('vlan: Too big (got 5000)');
  });
});

describe('the errors that used to grow with the input', () => {
  const base = { cniVersion: '1.1.0', name: 'net', type: 'vlan-bridge' };

  it('10,000 bad vlanTrunk entries: the first 20 problems and a count', () => {
    const e = thrown(CniError, () =>
      parseNetConf({ ...base, vlanTrunk: Array.from({ length: 10_000 }, (_, i) => ({ minID: i + 1 })) }),
    );
    expect(e.code).toBe(7);
    expect(e.details).toMatch(/^vlanTrunk\[0\]: minID and maxID must be set together \(got \{"minID":1\}\); /);
    expect(e.details).toMatch(/; and \d+ more$/);
    expect(size(e)).toBeLessThan(4096);
  });

  it('10,000 unknown CNI_ARGS keys: code 2, the first 20 and a count', () => {
    const raw = Array.from({ length: 10_000 }, (_, i) => `K${i}=v${i}`).join(';');
    const e = thrown(CniError, () => parseCniArgs(raw));
    expect(e.code).toBe(2);
    expect(e.details).toMatch(/^CNI_ARGS\.K0: unknown key \(got "v0"\); set IgnoreUnknown=true to allow it; /);
    expect(e.details).toMatch(/; and 9980 more$/);
    expect(size(e)).toBeLessThan(4096);
  });

  it('a prevResult with 10,000 bad addresses of 1 KiB each', () => {
    const ips = Array.from({ length: 10_000 }, () => ({ address: 'x'.repeat(1024) }));
    const e = thrown(CniError, () => parseResult({ cniVersion: '1.1.0', ips }));
    expect(e.details).toMatch(/^prevResult\.ips\[0\]\.address: not an IP address with prefix length \(got "x+…/);
    expect(e.details).toMatch(/; and \d+ more$/);
    expect(size(e)).toBeLessThan(4096);
  });
});
