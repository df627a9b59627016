// The built executable bin/vlan-bridge: a Bun-compiled executable (scripts/build.mjs) that runs with nothing around
// it (no environment, no runtime on PATH, no node_modules reachable from its cwd), and whose behaviour no file in
// its working directory and no runtime option in its environment, other than the documented BUN_OPTIONS, changes.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN as bin, ROOT as root, ensureBuilt } from '../lab/binary.js';

// Every spec version a plugin of spec 1.1.0 must answer VERSION with.
const SPEC_VERSIONS = ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'];

let cwd: string;

beforeAll(() => {
  ensureBuilt();
  // A fresh directory far from the repository: nothing named node_modules above it.
  cwd = mkdtempSync(path.join(tmpdir(), 'vb-exe-'));
}, 180_000);

afterAll(() => {
  if (cwd) rmSync(cwd, { recursive: true, force: true });
});

function run(env: Record<string, string>, input = '{"cniVersion":"1.0.0"}', dir = cwd) {
  return spawnSync(bin, [], { env, cwd: dir, input, encoding: 'utf8', timeout: 10_000 });
}

describe('bin/vlan-bridge (Bun executable)', () => {
  it('exists as an executable regular file', () => {
    const st = statSync(bin);
    expect(st.isFile()).toBe(true);
    expect(st.mode & 0o111).toBe(0o111);
    expect(() => accessSync(bin, constants.X_OK)).not.toThrow();
  });

  it('is a Bun standalone executable of the pinned Bun (its .bun section holds the bundle)', () => {
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
      devDependencies: Record<string, string>;
    };
    const image = readFileSync(bin);
    expect(image.indexOf('\n---- Bun! ----\n'), 'the standalone trailer').toBeGreaterThan(-1);
    expect(image.indexOf(`Bun v${pkg.devDependencies['@oven/bun-linux-x64']}`)).toBeGreaterThan(-1);
    // No native addon is carried or loaded: koffi and the SEA blob are gone.
    expect(image.indexOf('koffi.node')).toBe(-1);
    expect(image.indexOf('NODE_SEA_FUSE')).toBe(-1);
  });

  it.each(['1.0.0', '0.3.1'])(
    'answers VERSION (input cniVersion %s) with an empty environment, no runtime on PATH, no node_modules',
    (cniVersion) => {
      // Nothing but CNI_COMMAND: no PATH, no HOME, no BUN_* or NODE_* variables.
      const r = run({ CNI_COMMAND: 'VERSION' }, JSON.stringify({ cniVersion }));
      expect(r.error).toBeUndefined();
      expect(r.status, `stderr: ${r.stderr}`).toBe(0);
      expect(r.stderr).toBe('');
      // Exactly one JSON document: JSON.parse rejects anything after the first value but whitespace.
      const doc = JSON.parse(r.stdout) as { cniVersion?: unknown; supportedVersions?: unknown };
      // CNI spec, VERSION: cniVersion is the value given on input; supportedVersions lists what the plugin speaks.
      expect(doc.cniVersion).toBe(cniVersion);
      expect(doc.supportedVersions).toEqual(expect.arrayContaining(SPEC_VERSIONS));
    },
  );

  it('reads no .env, bunfig.toml, tsconfig.json or package.json from its working directory', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'vb-cwd-'));
    try {
      const marker = path.join(dir, 'preloaded');
      writeFileSync(path.join(dir, 'evil.js'), `require('fs').writeFileSync(${JSON.stringify(marker)}, 'ran');\n`);
      // Each would change the call if it were read: CNI_COMMAND turns the no-command banner into a VERSION reply,
      // a preload runs code inside the plugin, a define or a package.json "type" changes how code is loaded.
      writeFileSync(path.join(dir, '.env'), 'CNI_COMMAND=VERSION\nCNI_PATH=/nonexistent\n');
      writeFileSync(path.join(dir, '.env.production'), 'CNI_COMMAND=VERSION\n');
      writeFileSync(path.join(dir, 'bunfig.toml'), 'preload = ["./evil.js"]\n');
      writeFileSync(path.join(dir, 'tsconfig.json'), '{"compilerOptions": {"jsx": "invalid"}}\n');
      writeFileSync(path.join(dir, 'package.json'), '{"type": "commonjs", "name": "x"}\n');
      // With the files read, the first call would answer VERSION on stdout and run evil.js.
      const bare = run({}, '', dir);
      expect(bare.status, bare.stderr).toBe(0);
      expect(bare.stdout).toBe('');
      expect(bare.stderr).toMatch(/^CNI vlan-bridge plugin /);
      const version = run({ CNI_COMMAND: 'VERSION' }, '{"cniVersion":"0.4.0"}', dir);
      expect(version.status, version.stderr).toBe(0);
      expect(JSON.parse(version.stdout).cniVersion).toBe('0.4.0');
      expect(existsSync(marker), 'bunfig.toml preload ran').toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('ignores NODE_OPTIONS, and takes BUN_OPTIONS from its environment as documented (a --preload runs code)', () => {
    // Documented in the README: a runtime that passes BUN_OPTIONS (or BUN_BE_BUN) to CNI plugins changes them.
    const node = run({ CNI_COMMAND: 'VERSION', NODE_OPTIONS: '--max-old-space-size=1 --require /nonexistent' });
    expect(node.status, node.stderr).toBe(0);
    expect(JSON.parse(node.stdout).cniVersion).toBe('1.0.0');
    const dir = mkdtempSync(path.join(tmpdir(), 'vb-opt-'));
    try {
      const marker = path.join(dir, 'preloaded');
      const script = path.join(dir, 'p.js');
      writeFileSync(script, `require('fs').writeFileSync(${JSON.stringify(marker)}, 'ran');\n`);
      const bun = run({ CNI_COMMAND: 'VERSION', BUN_OPTIONS: `--preload ${script}` });
      expect(bun.status, bun.stderr).toBe(0);
      expect(existsSync(marker), 'BUN_OPTIONS --preload is honoured (README: Environment)').toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('is reproducible: the same sources build a byte-identical executable (so the installer has nothing to do)', () => {
    const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
    const dir = mkdtempSync(path.join(tmpdir(), 'vb-repro-'));
    try {
      const outs = ['a', 'b'].map((d) => path.join(dir, d, 'vlan-bridge'));
      for (const out of outs) {
        const r = spawnSync(process.execPath, ['scripts/build.mjs', '--out', out], { cwd: root, encoding: 'utf8' });
        expect(r.status, r.stderr).toBe(0);
      }
      expect(sha(outs[0]!)).toBe(sha(outs[1]!));
      // The name a build is written under is not part of the image (bin/vlan-bridge went through a temporary one).
      expect(sha(outs[0]!)).toBe(sha(bin));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('bundles zod without its 40 translations (the namespace import lets the bundler drop them)', () => {
    // `import { z } from 'zod'` pulls in all of zod's locales (~260 KiB); `import * as z` keeps English only.
    const image = readFileSync(bin);
    expect(image.indexOf('Ungültige Eingabe')).toBe(-1);
    expect(image.indexOf('Invalid input')).toBeGreaterThan(-1);
  });
});
