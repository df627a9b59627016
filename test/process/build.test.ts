// The built single executable bin/vlan-bridge: it runs with nothing around it (no environment, no node on
// PATH, no node_modules reachable from its cwd) and carries koffi.node as an SEA asset.
import { spawnSync } from 'node:child_process';
import {
  accessSync,
  constants,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  closeSync,
  rmSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../lab/binary.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = path.join(root, 'bin', 'vlan-bridge');
const seaConfigPath = path.join(root, 'build', 'sea-config.json');

// Every spec version a plugin of spec 1.1.0 must answer VERSION with.
const SPEC_VERSIONS = ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'];

let cwd: string;

beforeAll(() => {
  ensureBuilt();
  // A fresh directory far from the repository: nothing named node_modules above it.
  cwd = mkdtempSync(path.join(tmpdir(), 'vb-sea-'));
}, 180_000);

afterAll(() => {
  if (cwd) rmSync(cwd, { recursive: true, force: true });
});

function runVersion(cniVersion: string) {
  return spawnSync(bin, [], {
    // Nothing but CNI_COMMAND: no PATH (so no node on it), no HOME, no NODE_* variables.
    env: { CNI_COMMAND: 'VERSION' },
    cwd,
    input: JSON.stringify({ cniVersion }),
    encoding: 'utf8',
    timeout: 10_000,
  });
}

describe('bin/vlan-bridge (single executable)', () => {
  it('exists as an executable regular file', () => {
    const st = statSync(bin);
    expect(st.isFile()).toBe(true);
    expect(st.mode & 0o111).toBe(0o111);
    expect(() => accessSync(bin, constants.X_OK)).not.toThrow();
  });

  it.each(['1.0.0', '0.3.1'])(
    'answers VERSION (input cniVersion %s) with an empty environment, no node on PATH, no node_modules',
    (cniVersion) => {
      const r = runVersion(cniVersion);
      expect(r.error).toBeUndefined();
      expect(r.stderr).not.toMatch(/ExperimentalWarning|Single executable/i);
      expect(r.status, `stderr: ${r.stderr}`).toBe(0);
      // Exactly one JSON document: JSON.parse rejects anything after the first value but whitespace.
      let out: unknown;
      expect(() => (out = JSON.parse(r.stdout)), `stdout: ${JSON.stringify(r.stdout)}`).not.toThrow();
      expect(out).toBeTypeOf('object');
      expect(out).not.toBeNull();
      const doc = out as { cniVersion?: unknown; supportedVersions?: unknown };
      // CNI spec, VERSION: cniVersion is the value given on input; supportedVersions lists what the plugin speaks.
      expect(doc.cniVersion).toBe(cniVersion);
      expect(Array.isArray(doc.supportedVersions)).toBe(true);
      expect(doc.supportedVersions).toEqual(expect.arrayContaining(SPEC_VERSIONS));
    },
  );

  it('embeds koffi.node as an SEA asset', () => {
    const config = JSON.parse(readFileSync(seaConfigPath, 'utf8')) as {
      main: string;
      assets?: Record<string, string>;
      useSnapshot?: boolean;
      disableExperimentalSEAWarning?: boolean;
    };
    expect(config.main).toBe('build/main.cjs');
    // Built with a V8 startup snapshot (the bundle initialised at build time; see scripts/build.mjs).
    expect(config.useSnapshot).toBe(true);
    expect(config.disableExperimentalSEAWarning).toBe(true);
    const assetRel = config.assets?.['koffi.node'];
    expect(assetRel, 'sea-config.json assets["koffi.node"]').toBeTypeOf('string');
    const asset = path.resolve(root, assetRel as string);
    const assetSize = statSync(asset).size;
    expect(assetSize).toBeGreaterThan(0);

    // The executable is node plus the blob, and the blob holds the asset's bytes.
    const binSize = statSync(bin).size;
    const nodeSize = statSync(process.execPath).size;
    expect(binSize - nodeSize).toBeGreaterThanOrEqual(assetSize);

    // And the asset's bytes really are in it: a 64 KiB slice from the middle of koffi.node is found verbatim,
    // and the SEA fuse is flipped (postject sets ':1').
    const image = readFileSync(bin);
    const fd = openSync(asset, 'r');
    const slice = Buffer.alloc(Math.min(65536, assetSize));
    try {
      readSync(fd, slice, 0, slice.length, Math.floor((assetSize - slice.length) / 2));
    } finally {
      closeSync(fd);
    }
    expect(image.indexOf(slice)).toBeGreaterThan(-1);
    expect(image.indexOf('NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2:1')).toBeGreaterThan(-1);
  });

  it('takes NODE_OPTIONS from its environment: V8 options there stop it before any output (exit 14), others pass', () => {
    // Documented in the README: a runtime that passes NODE_OPTIONS to CNI plugins must not carry V8 options.
    const run = (nodeOptions: string) =>
      spawnSync(bin, [], {
        env: { CNI_COMMAND: 'VERSION', NODE_OPTIONS: nodeOptions },
        cwd,
        input: '{"cniVersion":"1.0.0"}',
        encoding: 'utf8',
        timeout: 10_000,
      });
    const v8 = run('--max-old-space-size=100');
    expect(v8.status).toBe(14);
    expect(v8.stdout).toBe('');
    expect(v8.stderr).toMatch(/Failed to load the startup snapshot/);
    const plain = run('--no-warnings');
    expect(plain.status, plain.stderr).toBe(0);
    expect(JSON.parse(plain.stdout).cniVersion).toBe('1.0.0');
  });

  it('bundles only what runs: zod without its 40 translations (namespace import lets esbuild drop them)', () => {
    // Everything in build/main.cjs sits in the startup snapshot, i.e. in every plugin process's memory.
    // `import { z } from 'zod'` pulls in all of zod's locales (~260 KiB); `import * as z` keeps English only.
    const bundle = readFileSync(path.join(root, 'build', 'main.cjs'), 'utf8');
    expect(bundle).not.toContain('Ungültige Eingabe');
    expect(bundle).toContain('Invalid input');
    expect(bundle.length / 1024).toBeLessThan(300);
  });
});
