// Code 6's details say where the config stops being JSON, in our words (src/cni/json-syntax.ts), never the engine's.
import { describe, expect, it } from 'vitest';
import { jsonSyntaxError } from '../../src/cni/json-syntax.js';

describe('jsonSyntaxError', () => {
  it.each([
    ['', 'empty'],
    ['{', "line 1 column 2: expected '}'"],
    ['{"a":1,}', 'line 1 column 8: expected a property name in double quotes'],
    ['{"a" 1}', "line 1 column 6: expected ':'"],
    ['{"a":1 "b":2}', "line 1 column 8: expected ',' or the end of the object or array"],
    ['{\n  "name": "x",\n  "vlan": 01\n}', "line 3 column 12: expected ',' or the end of the object or array"],
    ['{"a":"x\ny"}', 'line 1 column 6: unterminated string'],
    ['{"a":"\\q"}', 'line 1 column 6: invalid escape in a string'],
    ['{"a":"\\u12"}', 'line 1 column 6: malformed \\u escape'],
    ['{"a":1} x', 'line 1 column 9: unexpected character'],
    ['{/* c */"a":1}', 'line 1 column 2: comments are not JSON'],
    ["{'a':1}", 'line 1 column 2: unexpected character'],
    ['[1,2', "line 1 column 5: expected ']'"],
    ['{"a":-}', 'line 1 column 6: unexpected character'],
    ['{"a":1}{', 'line 1 column 8: unexpected text after the JSON value'],
  ])('%j: %s', (text, expected) => {
    expect(() => JSON.parse(text)).toThrow();
    expect(jsonSyntaxError(text)).toBe(expected);
  });

  it('finds an error wherever JSON.parse finds one (every one-character deletion of a real config)', () => {
    const conf = JSON.stringify(
      {
        cniVersion: '1.0.0',
        name: 'vlan100',
        type: 'vlan-bridge',
        bridge: 'mgmt-br',
        vlan: 100,
        ipam: { a: [1, -2.5e3, true, null] },
      },
      null,
      1,
    );
    let refused = 0;
    for (let i = 0; i < conf.length; i++) {
      const text = conf.slice(0, i) + conf.slice(i + 1);
      try {
        JSON.parse(text);
      } catch {
        refused++;
        expect(jsonSyntaxError(text), JSON.stringify(text)).toMatch(/^line \d+ column \d+: /);
      }
    }
    expect(refused).toBeGreaterThan(20); // the loop did test refused texts
  });
});
