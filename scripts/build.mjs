#!/usr/bin/env node
// Builds bin/vlan-bridge: one self-contained executable compiled by Bun (`bun build --compile`), with the bundle
// stored as JavaScriptCore bytecode so that start-up parses nothing. Bun is the pinned dev dependency
// @oven/bun-linux-x64 (exact version in package.json and the lockfile), so `npm ci` brings it and the build is
// offline. The executable reads no .env, bunfig.toml, tsconfig.json or package.json from its working directory
// (the --no-compile-autoload-* flags): a runtime calls plugins from directories we do not control.
//
// bin/vlan-bridge is replaced atomically (rename): a copy being exec'd by a runtime or a test is never seen
// half-written. Start-up figures are measured in bench/ (make bench), not here.
//
// Usage: node scripts/build.mjs [--out <file>]

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const rel = (p) => path.relative(root, p) || '.';

/** The Bun binary of the pinned npm package; its version is the one in package.json's devDependencies. */
export function bunPath() {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(
      `vlan-bridge builds on linux-x64 (the Bun package pinned is @oven/bun-linux-x64); this is ${process.platform}-${process.arch}`,
    );
  }
  const file = path.join(root, 'node_modules', '@oven', 'bun-linux-x64', 'bin', 'bun');
  statSync(file); // throws ENOENT with the path when npm ci has not run
  return file;
}

function parseArgs(argv) {
  const opts = { out: path.join(root, 'bin', 'vlan-bridge') };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--out' && argv[i + 1]) opts.out = path.resolve(argv[++i]);
    else {
      console.error(`build: unknown argument ${argv[i]}\nusage: node scripts/build.mjs [--out <file>]`);
      process.exit(2);
    }
  }
  return opts;
}

function build(target) {
  const t0 = performance.now();
  const { version } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
  mkdirSync(path.dirname(target), { recursive: true });
  // Built under its final name in a directory of its own beside the target (same file system, so the rename is
  // atomic): Bun records the output's name inside the executable, and a temporary name there would differ per build.
  const tmpDir = path.join(path.dirname(target), `.build.${process.pid}`);
  rmSync(tmpDir, { recursive: true, force: true });
  mkdirSync(tmpDir);
  const tmp = path.join(tmpDir, path.basename(target));
  const args = [
    'build',
    'src/main.ts',
    '--compile',
    '--bytecode',
    '--minify',
    '--no-compile-autoload-dotenv',
    '--no-compile-autoload-bunfig',
    '--no-compile-autoload-tsconfig',
    '--no-compile-autoload-package-json',
    // Each call is a short-lived process: code that JavaScriptCore would tier up to its JITs runs a few times only,
    // and JIT code and its profiling cost ~5 MiB of peak RSS (measured in bench/) for no gain in time.
    '--compile-jit-policy=1000',
    `--define=__VB_VERSION__=${JSON.stringify(version)}`,
    `--outfile=${tmp}`,
  ];
  const r = spawnSync(bunPath(), args, { cwd: root, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  if (r.status !== 0) {
    rmSync(tmpDir, { recursive: true, force: true });
    throw new Error(`bun build failed (${r.status ?? r.signal}):\n${r.stdout}${r.stderr}`);
  }
  renameSync(tmp, target);
  rmSync(tmpDir, { recursive: true, force: true });
  const bytes = readFileSync(target);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const bun = spawnSync(bunPath(), ['--version'], { encoding: 'utf8' }).stdout.trim();
  console.log(
    [
      `built ${rel(target)} (vlan-bridge ${version}, bun ${bun}, bytecode)`,
      `  size     ${bytes.length} bytes (${(bytes.length / 1048576).toFixed(1)} MiB)`,
      `  sha256   ${sha256}`,
      `  time     ${((performance.now() - t0) / 1000).toFixed(2)} s`,
    ].join('\n'),
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { out } = parseArgs(process.argv.slice(2));
  try {
    build(out);
  } catch (e) {
    console.error(`build failed: ${e?.message ?? e}`);
    process.exit(1);
  }
}
