// Running a child process with a bounded wait, synchronously. Node's spawnSync kills a child at its timeout with
// one signal and then waits for it to exit, however long that takes: a child that ignores SIGTERM (or one stuck
// in a SIGTERM handler) keeps the caller waiting forever. Here the child gets SIGTERM at the timeout and SIGKILL
// after a grace period, and the wait ends at that point whatever happens (a SIGKILLed child can linger only in
// uninterruptible sleep; it is then left to the kernel and reported as killed). Built on posix_spawn(3), poll(2)
// and waitpid(2) through libc, since the callers (IPAM delegation, firewall tools) must stay synchronous: they run
// between synchronous namespace switches and inside ADD's synchronous undo steps.
import { EINTR } from './errno.js';
import { libcFunction, loadLibc } from './native.js';

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

type Fn = (...args: unknown[]) => number;
let fns: Record<string, Fn> | undefined;

function libc(): Record<string, Fn> {
  if (fns) return fns;
  loadLibc();
  const sigs = {
    pipe2: 'int pipe2(_Out_ void *fds, int flags)',
    faInit: 'int posix_spawn_file_actions_init(void *fa)',
    faDup2: 'int posix_spawn_file_actions_adddup2(void *fa, int fd, int newfd)',
    faDestroy: 'int posix_spawn_file_actions_destroy(void *fa)',
    attrInit: 'int posix_spawnattr_init(void *attr)',
    attrDestroy: 'int posix_spawnattr_destroy(void *attr)',
    attrFlags: 'int posix_spawnattr_setflags(void *attr, short flags)',
    attrPgroup: 'int posix_spawnattr_setpgroup(void *attr, int pgroup)',
    attrSigdef: 'int posix_spawnattr_setsigdefault(void *attr, const void *set)',
    attrSigmask: 'int posix_spawnattr_setsigmask(void *attr, const void *set)',
    sigfillset: 'int sigfillset(_Out_ void *set)',
    sigemptyset: 'int sigemptyset(_Out_ void *set)',
    spawn:
      'int posix_spawn(_Out_ int *pid, const char *path, const void *fa, const void *attr, const char **argv, const char **envp)',
    poll: 'int poll(void *fds, uint64_t nfds, int timeout)',
    read: 'intptr_t read(int fd, _Out_ void *buf, uintptr_t count)',
    write: 'intptr_t write(int fd, const void *buf, uintptr_t count)',
    close: 'int close(int fd)',
    kill: 'int kill(int pid, int sig)',
    waitpid: 'int waitpid(int pid, _Out_ void *status, int options)',
  };
  fns = Object.fromEntries(Object.entries(sigs).map(([k, s]) => [k, libcFunction(s)]));
  return fns;
}

const errnoName = (errno: number): string => {
  const { getSystemErrorMap } = process.getBuiltinModule('node:util') as typeof import('node:util');
  return getSystemErrorMap().get(-errno)?.[0] ?? `E${errno}`;
};

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
  const c = libc();
  const maxBuffer = o.maxBuffer ?? 16 << 20;
  const fds = Buffer.alloc(24);
  const opened: number[] = [];
  const closeFd = (fd: number) => {
    const i = opened.indexOf(fd);
    if (i >= 0) {
      opened.splice(i, 1);
      c.close!(fd);
    }
  };
  for (let i = 0; i < 3; i++) {
    if (c.pipe2!(fds.subarray(i * 8), O_CLOEXEC) !== 0) {
      const e = loadLibc().errno();
      for (const fd of opened) c.close!(fd);
      throw new SpawnError(file, errnoName(e));
    }
    opened.push(fds.readInt32LE(i * 8), fds.readInt32LE(i * 8 + 4));
  }
  const [inR, inW, outR, outW, errR, errW] = [0, 1, 2, 3, 4, 5].map((i) => fds.readInt32LE(i * 4)) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];

  const fa = Buffer.alloc(FA_SIZE);
  const attr = Buffer.alloc(ATTR_SIZE);
  const all = Buffer.alloc(SIGSET_SIZE);
  const none = Buffer.alloc(SIGSET_SIZE);
  c.faInit!(fa);
  c.faDup2!(fa, inR, 0);
  c.faDup2!(fa, outW, 1);
  c.faDup2!(fa, errW, 2);
  c.attrInit!(attr);
  c.sigfillset!(all);
  c.sigemptyset!(none);
  c.attrSigdef!(attr, all);
  c.attrSigmask!(attr, none);
  c.attrPgroup!(attr, 0);
  c.attrFlags!(attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP);
  const pidOut = [0];
  const envp = Object.entries(o.env).map(([k, v]) => `${k}=${v}`);
  const rc = c.spawn!(pidOut, file, fa, attr, [file, ...args, null], [...envp, null]);
  c.faDestroy!(fa);
  c.attrDestroy!(attr);
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
  const statusBuf = Buffer.alloc(4);
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
      const w = c.waitpid!(pid, statusBuf, WNOHANG);
      if (w === pid) {
        exited = statusBuf.readInt32LE(0);
        exitedAt = now;
        closeFd(inW);
      }
    }
    const readers = [outR, errR].filter((fd) => opened.includes(fd));
    if (exited !== undefined && (readers.length === 0 || now - exitedAt >= DRAIN_MS)) break;
    if (exited === undefined && !timedOut && now >= termAt) {
      timedOut = true;
      c.kill!(-pid, 15);
      closeFd(inW);
    }
    if (exited === undefined && timedOut && !killed && now >= killAt) {
      killed = true;
      c.kill!(-pid, 9);
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
    const n = watch.length ? c.poll!(pollfds, watch.length, wait) : (c.poll!(null, 0, wait), 0);
    if (n < 0 && loadLibc().errno() === EINTR) continue;
    watch.forEach(([fd], i) => {
      const revents = pollfds.readInt16LE(i * 8 + 6);
      if (revents === 0) return;
      if (fd === inW) {
        if (!(revents & POLLOUT)) return closeFd(inW); // POLLERR: the child closed its stdin
        const chunk = input.subarray(written, written + PIPE_BUF);
        const w = c.write!(inW, chunk, chunk.length);
        if (w < 0) return closeFd(inW); // EPIPE: it exited or will not read more; its output still counts
        written += w;
        if (written >= input.length) closeFd(inW);
        return;
      }
      const r = c.read!(fd, rx, rx.length);
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
