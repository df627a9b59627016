import { describe, expect, it } from 'vitest';
import { CniError, Code } from '../../src/cni/errors.js';
import { thrown as thrownAs } from '../lab/thrown.js';
import {
  compareVersions,
  effectiveVersion,
  isSupported,
  LATEST,
  minimumVersionFor,
  requireCommandSupported,
  requireSupported,
  SUPPORTED_VERSIONS,
} from '../../src/cni/versions.js';

const thrown = (fn: () => unknown): CniError => thrownAs(CniError, fn);

const SUPPORTED_DETAIL = 'plugin supports 0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0';

describe('supported versions', () => {
  it('lists the spec versions oldest first and LATEST is the newest', () => {
    expect(SUPPORTED_VERSIONS).toEqual(['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0']);
    expect(LATEST).toBe('1.1.0');
    const sorted = [...SUPPORTED_VERSIONS].reverse().sort(compareVersions);
    expect(sorted).toEqual([...SUPPORTED_VERSIONS]);
  });

  it.each([
    ['0.1.0', true],
    ['1.1.0', true],
    ['0.3.1', true],
    ['0.5.0', false],
    ['1.2.0', false],
    ['1.0', false],
    ['', false],
    ['v1.0.0', false],
  ])('isSupported(%j) is %s', (v, want) => {
    expect(isSupported(v)).toBe(want);
  });
});

describe('compareVersions', () => {
  it.each([
    ['0.1.0', '0.2.0', -1],
    ['0.2.0', '0.1.0', 1],
    ['0.3.1', '0.3.0', 1],
    ['0.4.0', '0.3.1', 1],
    ['1.0.0', '0.4.0', 1],
    ['1.1.0', '1.0.0', 1],
    ['1.0.0', '1.0.0', 0],
    ['0.10.0', '0.9.0', 1], // numeric, not lexical
    ['1.0', '1.0.0', 0], // missing parts are 0, as libcni's ParseVersion
    ['1', '0.4.0', 1],
  ])('%s vs %s -> %i', (a, b, sign) => {
    expect(Math.sign(compareVersions(a, b))).toBe(sign);
  });

  it.each(['', 'abc', '1.0.0.0', '1.0.x', '-1.0.0', 'v1.0.0'])('rejects malformed %j with code 1', (v) => {
    const err = thrown(() => compareVersions(v, '1.0.0'));
    expect(err.code).toBe(Code.IncompatibleVersion);
    expect(err.message).toBe(`invalid CNI version "${v}"`);
    expect(err.details).toBe(SUPPORTED_DETAIL);
  });
});

describe('effectiveVersion / requireSupported', () => {
  it('treats a missing or empty cniVersion as 0.1.0', () => {
    expect(effectiveVersion()).toBe('0.1.0');
    expect(effectiveVersion(undefined)).toBe('0.1.0');
    expect(effectiveVersion('')).toBe('0.1.0');
  });

  it.each([...SUPPORTED_VERSIONS])('passes %s through', (v) => {
    expect(effectiveVersion(v)).toBe(v);
    expect(requireSupported(v)).toBe(v);
  });

  it.each(['0.5.0', '1.2.0', '2.0.0', '1.0', 'latest'])('rejects %j with code 1 naming it and listing ours', (v) => {
    for (const fn of [() => effectiveVersion(v), () => requireSupported(v)]) {
      const err = thrown(fn);
      expect(err.code).toBe(Code.IncompatibleVersion);
      expect(err.message).toBe(`incompatible CNI version "${v}"`);
      expect(err.details).toBe(SUPPORTED_DETAIL);
    }
  });
});

describe('command gates', () => {
  it.each([
    ['0.1.0', false, false],
    ['0.2.0', false, false],
    ['0.3.0', false, false],
    ['0.3.1', false, false],
    ['0.4.0', true, false],
    ['1.0.0', true, false],
    ['1.1.0', true, true],
  ])('%s: CHECK %s, STATUS/GC %s', (v, check, statusGc) => {
    const allows = (command: string) => {
      try {
        requireCommandSupported(command, v);
        return true;
      } catch {
        return false;
      }
    };
    expect(allows('CHECK')).toBe(check);
    expect(allows('STATUS')).toBe(statusGc);
    expect(allows('GC')).toBe(statusGc);
  });

  it.each([
    ['ADD', '0.1.0'],
    ['DEL', '0.1.0'],
    ['VERSION', '0.1.0'],
    ['CHECK', '0.4.0'],
    ['STATUS', '1.1.0'],
    ['GC', '1.1.0'],
  ])('%s needs %s', (cmd, min) => {
    expect(minimumVersionFor(cmd)).toBe(min);
  });

  it('requireCommandSupported refuses CHECK before 0.4.0 and GC/STATUS before 1.1.0 with code 1', () => {
    expect(() => requireCommandSupported('CHECK', '0.4.0')).not.toThrow();
    expect(() => requireCommandSupported('ADD', '0.1.0')).not.toThrow();
    expect(() => requireCommandSupported('GC', '1.1.0')).not.toThrow();
    const check = thrown(() => requireCommandSupported('CHECK', '0.3.1'));
    expect([check.code, check.message, check.details]).toEqual([
      Code.IncompatibleVersion,
      'config version "0.3.1" does not allow CHECK',
      'CHECK needs cniVersion 0.4.0 or later',
    ]);
    const gc = thrown(() => requireCommandSupported('STATUS', '1.0.0'));
    expect([gc.code, gc.message, gc.details]).toEqual([
      Code.IncompatibleVersion,
      'config version "1.0.0" does not allow STATUS',
      'STATUS needs cniVersion 1.1.0 or later',
    ]);
  });
});
