// Host-side runner for the UML test tier: boots a user-mode Linux kernel (`linux.uml`, Debian unstable's 7.x, which
// scripts/uml-kernel.sh unpacks into build/uml-kernel: bookworm's 6.1 cannot start a process on CPUs with AMX) with
// the host's root filesystem as its root (hostfs), runs one bash script inside it and reports what happened.
// The host kernel lacks bridge VLAN filtering, 802.1q and bonding; the UML kernel has them as modules.
// See /work/shared/REFERENCE.md section 5.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root (this file is test/lab/uml.ts); guest scripts start there. */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const KERNEL_DIR = path.join(REPO_ROOT, 'build', 'uml-kernel');
export const UML_BINARY = process.env.UML_BINARY ?? path.join(KERNEL_DIR, 'linux.uml');
export const UML_MODULES_ROOT =
  process.env.UML_MODULES_ROOT ?? path.join(KERNEL_DIR, 'root', 'usr', 'lib', 'uml', 'modules');
/** sch_netem: tools.guest.test.ts delays a DHCP server's answers. */
export const GUEST_MODULES = ['bridge', '8021q', 'bonding', 'veth', 'dummy', 'sch_netem'] as const;
export interface UmlRunOptions {
  /** bash script run inside the guest, from REPO_ROOT; its stdout+stderr become `output`. */
  script: string;
  /** Whole-run limit, boot included (default 120 s). On expiry the UML process group is SIGKILLed. */
  timeoutMs?: number;
  /** Guest memory in MB (default 1024). */
  memMb?: number;
  /** Extra environment exported to the script. */
  env?: Record<string, string>;
}

export interface UmlResult {
  /** The script's exit status, or null when it never finished (timeout, guest crash). */
  exitCode: number | null;
  timedOut: boolean;
  /** The script's stdout+stderr. */
  output: string;
  /** Kernel console plus the init script's own messages (module loading etc.): read it when exitCode is null. */
  consoleLog: string;
  /** Private work dir (0700), kept for inspection; the caller may remove it. */
  dir: string;
  /** Wall time from spawning linux.uml to its exit. */
  durationMs: number;
  /** The instance's unique id (on linux.uml's command line; `pgrep -f <umid>` finds leftovers). */
  umid: string;
}

/** Throws (never skips) when the UML kernel or its modules are not installed; parameters exist for tests. */
export function assertUmlAvailable(binary = UML_BINARY, modulesRoot = UML_MODULES_ROOT): void {
  const missing: string[] = [];
  try {
    fs.accessSync(binary, fs.constants.X_OK);
  } catch {
    missing.push(`${binary} (scripts/uml-kernel.sh)`);
  }
  if (!fs.existsSync(modulesRoot)) missing.push(`${modulesRoot} (scripts/uml-kernel.sh)`);
  if (!['/usr/sbin/modprobe', '/sbin/modprobe'].some((p) => fs.existsSync(p))) missing.push('modprobe (package kmod)');
  if (missing.length > 0) {
    throw new Error(`UML test tier cannot run: missing ${missing.join(', ')}. Run \`make deps\` to install them.`);
  }
}

let cachedVersion: string | undefined;
/** Module directory name for the UML kernel: the single entry under UML_MODULES_ROOT, else `linux.uml --version`. */
function umlKernelVersion(): string {
  if (cachedVersion) return cachedVersion;
  const entries = fs.readdirSync(UML_MODULES_ROOT);
  if (entries.length === 1) return (cachedVersion = entries[0]!);
  const v = spawnSync(UML_BINARY, ['--version'], { encoding: 'utf8' }).stdout.trim();
  if (!entries.includes(v)) throw new Error(`no modules for UML kernel ${v} under ${UML_MODULES_ROOT}`);
  return (cachedVersion = v);
}

/** Single-quote a string for sh. */
export function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function initScript(dir: string, env: Record<string, string>): string {
  const q = shQuote;
  const exports = Object.entries(env).map(([k, v]) => `export ${k}=${q(v)}`);
  const guestPath = [path.dirname(process.execPath), '/usr/sbin', '/usr/bin', '/sbin', '/bin'].join(':');
  // Runs as PID 1. The kernel has already mounted devtmpfs on /dev. /tmp is deliberately NOT mounted over:
  // it stays the host's /tmp through hostfs, so the work dir (under os.tmpdir()) is shared with the host.
  // Setup messages go to the console (consoleLog); the script's own output goes to a file.
  return `#!/bin/bash
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /dev/shm /dev/pts && mount -t tmpfs -o mode=1777 tmpfs /dev/shm && mount -t devpts devpts /dev/pts
for m in ${GUEST_MODULES.join(' ')}; do modprobe -d ${q(dir)} "$m" || echo "uml-init: modprobe $m failed"; done
ip link set lo up
export PATH=${q(guestPath)} HOME=/root LANG=C.UTF-8 UML_GUEST=1 UML_WORK_DIR=${q(dir)}
${exports.join('\n')}
cd ${q(REPO_ROOT)} || echo "uml-init: cannot cd to repo root"
bash ${q(path.join(dir, 'script.sh'))} >${q(path.join(dir, 'output.log'))} 2>&1 </dev/null
echo $? >${q(path.join(dir, 'exit-code.tmp'))}
# rename makes the exit code appear atomically; sync flushes hostfs pages before the hard halt.
mv ${q(path.join(dir, 'exit-code.tmp'))} ${q(path.join(dir, 'exit-code'))}
sync
# 'halt -f' makes linux.uml exit(0) at once; if init returned instead the guest kernel would panic.
halt -f
`;
}

// Process groups of running instances: killed if this host process exits with guests still running.
const live = new Set<number>();
process.once('exit', () => {
  for (const pgid of live) killGroup(pgid);
});
function killGroup(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    // already gone
  }
}

function groupExists(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

let seq = 0;

export async function runInUml(opts: UmlRunOptions): Promise<UmlResult> {
  assertUmlAvailable();
  for (const k of Object.keys(opts.env ?? {})) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`invalid env var name ${JSON.stringify(k)}`);
  }
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const memMb = opts.memMb ?? 1024;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vb-uml-'));
  fs.chmodSync(dir, 0o700);
  // modprobe -d <dir> looks in <dir>/lib/modules/<version>.
  const version = umlKernelVersion();
  fs.mkdirSync(path.join(dir, 'lib', 'modules'), { recursive: true });
  fs.symlinkSync(path.join(UML_MODULES_ROOT, version), path.join(dir, 'lib', 'modules', version));
  fs.writeFileSync(path.join(dir, 'script.sh'), opts.script, { mode: 0o700 });
  fs.writeFileSync(path.join(dir, 'init.sh'), initScript(dir, opts.env ?? {}), { mode: 0o700 });

  // umid must be unique per instance (it names <uml_dir>/<umid>/ with the pid file and mconsole socket).
  const umid = `vb-${process.pid}-${++seq}-${Math.random().toString(36).slice(2, 8)}`;
  const args = [
    `umid=${umid}`,
    `uml_dir=${dir}`,
    `mem=${memMb}M`,
    'root=/dev/root',
    'rootfstype=hostfs',
    'rootflags=/',
    'rw',
    `init=${path.join(dir, 'init.sh')}`,
    'con=null',
    'con0=null,fd:1',
  ];
  const consoleFd = fs.openSync(path.join(dir, 'console.log'), 'w');
  const started = Date.now();
  // detached gives it its own process group; linux.uml also calls setsid() itself, so either way its pid is
  // the group id, and the group holds UML's helper processes (one host process per guest address space).
  const child = spawn(UML_BINARY, args, { cwd: dir, detached: true, stdio: ['ignore', consoleFd, consoleFd] });
  fs.closeSync(consoleFd);
  const exited = new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', () => resolve());
  });
  const pgid = child.pid;
  if (pgid === undefined) {
    await exited; // rejects with the spawn error
    throw new Error(`could not start ${UML_BINARY}`);
  }
  live.add(pgid);

  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(pgid);
  }, timeoutMs);
  await exited;
  clearTimeout(timer);
  // Stray group members (there should be none after a clean halt) must not outlive the run: kill the group
  // again and wait (bounded) until it is empty, so nothing of this instance is left when we return.
  killGroup(pgid);
  for (let i = 0; i < 100 && groupExists(pgid); i++) await new Promise((r) => setTimeout(r, 20));
  live.delete(pgid);
  const durationMs = Date.now() - started;

  const read = (name: string): string | undefined => {
    try {
      return fs.readFileSync(path.join(dir, name), 'utf8');
    } catch {
      return undefined;
    }
  };
  const code = read('exit-code')?.trim();
  return {
    exitCode: code !== undefined && /^\d+$/.test(code) ? Number(code) : null,
    timedOut,
    output: read('output.log') ?? '',
    consoleLog: read('console.log') ?? '',
    dir,
    durationMs,
    umid,
  };
}

/** Removes a work dir made by runInUml. */
export function removeUmlDir(dir: string): void {
  if (path.basename(dir).startsWith('vb-uml-')) fs.rmSync(dir, { recursive: true, force: true });
}
