#!/usr/bin/env bun
// `make bench` (run by the pinned Bun, `$(BUN) bench/run.ts`): whole-process figures of bin/vlan-bridge against
// the reference bridge plugin 1.9.1 (Debian unstable's containernetworking-plugins, in build/reference-1.9.1, with its
// host-local as both plugins' IPAM; bench/common.ts), interleaved in one run:
// VERSION, L2 and host-local ADD, DEL and ADD+DEL cycles, the L2 cycle on bridges with 250 and 1000 other ports, GC
// keeping 1000 attachments (issue 24), peak RSS (GNU time), 32-way churn, a start-up ladder that tells where our time
// goes, and in the UML kernel the trunk / access ratio. Prints the targets met or missed and writes
// bench/results/latest.md and latest.json. RUNS (default 40) sets the timed rounds, CHURN_ROUNDS (3) the churn
// rounds of each plugin; about 5 minutes.
// Everything runs inside network namespaces made here (bench/host.ts), or in the UML kernel (bench/uml.ts).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BIN, ROOT, ensureBuilt } from '../test/lab/binary.js';
import { CNI_PATH, EMPTY_BUN, PINNED_BUN, REF, REFERENCE, TIME, type HostSamples } from './common.js';
import { report } from './report.js';
import { umlVlan } from './uml.js';

const RUNS = Number(process.env.RUNS ?? 40);
const UML_ROUNDS = Math.max(5, Math.floor(RUNS / 2));

function run(cmd: string[], opts: { env?: Record<string, string>; stderr?: 'inherit' } = {}): string {
  const r = Bun.spawnSync({ cmd, env: opts.env ?? { ...process.env }, stdout: 'pipe', stderr: opts.stderr ?? 'pipe' });
  if (r.exitCode !== 0) throw new Error(`${cmd.join(' ')} exited ${r.exitCode}: ${r.stderr?.toString() ?? ''}`);
  return r.stdout.toString();
}

/**
 * The runtime's floor: an empty file compiled with our build's flags (scripts/build.mjs) by the same pinned Bun,
 * built once into build/ (again when that Bun is newer). Informational: what any Bun executable pays to start.
 */
function ensureEmptyBun(): void {
  try {
    if (statSync(EMPTY_BUN).mtimeMs >= statSync(PINNED_BUN).mtimeMs) return;
  } catch {
    // not built yet
  }
  const src = path.join(path.dirname(EMPTY_BUN), 'empty-bun.ts');
  mkdirSync(path.dirname(src), { recursive: true });
  writeFileSync(src, '');
  const noAutoload = ['dotenv', 'bunfig', 'tsconfig', 'package-json'].map((f) => `--no-compile-autoload-${f}`);
  run([PINNED_BUN, 'build', src, '--compile', '--bytecode', '--minify', ...noAutoload, `--outfile=${EMPTY_BUN}`]);
}

/**
 * Evicts an executable from the page cache (GNU dd: iflag=nocache count=0 drops the whole file), so that every
 * subject is read back from disk, as on a node after memory pressure. File-backed pages count in peak RSS, and how
 * many a process maps depends on how the file entered the cache: a freshly written bin/vlan-bridge (by the build or
 * by a copy) shows about 6 MiB more for VERSION than the same bytes read back from disk.
 */
function dropPageCache(file: string): void {
  run(['dd', `if=${file}`, 'iflag=nocache', 'count=0']);
}

async function main(): Promise<void> {
  const hostLocal = path.join(CNI_PATH, 'host-local');
  for (const f of [REF, hostLocal, TIME]) statSync(f); // ENOENT names what `make deps` installs
  const reference = { release: REFERENCE.release, path: path.relative(ROOT, REF), package: REFERENCE.package() };
  ensureBuilt();
  ensureEmptyBun();
  const start = { date: new Date().toISOString(), load: os.loadavg() };
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'vb-bench-'));
  const node = `vbbench-${process.pid.toString(16)}`;
  for (const f of [BIN, REF, EMPTY_BUN, hostLocal]) dropPageCache(f);
  let host: HostSamples;
  const t0 = performance.now();
  run(['ip', 'netns', 'add', node]);
  try {
    console.error(`bench: ${RUNS} rounds on the host kernel, inside namespace ${node}`);
    const out = path.join(tmp, 'host.json');
    const env = { ...process.env, RUNS: String(RUNS) };
    run(['ip', 'netns', 'exec', node, process.execPath, path.join(ROOT, 'bench', 'host.ts'), out], {
      env,
      stderr: 'inherit',
    });
    host = JSON.parse(readFileSync(out, 'utf8')) as HostSamples;
  } finally {
    Bun.spawnSync({ cmd: ['ip', 'netns', 'del', node] });
  }
  try {
    console.error(`bench: ${UML_ROUNDS} rounds in the UML kernel`);
    const t1 = performance.now();
    const uml = await umlVlan(UML_ROUNDS, tmp);
    const durationsS = { host: (t1 - t0) / 1000, uml: (performance.now() - t1) / 1000 };
    const end = { date: new Date().toISOString(), load: os.loadavg() };
    const { json, md } = report({
      start,
      end,
      machine: {
        cpu: os.cpus()[0]?.model ?? 'unknown CPU',
        cpus: os.cpus().length,
        memGiB: Math.round(os.totalmem() / 2 ** 30),
        kernel: os.release(),
        bun: Bun.version,
      },
      reference,
      host,
      uml,
      durationsS,
    });
    const dir = path.join(ROOT, 'bench', 'results');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'latest.json'), `${JSON.stringify(json, null, 2)}\n`);
    writeFileSync(path.join(dir, 'latest.md'), `${md}\n`);
    console.log(md);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
