// A throwaway "machine" for programs that insist on fixed paths (container runtimes: /etc/cni/net.d, /opt/cni/bin,
// /var/lib/cni, /run/containerd, /var/lib/containers...): a network namespace of its own plus a private mount
// namespace in which each of those paths is an empty tmpfs (or an overlay that keeps what the host has there but
// takes writes privately). Everything started inside sees these paths and this network; the host's own files,
// interfaces and firewall rules are never touched. A path missing on the host is made inside an overlay of its
// nearest existing parent, so not even an empty directory appears on the host.
//
// One long-lived "holder" process owns the mount namespace; every command enters it (and the network namespace)
// with nsenter. Closing the node kills, by pid, every process still inside it and the processes they started
// (daemons, shims, containers), then deletes the namespace: what the runtimes kept on those tmpfs goes with it.
// A node's record (node.json in its directory) names its owner, the test process: a later openNode tears down
// every node whose owner died without closing it (a killed test run), so interrupted runs do not pile up.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  rmdirSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { deleteNetns, makeNetns, type TestNs } from '../host/netns-fixture.js';
import { sleep, waitFor } from './wait.js';

/** The environment of a service started on a clean machine: no NODE_OPTIONS, proxies or CA bundles of ours. */
export const SERVICE_ENV: Record<string, string> = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root', LANG: 'C' };

export interface RunOptions {
  input?: string;
  /** Replaces SERVICE_ENV. */
  env?: Record<string, string>;
  timeoutMs?: number;
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A process started in the background inside the node (a daemon, a foreground `ctr run`). */
export interface Background {
  readonly child: ChildProcess;
  readonly pid: number;
  /** stdout and stderr so far, interleaved. */
  output(): string;
  /** Resolves with the exit code (or the signal's name) once the process has ended. */
  readonly exited: Promise<number | string>;
  /** Waits for the process to end on its own: its exit code or signal; throws (with its output) after `ms`. */
  wait(ms: number): Promise<number | string>;
  /** Signals the process and waits for it to end (SIGKILL after `ms`). */
  stop(signal?: NodeJS.Signals, ms?: number): Promise<number | string>;
}

export interface IsolatedNode {
  /** The network namespace (read it from outside with `ns.ipj(...)`). */
  ns: TestNs;
  /** The holder's pid: `nsenter -t <pid> -m -n` enters the node. */
  pid: number;
  /** A host directory for the test's own files, shared with the node (unless a node path overlays /tmp, which
   * makes the node's writes there private); removed by close(). */
  dir: string;
  /** Runs a command inside the node and waits for it. */
  run(cmd: string, args: string[], opts?: RunOptions): RunResult;
  /** The same, throwing (with stdout and stderr) unless it exits 0; returns stdout. */
  sh(cmd: string, args: string[], opts?: RunOptions): string;
  /** Starts a command inside the node without waiting for it. */
  start(cmd: string, args: string[], opts?: RunOptions): Background;
  /** Ends everything inside the node (by pid), removes `cgroupParents` from every cgroup hierarchy, the namespace
   * and `dir`. */
  close(): Promise<void>;
}

export interface NodeOptions {
  /** Network namespace name prefix. */
  prefix: string;
  /** Paths to give an empty private tmpfs; `keep:<path>` gives an overlay of the host's directory instead. */
  paths: string[];
  /** Top-level cgroup names the runtimes put containers under: close() removes them, and fails if one is busy. */
  cgroupParents?: string[];
}

// Runs as root in the new mount namespace, from a plan made by mountPlan(): the overlays' upper directories are all
// made first, on a tmpfs at $VB_SCRATCH, while that path still leads to it (an overlay of one of its parents, /tmp
// say, would hide it); then the overlays, the directories made inside them, the tmpfs mounts.
const HOLDER = `
set -eu
mount -t tmpfs -o mode=0700 vb-node "$VB_SCRATCH"
n=0; for p in $VB_OVERLAYS; do n=$((n+1)); mkdir -p "$VB_SCRATCH/$n/u" "$VB_SCRATCH/$n/w"; done
n=0; for p in $VB_OVERLAYS; do
  n=$((n+1)); mount -t overlay vb-node -o "lowerdir=$p,upperdir=$VB_SCRATCH/$n/u,workdir=$VB_SCRATCH/$n/w" "$p"
done
for p in $VB_MKDIRS; do mkdir -p "$p"; done
for p in $VB_TMPFS; do mount -t tmpfs -o mode=0755 vb-node "$p"; done
echo ready
exec sleep infinity
`;

const isUnder = (p: string, dir: string) => p === dir || p.startsWith(`${dir}/`);

/**
 * Which directories get an overlay (`keep:` paths, and the nearest existing parent of a path the host lacks), in
 * mount order: parents before what lies inside them, and a parent of `scratch` last, so that every upper
 * directory is reached through the scratch tmpfs when its overlay is mounted.
 */
function mountPlan(paths: string[], scratch: string): { overlays: string[]; mkdirs: string[]; tmpfs: string[] } {
  const overlays = new Set<string>();
  const mkdirs: string[] = [];
  const tmpfs: string[] = [];
  for (const spec of paths) {
    if (/\s/.test(spec)) throw new Error(`isolated node: no whitespace in paths, please (${spec})`);
    if (spec.startsWith('keep:')) {
      overlays.add(spec.slice('keep:'.length));
      continue;
    }
    tmpfs.push(spec);
    if (existsSync(spec)) continue;
    let a = path.dirname(spec);
    while (!existsSync(a)) a = path.dirname(a);
    if (a === '/') throw new Error(`isolated node: will not overlay / to make ${spec}`);
    mkdirs.push(spec);
    if (![...overlays].some((o) => isUnder(a, o))) overlays.add(a);
  }
  const depth = (p: string) => p.split('/').length + (isUnder(scratch, p) ? 1000 : 0);
  return { overlays: [...overlays].sort((x, y) => depth(x) - depth(y)), mkdirs, tmpfs };
}

function nsenterArgs(pid: number, cmd: string, args: string[]): string[] {
  return ['-t', String(pid), '-m', '-n', '--', cmd, ...args];
}

function mntNs(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/mnt`);
  } catch {
    return undefined; // gone, or a zombie
  }
}

/** Pid -> parent pid for every process. */
function parents(): Map<number, number> {
  const out = new Map<number, number>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      // comm (field 2) may hold spaces and parentheses: the ppid follows the last ')'.
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      out.set(Number(e), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** Every process in mount namespace `mnt` (but `except`), and every descendant of one (containers have their own). */
function processesIn(mnt: string, except: number): number[] {
  const ppid = parents();
  const inside = new Set([...ppid.keys()].filter((p) => p !== except && mntNs(p) === mnt));
  let grew = true;
  while (grew) {
    grew = false;
    for (const [p, parent] of ppid) {
      if (!inside.has(p) && p !== except && inside.has(parent)) {
        inside.add(p);
        grew = true;
      }
    }
  }
  return [...inside];
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');
  } catch {
    return false;
  }
}

/** rmdir a cgroup tree bottom-up (a cgroup directory is removed with rmdir; its files go with it). */
function removeCgroup(dir: string): void {
  if (!existsSync(dir)) return;
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) removeCgroup(path.join(dir, e.name));
  rmdirSync(dir);
}

function background(child: ChildProcess): Background {
  let out = '';
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (out += d));
  const exited = new Promise<number | string>((resolve) =>
    child.on('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')),
  );
  return {
    child,
    pid: child.pid!,
    output: () => out,
    exited,
    async wait(ms) {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`still running after ${ms} ms:\n${out}`)), ms);
      });
      try {
        return await Promise.race([exited, late]);
      } finally {
        clearTimeout(timer);
      }
    },
    async stop(signal = 'SIGTERM', ms = 10_000) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const t = setTimeout(() => child.kill('SIGKILL'), ms);
      try {
        return await exited;
      } finally {
        clearTimeout(t);
      }
    },
  };
}

/** What a node is made of, kept in its directory as node.json so that a later run can take down an abandoned one. */
interface NodeRecord {
  /** The test process that opened it, and that process's start time (clock ticks after boot: pids are reused). */
  owner: number;
  ownerStart: string;
  holder: number;
  /** The holder's mount namespace (`mnt:[inode]`): the processes still inside it are the node's. */
  mnt: string;
  netns: string;
  dir: string;
  scratch: string;
  cgroupParents: string[];
}

/** Field 22 of /proc/<pid>/stat, the process's start time; undefined when there is no such process. */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/**
 * Kills every process of the node (by its mount namespace: the holder, daemons, shims, containers and what they
 * started), deletes its network namespace, cgroups and directories. Returns what could not be removed.
 */
async function teardown(r: NodeRecord): Promise<string[]> {
  for (let round = 0; round < 50; round++) {
    const left = processesIn(r.mnt, -1).filter(alive);
    if (left.length === 0) break;
    for (const p of left) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await sleep(100);
  }
  deleteNetns(r.netns);
  const failures: string[] = [];
  for (const parent of r.cgroupParents) {
    // cgroup v1 has a hierarchy per controller under /sys/fs/cgroup, v2 one at /sys/fs/cgroup itself.
    for (const hierarchy of ['', ...readdirSync('/sys/fs/cgroup')]) {
      const d = path.join('/sys/fs/cgroup', hierarchy, parent);
      try {
        removeCgroup(d);
      } catch (e) {
        failures.push(`${d}: ${(e as Error).message}`);
      }
    }
  }
  rmSync(r.dir, { recursive: true, force: true });
  rmSync(r.scratch, { recursive: true, force: true });
  return failures;
}

/** Takes down the nodes (of any prefix) whose owner is gone: what killed test runs left. Best effort, never throws. */
async function sweepAbandoned(): Promise<void> {
  for (const e of readdirSync(tmpdir())) {
    const file = path.join(tmpdir(), e, 'node.json');
    let r: NodeRecord;
    try {
      r = JSON.parse(readFileSync(file, 'utf8')) as NodeRecord;
    } catch {
      continue; // not a node's directory, or one still being made
    }
    if (startTime(r.owner) === r.ownerStart) continue; // its run is still going
    const failures = await teardown(r).catch((err: Error) => [err.message]);
    process.stderr.write(
      `isolated node: took down ${r.netns}, left by test process ${r.owner}${failures.length ? ` (left: ${failures.join('; ')})` : ''}\n`,
    );
  }
}

export async function openNode(o: NodeOptions): Promise<IsolatedNode> {
  await sweepAbandoned();
  const ns = makeNetns(o.prefix);
  const dir = mkdtempSync(path.join(tmpdir(), `${o.prefix}-`));
  const scratch = mkdtempSync(path.join(tmpdir(), `${o.prefix}-mnt-`));
  const plan = mountPlan(o.paths, scratch);
  const holder = spawn(
    'nsenter',
    [`--net=${ns.path}`, 'unshare', '--mount', '--propagation', 'private', 'sh', '-c', HOLDER],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...SERVICE_ENV,
        VB_SCRATCH: scratch,
        VB_OVERLAYS: plan.overlays.join('\n'),
        VB_MKDIRS: plan.mkdirs.join('\n'),
        VB_TMPFS: plan.tmpfs.join('\n'),
      },
    },
  );
  const h = background(holder);
  await waitFor(() => h.output().includes('ready') || holder.exitCode !== null, 'the node holder to start', 15_000);
  if (!h.output().includes('ready')) {
    deleteNetns(ns);
    throw new Error(`could not make the node's private mounts: ${h.output()}`);
  }
  const pid = h.pid;
  const mnt = mntNs(pid)!;
  const record: NodeRecord = {
    owner: process.pid,
    ownerStart: startTime(process.pid)!,
    holder: pid,
    mnt,
    netns: ns.name,
    dir,
    scratch,
    cgroupParents: o.cgroupParents ?? [],
  };
  writeFileSync(path.join(dir, 'node.json'), JSON.stringify(record));

  const run = (cmd: string, args: string[], opts: RunOptions = {}): RunResult => {
    const r = spawnSync('nsenter', nsenterArgs(pid, cmd, args), {
      input: opts.input,
      env: opts.env ?? SERVICE_ENV,
      encoding: 'utf8',
      timeout: opts.timeoutMs ?? 60_000,
      maxBuffer: 64 << 20,
    });
    return { code: r.status, stdout: r.stdout ?? '', stderr: (r.stderr ?? '') + (r.error ? String(r.error) : '') };
  };

  return {
    ns,
    pid,
    dir,
    run,
    sh(cmd, args, opts) {
      const r = run(cmd, args, opts);
      if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}:\n${r.stdout}${r.stderr}`);
      return r.stdout;
    },
    start(cmd, args, opts = {}) {
      return background(
        spawn('nsenter', nsenterArgs(pid, cmd, args), {
          stdio: ['ignore', 'pipe', 'pipe'],
          env: opts.env ?? SERVICE_ENV,
        }),
      );
    },
    async close() {
      // Whatever the runtimes left running (shims, conmon, containers): by pid, found through the mount namespace;
      // the holder last (it keeps the namespace, so the others are found through it).
      const failures = await teardown(record);
      await h.stop('SIGKILL');
      if (failures.length) throw new Error(`cgroups left behind:\n${failures.join('\n')}`);
    },
  };
}
