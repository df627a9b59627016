// The built executable for tests: built first when missing or older than its sources.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = path.join(ROOT, 'bin', 'vlan-bridge');

function newestMtime(p: string): number {
  const st = statSync(p);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs; // a deleted file still bumps its directory
  for (const e of readdirSync(p)) newest = Math.max(newest, newestMtime(path.join(p, e)));
  return newest;
}

export function needsBuild(): boolean {
  let built: number;
  try {
    built = statSync(BIN).mtimeMs;
  } catch {
    return true;
  }
  return [path.join(ROOT, 'src'), path.join(ROOT, 'scripts', 'build.mjs')].some((p) => newestMtime(p) > built);
}

let checked = false;

export function ensureBuilt(): void {
  if (checked) return;
  if (needsBuild()) {
    const r = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'build.mjs')], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 180_000,
    });
    if (r.status !== 0)
      throw new Error(`node scripts/build.mjs failed (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
  }
  checked = true;
}

/**
 * CPUs the executable must start on besides this machine's (issue 15), as qemu-user models: Westmere has no AVX,
 * Icelake-Server is a recent Intel server (AVX2, AVX-512 where qemu's TCG has it). qemu-user cannot do setns, so
 * only calls that touch no kernel object run emulated.
 */
export const EMULATED_CPUS = ['Westmere', 'Icelake-Server'] as const;

/** How to run the executable: natively (cpu undefined) or under `qemu-x86_64 -cpu <cpu>` (Debian's qemu-user). */
export function binCommand(cpu?: string): { file: string; args: string[] } {
  if (cpu === undefined) return { file: BIN, args: [] };
  const qemu = '/usr/bin/qemu-x86_64';
  try {
    statSync(qemu);
  } catch {
    throw new Error(`${qemu} is missing: run make deps (Debian package qemu-user)`);
  }
  return { file: qemu, args: ['-cpu', cpu, BIN] };
}

/** stderr without qemu's notes about CPU features its emulator lacks ("qemu-x86_64: warning: TCG doesn't ..."). */
export const withoutQemuWarnings = (stderr: string): string => stderr.replace(/^qemu-x86_64: warning: .*\n/gm, '');
