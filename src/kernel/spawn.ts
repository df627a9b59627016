// Running a child process with a bounded wait, synchronously. Node's spawnSync kills a child at its timeout with
// one signal and then waits for it to exit, however long that takes: a child that ignores SIGTERM (or one stuck
// in a SIGTERM handler) keeps the caller waiting forever. Here the child gets SIGTERM at the timeout and SIGKILL
// after a grace period, and the wait ends at that point whatever happens (a SIGKILLed child can linger only in
// uninterruptible sleep; it is then left to the kernel and reported as killed). Built on posix_spawn(3), poll(2)
// and waitpid(2) through libc, since the callers (IPAM delegation, firewall tools) must stay synchronous: they run
// between synchronous namespace switches and inside ADD's synchronous undo steps.
import { EINTR } from './errno.js';
import { describeErrno } from './errors.js';
import { ptr } from 'bun:ffi';
import { loadLibcProcess } from './native.js';
import { since, traceStep, tracing } from './trace.js';

/** What the child did. */
export interface Spawned {
  /** Exit status, or null when a signal ended it. */
  status: number | null;
  /** The signal that ended it ('SIGTERM', 'SIGKILL', ...), or null. */
  signal: string | null;
  stdout: string;
  stderr: string;
  /** The timeout passed and SIGTERM was sent. */
  timedOut: boolean;
  /** The grace period passed too and SIGKILL was sent. */
  killed: boolean;
}

export interface SpawnOptions {
  /** Written to the child's stdin, which is then closed. */
  input?: string;
  /** The child's whole environment. */
  env: Record<string, string>;
  /** Milliseconds before SIGTERM. */
  timeoutMs: number;
  /** Milliseconds between SIGTERM and SIGKILL. */
  graceMs: number;
  /** Bytes kept of stdout and of stderr each; more is read and dropped (default 16 MiB). */
  maxBuffer?: number;
}

/** A child that could not be started (ENOENT, EACCES, ...): `code` is the errno name. */
export class SpawnError extends Error {
  constructor(
    readonly file: string,
    readonly code: string,
  ) {
    super(`cannot run ${file}: ${code}`);
    this.name = 'SpawnError';
  }
}

// glibc x86_64/aarch64: posix_spawn_file_actions_t is 80 bytes, posix_spawnattr_t 336, sigset_t 128; room to spare.
const FA_SIZE = 256;
const ATTR_SIZE = 512;
const SIGSET_SIZE = 128;
const POSIX_SPAWN_SETPGROUP = 0x02;
const POSIX_SPAWN_SETSIGDEF = 0x04;
const POSIX_SPAWN_SETSIGMASK = 0x08;
const O_CLOEXEC = 0o2000000;
const POLLIN = 0x001;
const POLLOUT = 0x004;
const WNOHANG = 1;
const PIPE_BUF = 4096;
/** After the child exited, how long descendants holding its pipes may keep us reading. */
const DRAIN_MS = 100;

/** A NUL-terminated copy of `s` for a `const char *` argument. */
const cString = (s: string): Buffer => Buffer.from(`${s}\0`, 'utf8');

/** A NULL-terminated `char *[]` over `strings`; `keep` holds the strings' buffers alive until the call returns. */
function cStringArray(strings: string[], keep: Buffer[]): BigUint64Array {
  const arr = new BigUint64Array(strings.length + 1);
  strings.forEach((s, i) => {
    const b = cString(s);
    keep.push(b);
    arr[i] = BigInt(ptr(b));
  });
  return arr;
}

const errnoName = (errno: number): string => describeErrno(errno)[0];

const SIGNALS: Record<number, string> = {
  1: 'SIGHUP',
  2: 'SIGINT',
  6: 'SIGABRT',
  9: 'SIGKILL',
  11: 'SIGSEGV',
  13: 'SIGPIPE',
  15: 'SIGTERM',
};

/**
 * Runs `file` (an absolute path) with `args`, feeding `input` on stdin and collecting stdout and stderr (UTF-8).
 * The child runs in a process group of its own, so the signals reach what it started too; it starts with default
 * signal dispositions and an empty signal mask (Node ignores SIGPIPE, which a child would otherwise inherit).
 * After `timeoutMs` the group gets SIGTERM, after `graceMs` more SIGKILL; the call returns at the latest a moment
 * after that. Throws SpawnError when the child cannot be started; every other outcome is in the result.
 */
export function spawnBounded(file: string, args: string[], o: SpawnOptions): Spawned {
  if (!tracing()) return run(file, args, o);
  const t0 = performance.now();
  try {
    const r = run(file, args, o);
    const { status, signal, timedOut } = r;
    traceStep({ step: 'run', file, args, ms: since(t0), status, signal, timedOut });
    return r;
  } catch (err) {
    traceStep({ step: 'run', file, args, ms: since(t0), error: (err as Error).message });
    throw err;
  }
}

function run(file: string, args: string[], o: SpawnOptions): Spawned {
  const c = loadLibcProcess();
  // A NUL would cut a C string short: the program would run with other arguments than the ones given.
  if ([file, ...args, ...Object.entries(o.env).flat()].some((s) => s.includes('\0')))
    throw new SpawnError(file, 'EINVAL');
  const maxBuffer = o.maxBuffer ?? 16 << 20;
  const fds = new Int32Array(2);
  const opened: number[] = [];
  const closeFd = (fd: number) => {
    const i = opened.indexOf(fd);
    if (i >= 0) {
      opened.splice(i, 1);
      c.close(fd);
    }
  };
  for (let i = 0; i < 3; i++) {
    if (c.pipe2(fds, O_CLOEXEC) !== 0) {
      const e = c.errno();
      for (const fd of opened) c.close(fd);
      throw new SpawnError(file, errnoName(e));
    }
    opened.push(fds[0]!, fds[1]!);
  }
  const [inR, inW, outR, outW, errR, errW] = opened as [number, number, number, number, number, number];

  const fa = Buffer.alloc(FA_SIZE);
  const attr = Buffer.alloc(ATTR_SIZE);
  const all = Buffer.alloc(SIGSET_SIZE);
  const none = Buffer.alloc(SIGSET_SIZE);
  c.posix_spawn_file_actions_init(fa);
  c.posix_spawn_file_actions_adddup2(fa, inR, 0);
  c.posix_spawn_file_actions_adddup2(fa, outW, 1);
  c.posix_spawn_file_actions_adddup2(fa, errW, 2);
  c.posix_spawnattr_init(attr);
  c.sigfillset(all);
  c.sigemptyset(none);
  c.posix_spawnattr_setsigdefault(attr, all);
  c.posix_spawnattr_setsigmask(attr, none);
  c.posix_spawnattr_setpgroup(attr, 0);
  c.posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP);
  const pidOut = new Int32Array(1);
  const keep: Buffer[] = [];
  const argv = cStringArray([file, ...args], keep);
  const envp = cStringArray(
    Object.entries(o.env).map(([k, v]) => `${k}=${v}`),
    keep,
  );
  const rc = c.posix_spawn(pidOut, cString(file), fa, attr, argv, envp);
  keep.length = 0; // the strings are referenced until here, past the call that reads them
  c.posix_spawn_file_actions_destroy(fa);
  c.posix_spawnattr_destroy(attr);
  for (const fd of [inR, outW, errW]) closeFd(fd);
  if (rc !== 0) {
    for (const fd of [...opened]) closeFd(fd);
    throw new SpawnError(file, errnoName(rc));
  }
  const pid = pidOut[0]!;

  const input = Buffer.from(o.input ?? '', 'utf8');
  let written = 0;
  if (input.length === 0) closeFd(inW);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const kept = { [outR]: 0, [errR]: 0 } as Record<number, number>;
  const rx = Buffer.allocUnsafe(65536);
  const pollfds = Buffer.alloc(24);
  const statusBuf = new Int32Array(1);
  const start = Date.now();
  const termAt = start + o.timeoutMs;
  const killAt = termAt + o.graceMs;
  let timedOut = false;
  let killed = false;
  let exited: number | undefined;
  let exitedAt = 0;

  for (;;) {
    const now = Date.now();
    if (exited === undefined) {
      const w = c.waitpid(pid, statusBuf, WNOHANG);
      if (w === pid) {
        exited = statusBuf[0]!;
        exitedAt = now;
        closeFd(inW);
      }
    }
    const readers = [outR, errR].filter((fd) => opened.includes(fd));
    if (exited !== undefined && (readers.length === 0 || now - exitedAt >= DRAIN_MS)) break;
    if (exited === undefined && !timedOut && now >= termAt) {
      timedOut = true;
      c.kill(-pid, 15);
      closeFd(inW);
    }
    if (exited === undefined && timedOut && !killed && now >= killAt) {
      killed = true;
      c.kill(-pid, 9);
    }
    // A SIGKILLed child that still has not been reaped after another grace period is in uninterruptible sleep:
    // stop waiting for it.
    if (exited === undefined && killed && now >= killAt + o.graceMs) break;

    const watch: Array<[number, number]> = readers.map((fd) => [fd, POLLIN]);
    if (opened.includes(inW)) watch.push([inW, POLLOUT]);
    watch.forEach(([fd, ev], i) => {
      pollfds.writeInt32LE(fd, i * 8);
      pollfds.writeInt16LE(ev, i * 8 + 4);
      pollfds.writeInt16LE(0, i * 8 + 6);
    });
    const next =
      exited !== undefined ? exitedAt + DRAIN_MS : timedOut ? (killed ? killAt + o.graceMs : killAt) : termAt;
    // Wake at least every 20 ms to notice the child's exit (no SIGCHLD handling here).
    const wait = Math.max(0, Math.min(20, next - now));
    const n = c.poll(watch.length ? pollfds : null, watch.length, wait);
    if (n < 0 && c.errno() === EINTR) continue;
    watch.forEach(([fd], i) => {
      const revents = pollfds.readInt16LE(i * 8 + 6);
      if (revents === 0) return;
      if (fd === inW) {
        if (!(revents & POLLOUT)) return closeFd(inW); // POLLERR: the child closed its stdin
        const chunk = input.subarray(written, written + PIPE_BUF);
        const w = c.write(inW, chunk, chunk.length);
        if (w < 0) return closeFd(inW); // EPIPE: it exited or will not read more; its output still counts
        written += w;
        if (written >= input.length) closeFd(inW);
        return;
      }
      const r = c.read(fd, rx, rx.length);
      if (r <= 0) return closeFd(fd); // EOF (or an error: nothing more will come)
      const room = maxBuffer - kept[fd]!;
      if (room > 0) {
        const take = Math.min(room, r);
        (fd === outR ? out : err).push(Buffer.from(rx.subarray(0, take)));
        kept[fd]! += take;
      }
    });
  }
  for (const fd of [...opened]) closeFd(fd);
  let status: number | null = null;
  let signal: string | null = killed ? 'SIGKILL' : null;
  if (exited !== undefined) {
    const sig = exited & 0x7f;
    if (sig === 0) status = (exited >> 8) & 0xff;
    else signal = SIGNALS[sig] ?? `signal ${sig}`;
  }
  return {
    status,
    signal,
    stdout: Buffer.concat(out).toString('utf8'),
    stderr: Buffer.concat(err).toString('utf8'),
    timedOut,
    killed,
  };
}
