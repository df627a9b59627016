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

type Libc = ReturnType<typeof loadLibcProcess>;

/** The three pipes of one child (stdin, stdout, stderr), each end closed exactly once. Throws SpawnError. */
class Pipes {
  readonly opened: number[] = [];
  readonly inR: number;
  readonly inW: number;
  readonly outR: number;
  readonly outW: number;
  readonly errR: number;
  readonly errW: number;

  constructor(
    private readonly c: Libc,
    file: string,
  ) {
    const fds = new Int32Array(2);
    for (let i = 0; i < 3; i++) {
      if (c.pipe2(fds, O_CLOEXEC) !== 0) {
        const e = c.errno();
        this.closeAll();
        throw new SpawnError(file, errnoName(e));
      }
      this.opened.push(fds[0]!, fds[1]!);
    }
    [this.inR, this.inW, this.outR, this.outW, this.errR, this.errW] = this.opened as [
      number,
      number,
      number,
      number,
      number,
      number,
    ];
  }

  isOpen(fd: number): boolean {
    return this.opened.includes(fd);
  }

  close(fd: number): void {
    const i = this.opened.indexOf(fd);
    if (i >= 0) {
      this.opened.splice(i, 1);
      this.c.close(fd);
    }
  }

  closeAll(): void {
    for (const fd of [...this.opened]) this.close(fd);
  }
}

/**
 * posix_spawn of `file` on the pipes, in a process group of its own, with default signal dispositions and an empty
 * mask; closes the child's ends. Returns its pid. Throws SpawnError (the pipes all closed) when it cannot start.
 */
function startChild(c: Libc, file: string, args: string[], env: Record<string, string>, p: Pipes): number {
  const fa = Buffer.alloc(FA_SIZE);
  const attr = Buffer.alloc(ATTR_SIZE);
  const all = Buffer.alloc(SIGSET_SIZE);
  const none = Buffer.alloc(SIGSET_SIZE);
  c.posix_spawn_file_actions_init(fa);
  c.posix_spawn_file_actions_adddup2(fa, p.inR, 0);
  c.posix_spawn_file_actions_adddup2(fa, p.outW, 1);
  c.posix_spawn_file_actions_adddup2(fa, p.errW, 2);
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
    Object.entries(env).map(([k, v]) => `${k}=${v}`),
    keep,
  );
  const rc = c.posix_spawn(pidOut, cString(file), fa, attr, argv, envp);
  keep.length = 0; // the strings are referenced until here, past the call that reads them
  c.posix_spawn_file_actions_destroy(fa);
  c.posix_spawnattr_destroy(attr);
  for (const fd of [p.inR, p.outW, p.errW]) p.close(fd);
  if (rc !== 0) {
    p.closeAll();
    throw new SpawnError(file, errnoName(rc));
  }
  return pidOut[0]!;
}

/** One child's conversation so far: what was written and read, and where its life stands. */
interface Talk {
  input: Buffer;
  written: number;
  out: Buffer[];
  err: Buffer[];
  /** Bytes kept per read end. */
  kept: Record<number, number>;
  maxBuffer: number;
  timedOut: boolean;
  killed: boolean;
  /** waitpid's status once the child exited. */
  exited?: number;
  exitedAt: number;
  /** Read buffer, and poll(2)'s struct pollfd[3]. */
  rx: Buffer;
  pollfds: Buffer;
}

/**
 * One poll(2) over the open pipe ends, for at most `waitMs`: writes the next chunk of stdin when the child can take
 * it, reads what stdout and stderr have (keeping at most maxBuffer of each). An end that fails or ends is closed.
 */
function exchange(c: Libc, p: Pipes, t: Talk, waitMs: number): void {
  const { rx, pollfds } = t;
  const watch: Array<[number, number]> = [p.outR, p.errR].filter((fd) => p.isOpen(fd)).map((fd) => [fd, POLLIN]);
  if (p.isOpen(p.inW)) watch.push([p.inW, POLLOUT]);
  watch.forEach(([fd, ev], i) => {
    pollfds.writeInt32LE(fd, i * 8);
    pollfds.writeInt16LE(ev, i * 8 + 4);
    pollfds.writeInt16LE(0, i * 8 + 6);
  });
  const n = c.poll(watch.length ? pollfds : null, watch.length, waitMs);
  if (n < 0 && c.errno() === EINTR) return;
  watch.forEach(([fd], i) => {
    const revents = pollfds.readInt16LE(i * 8 + 6);
    if (revents === 0) return;
    if (fd === p.inW) {
      if (!(revents & POLLOUT)) return p.close(p.inW); // POLLERR: the child closed its stdin
      const chunk = t.input.subarray(t.written, t.written + PIPE_BUF);
      const w = c.write(p.inW, chunk, chunk.length);
      if (w < 0) return p.close(p.inW); // EPIPE: it exited or will not read more; its output still counts
      t.written += w;
      if (t.written >= t.input.length) p.close(p.inW);
      return;
    }
    const r = c.read(fd, rx, rx.length);
    if (r <= 0) return p.close(fd); // EOF (or an error: nothing more will come)
    const room = t.maxBuffer - t.kept[fd]!;
    if (room > 0) {
      const take = Math.min(room, r);
      (fd === p.outR ? t.out : t.err).push(Buffer.from(rx.subarray(0, take)));
      t.kept[fd]! += take;
    }
  });
}

/**
 * Talks to child `pid` until it exited and its output is drained (DRAIN_MS at most after the exit), sending SIGTERM
 * to its group at `timeoutMs` and SIGKILL `graceMs` later, and giving up on a SIGKILLed child that is still not
 * reaped after another `graceMs` (uninterruptible sleep).
 */
function converse(c: Libc, pid: number, p: Pipes, t: Talk, o: SpawnOptions): void {
  const statusBuf = new Int32Array(1);
  const termAt = Date.now() + o.timeoutMs;
  const killAt = termAt + o.graceMs;
  for (;;) {
    const now = Date.now();
    if (t.exited === undefined && c.waitpid(pid, statusBuf, WNOHANG) === pid) {
      t.exited = statusBuf[0]!;
      t.exitedAt = now;
      p.close(p.inW);
    }
    const reading = p.isOpen(p.outR) || p.isOpen(p.errR);
    if (t.exited !== undefined && (!reading || now - t.exitedAt >= DRAIN_MS)) break;
    if (t.exited === undefined && !t.timedOut && now >= termAt) {
      t.timedOut = true;
      c.kill(-pid, 15);
      p.close(p.inW);
    }
    if (t.exited === undefined && t.timedOut && !t.killed && now >= killAt) {
      t.killed = true;
      c.kill(-pid, 9);
    }
    if (t.exited === undefined && t.killed && now >= killAt + o.graceMs) break;
    const next =
      t.exited !== undefined ? t.exitedAt + DRAIN_MS : t.timedOut ? (t.killed ? killAt + o.graceMs : killAt) : termAt;
    // Wake at least every 20 ms to notice the child's exit (no SIGCHLD handling here).
    exchange(c, p, t, Math.max(0, Math.min(20, next - now)));
  }
}

function run(file: string, args: string[], o: SpawnOptions): Spawned {
  const c = loadLibcProcess();
  // A NUL would cut a C string short: the program would run with other arguments than the ones given.
  if ([file, ...args, ...Object.entries(o.env).flat()].some((s) => s.includes('\0')))
    throw new SpawnError(file, 'EINVAL');
  const p = new Pipes(c, file);
  const pid = startChild(c, file, args, o.env, p);
  const t: Talk = {
    input: Buffer.from(o.input ?? '', 'utf8'),
    written: 0,
    out: [],
    err: [],
    kept: { [p.outR]: 0, [p.errR]: 0 },
    maxBuffer: o.maxBuffer ?? 16 << 20,
    timedOut: false,
    killed: false,
    exitedAt: 0,
    rx: Buffer.allocUnsafe(65536),
    pollfds: Buffer.alloc(24),
  };
  if (t.input.length === 0) p.close(p.inW);
  try {
    converse(c, pid, p, t, o);
  } finally {
    p.closeAll();
  }
  let status: number | null = null;
  let signal: string | null = t.killed ? 'SIGKILL' : null;
  if (t.exited !== undefined) {
    const sig = t.exited & 0x7f;
    if (sig === 0) status = (t.exited >> 8) & 0xff;
    else signal = SIGNALS[sig] ?? `signal ${sig}`;
  }
  const text = (chunks: Buffer[]) => Buffer.concat(chunks).toString('utf8');
  return { status, signal, stdout: text(t.out), stderr: text(t.err), timedOut: t.timedOut, killed: t.killed };
}
