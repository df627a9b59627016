#!/usr/bin/env node
// Builds bin/vlan-bridge: one self-contained executable (a Node single-executable application).
//
//   1. esbuild bundles src/main.ts into build/main.cjs (CommonJS, node builtins external, nothing else).
//   2. build/sea-config.json embeds that bundle plus koffi's prebuilt koffi.node as the SEA asset "koffi.node".
//   3. `node --experimental-sea-config` writes build/sea-prep.blob; a copy of this very node binary gets the
//      blob injected by postject (section NODE_SEA_BLOB, fuse flipped) and is renamed onto bin/vlan-bridge.
//
// Offline and idempotent: every output is rewritten on each run; bin/vlan-bridge is replaced atomically
// (rename), so a copy that is running or being exec'd by a test is never seen half-written.
//
// Usage: node scripts/build.mjs [--no-snapshot] [--code-cache | --no-code-cache]
//   Start-up figures are measured in bench/ (make bench), not here.

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(root, 'package.json'));

// Without a snapshot (--no-snapshot), the code cache makes start-up faster (measured on Node 20.20.2).
const DEFAULT_USE_CODE_CACHE = true;
// A V8 startup snapshot holds the whole bundle already loaded and initialised (zod schemas included): the
// executable starts at its main function instead of evaluating ~500 KiB of modules (measured: ~60 ms saved
// per call). With a snapshot the code cache does not apply.
const DEFAULT_USE_SNAPSHOT = true;

const SEA_RESOURCE = 'NODE_SEA_BLOB';
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

const rel = (p) => path.relative(root, p) || '.';
const mib = (n) => `${(n / 1048576).toFixed(1)} MiB`;

function parseArgs(argv) {
  const opts = { useCodeCache: DEFAULT_USE_CODE_CACHE, useSnapshot: DEFAULT_USE_SNAPSHOT };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--code-cache') opts.useCodeCache = true;
    else if (a === '--no-code-cache') opts.useCodeCache = false;
    else if (a === '--snapshot') opts.useSnapshot = true;
    else if (a === '--no-snapshot') opts.useSnapshot = false;
    else {
      console.error(
        `build: unknown argument ${a}\nusage: node scripts/build.mjs [--no-snapshot] [--code-cache|--no-code-cache]`,
      );
      process.exit(2);
    }
  }
  return opts;
}

/** koffi's prebuilt addon for this machine, from the npm package @koromix/koffi-<platform>-<arch>. */
function koffiNativePath() {
  if (process.platform !== 'linux') {
    throw new Error(`vlan-bridge is a Linux CNI plugin; cannot build on ${process.platform}`);
  }
  // glibc or musl: node's own report says which libc this node (and therefore the SEA) runs on.
  const glibc = Boolean(process.report?.getReport?.().header?.glibcVersionRuntime);
  const pkg = `@koromix/koffi-linux-${process.arch}`;
  let pkgDir;
  try {
    // The prebuilt package is an optional dependency of koffi: resolve it from koffi first, then from the root.
    const fromKoffi = createRequire(require.resolve('koffi/package.json'));
    pkgDir = path.dirname(fromKoffi.resolve(`${pkg}/package.json`));
  } catch {
    pkgDir = path.dirname(require.resolve(`${pkg}/package.json`));
  }
  const file = path.join(pkgDir, `${glibc ? 'linux' : 'musl'}_${process.arch}`, 'koffi.node');
  statSync(file); // throws ENOENT with the path if the package lacks it
  return file;
}

async function bundle({ nativeSha256, version }) {
  const esbuild = await import('esbuild');
  const outfile = path.join(root, 'build', 'main.cjs');
  const result = await esbuild.build({
    absWorkingDir: root,
    entryPoints: [path.join(root, 'src', 'main.ts')],
    outfile,
    bundle: true,
    platform: 'node', // node builtins (also node:sea) stay runtime require() calls; everything else is bundled
    format: 'cjs',
    target: 'node20',
    minify: true,
    // Names of minified functions are not kept: esbuild's keepNames wraps thousands of functions (zod's
    // mostly) in a defineProperty call, which costs ~2 ms and 140 KiB of snapshot per start. Errors carry
    // explicit names and messages; nothing reads a function's name.
    keepNames: false,
    sourcemap: false,
    legalComments: 'none',
    define: {
      __VB_NATIVE_SHA256__: JSON.stringify(nativeSha256),
      __VB_VERSION__: JSON.stringify(version),
      // Only the development path (koffi from node_modules, when not inside the SEA) reads import.meta.url;
      // it is unreachable in the executable, and a fixed string keeps it from being a silent empty object.
      'import.meta.url': JSON.stringify('file:///vlan-bridge/main.cjs'),
    },
    // import.meta is empty in a CommonJS bundle: using it would be a silent runtime bug, so fail the build.
    logOverride: { 'empty-import-meta': 'error' },
    logLevel: 'warning',
    metafile: true,
  });
  // The SEA's require() only knows builtins: anything left external that is not a builtin would fail at runtime.
  const { builtinModules } = await import('node:module');
  const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
  builtins.add('node:sea');
  const bad = new Set();
  for (const out of Object.values(result.metafile.outputs)) {
    for (const imp of out.imports ?? []) if (imp.external && !builtins.has(imp.path)) bad.add(imp.path);
  }
  if (bad.size) throw new Error(`bundle leaves non-builtin modules external: ${[...bad].join(', ')}`);
  return outfile;
}

function writeSeaConfig({ useCodeCache, useSnapshot, nativePath }) {
  const configPath = path.join(root, 'build', 'sea-config.json');
  // Paths are relative to the repository root: node is run with cwd = root below.
  const config = {
    main: 'build/main.cjs',
    output: 'build/sea-prep.blob',
    disableExperimentalSEAWarning: true,
    useCodeCache: useSnapshot ? false : useCodeCache,
    useSnapshot,
    assets: { 'koffi.node': rel(nativePath) },
  };
  writeFileSync(configPath, JSON.stringify(config, null, 2) + '\n');
  return { configPath, blobPath: path.join(root, config.output) };
}

function prepareBlob(configPath) {
  const r = spawnSync(process.execPath, ['--experimental-sea-config', rel(configPath)], {
    cwd: root,
    encoding: 'utf8',
  });
  if (r.status !== 0) {
    throw new Error(`node --experimental-sea-config failed (${r.status ?? r.signal}):\n${r.stdout}${r.stderr}`);
  }
  // A builtin that the snapshot builder cannot vouch for may come back out of sync at run time: load such
  // modules lazily (process.getBuiltinModule inside functions) instead of letting the snapshot hold them.
  if (/not yet fully verified/.test(r.stderr)) {
    throw new Error(`the startup snapshot holds a builtin it cannot verify:\n${r.stderr}`);
  }
}

/** Injects the blob into a copy of process.execPath and moves it onto `target` in one rename. */
async function makeExecutable(blobPath, target) {
  mkdirSync(path.dirname(target), { recursive: true });
  const tmp = path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.tmp`);
  rmSync(tmp, { force: true });
  try {
    copyFileSync(process.execPath, tmp);
    chmodSync(tmp, 0o755); // postject needs write access; some node installs are 0555
    // Linux: node's ELF binary carries no code signature, so there is nothing to remove before injecting
    // (macOS would need `codesign --remove-signature` and an ad-hoc re-sign; Windows signtool). Linux-only.
    const { inject } = require('postject');
    // postject's LIEF (compiled to wasm) warns about every one of node's 256 ELF notes lacking a section
    // name ("Can't find string offset for section name '.note.100'"): harmless noise, filtered out here.
    const warn = console.warn;
    console.warn = (...args) => {
      if (!/Can't find string offset for section name/.test(String(args[0]))) warn(...args);
    };
    try {
      await inject(tmp, SEA_RESOURCE, readFileSync(blobPath), { sentinelFuse: SEA_FUSE });
    } finally {
      console.warn = warn;
    }
    chmodSync(tmp, 0o755);
    renameSync(tmp, target);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

async function build({ useCodeCache, useSnapshot, target, quiet = false }) {
  const t0 = performance.now();
  const nativePath = koffiNativePath();
  const nativeSha256 = createHash('sha256').update(readFileSync(nativePath)).digest('hex');
  const { version } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
  mkdirSync(path.join(root, 'build'), { recursive: true });

  const mainCjs = await bundle({ nativeSha256, version });
  const { configPath, blobPath } = writeSeaConfig({ useCodeCache, useSnapshot, nativePath });
  prepareBlob(configPath);
  await makeExecutable(blobPath, target);

  const ms = performance.now() - t0;
  if (!quiet) {
    const size = statSync(target).size;
    const nodeSize = statSync(process.execPath).size;
    console.log(
      [
        `built ${rel(target)} (vlan-bridge ${version}, node ${process.version}, ${useSnapshot ? 'startup snapshot' : `useCodeCache=${useCodeCache}`})`,
        `  bundle   ${rel(mainCjs)}  ${(statSync(mainCjs).size / 1024).toFixed(1)} KiB`,
        `  asset    koffi.node  ${(statSync(nativePath).size / 1024).toFixed(1)} KiB  sha256 ${nativeSha256}`,
        `  blob     ${rel(blobPath)}  ${(statSync(blobPath).size / 1024).toFixed(1)} KiB`,
        `  size     ${size} bytes (${mib(size)}; node itself ${mib(nodeSize)})`,
        `  time     ${(ms / 1000).toFixed(2)} s`,
      ].join('\n'),
    );
  }
  return ms;
}

const opts = parseArgs(process.argv.slice(2));
const target = path.join(root, 'bin', 'vlan-bridge');
try {
  await build({ useCodeCache: opts.useCodeCache, useSnapshot: opts.useSnapshot, target });
} catch (e) {
  console.error(`build failed: ${e?.message ?? e}`);
  process.exit(1);
}
