// The tests run under the Bun that builds the executable (test/run.mjs), so the bun:ffi code the in-process kernel
// tests exercise is the code that ships. A run under Node, or under another Bun, would test something else.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

describe('test runtime', () => {
  it('is the pinned Bun', () => {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { devDependencies: Record<string, string> };
    expect(process.versions.bun, 'vitest must run under bun: node test/run.mjs').toBe(
      pkg.devDependencies['@oven/bun-linux-x64'],
    );
  });
});
