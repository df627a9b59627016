// libc through bun:ffi: JavaScript runtimes have neither AF_NETLINK sockets nor setns(2). Bun binds each symbol
// with a small trampoline compiled in memory when the table is opened; nothing is written to disk and no native
// addon is loaded. The symbols are bound in tables, each opened on first use, so that a call only pays for what
// it uses (netlink and namespaces here; running a program here; file locks in src/files.ts).
//
// errno: bun:ffi does not save it, so every wrapper below that can fail with errno reads it (through
// __errno_location(), the calling thread's errno) before any other JavaScript runs, and keeps it for errno().
// Variadic functions are declared with the fixed arguments we pass (ioctl(int, unsigned long)); on x86_64 and
// aarch64 Linux a call with only integer arguments is the same for both.
import { dlopen, FFIType as T, read, type Pointer } from 'bun:ffi';
import { RuntimeEnvError } from './errors.js';

/** The libc calls that netlink sockets and namespaces need. Pointer arguments take a Buffer (or null). */
export interface Libc {
  socket(domain: number, type: number, protocol: number): number;
  bind(fd: number, addr: Buffer, len: number): number;
  connect(fd: number, addr: Buffer, len: number): number;
  setsockopt(fd: number, level: number, name: number, value: Buffer, len: number): number;
  /** `len` holds the buffer's size in, the value's size out (socklen_t, 4 bytes). */
  getsockopt(fd: number, level: number, name: number, value: Buffer, len: Uint32Array): number;
  send(fd: number, buf: Buffer, len: number, flags: number): number;
  recv(fd: number, buf: Buffer, len: number, flags: number): number;
  close(fd: number): number;
  setns(fd: number, nstype: number): number;
  unshare(flags: number): number;
  /** ioctl(fd, request) with no third argument (e.g. NS_GET_NSTYPE). */
  ioctl(fd: number, request: number): number;
  /** errno as the last failed call of this table left it (read right after that call returned). */
  errno(): number;
}

/** The calls spawnBounded needs (posix_spawn(3) and its attributes, pipes, poll, waitpid). */
export interface LibcProcess {
  pipe2(fds: Int32Array, flags: number): number;
  posix_spawn_file_actions_init(fa: Buffer): number;
  posix_spawn_file_actions_adddup2(fa: Buffer, fd: number, newfd: number): number;
  posix_spawn_file_actions_destroy(fa: Buffer): number;
  posix_spawnattr_init(attr: Buffer): number;
  posix_spawnattr_destroy(attr: Buffer): number;
  posix_spawnattr_setflags(attr: Buffer, flags: number): number;
  posix_spawnattr_setpgroup(attr: Buffer, pgroup: number): number;
  posix_spawnattr_setsigdefault(attr: Buffer, set: Buffer): number;
  posix_spawnattr_setsigmask(attr: Buffer, set: Buffer): number;
  sigfillset(set: Buffer): number;
  sigemptyset(set: Buffer): number;
  /** Returns 0 or an errno value (it does not set errno). argv and envp: NULL-terminated char* arrays. */
  posix_spawn(
    pid: Int32Array,
    path: Buffer,
    fa: Buffer,
    attr: Buffer,
    argv: BigUint64Array,
    envp: BigUint64Array,
  ): number;
  poll(fds: Buffer | null, nfds: number, timeoutMs: number): number;
  read(fd: number, buf: Buffer, count: number): number;
  write(fd: number, buf: Buffer, count: number): number;
  close(fd: number): number;
  kill(pid: number, sig: number): number;
  waitpid(pid: number, status: Int32Array, options: number): number;
  errno(): number;
}

/** bun:ffi declarations: name -> [argument types, return type]. */
export type Decls = Record<string, readonly [readonly T[], T]>;

const CORE = {
  socket: [[T.i32, T.i32, T.i32], T.i32],
  bind: [[T.i32, T.ptr, T.u32], T.i32],
  connect: [[T.i32, T.ptr, T.u32], T.i32],
  setsockopt: [[T.i32, T.i32, T.i32, T.ptr, T.u32], T.i32],
  getsockopt: [[T.i32, T.i32, T.i32, T.ptr, T.ptr], T.i32],
  send: [[T.i32, T.ptr, T.u64, T.i32], T.i64_fast],
  recv: [[T.i32, T.ptr, T.u64, T.i32], T.i64_fast],
  close: [[T.i32], T.i32],
  setns: [[T.i32, T.i32], T.i32],
  unshare: [[T.i32], T.i32],
  ioctl: [[T.i32, T.u64], T.i32],
} as const satisfies Decls;

const PROCESS = {
  pipe2: [[T.ptr, T.i32], T.i32],
  posix_spawn_file_actions_init: [[T.ptr], T.i32],
  posix_spawn_file_actions_adddup2: [[T.ptr, T.i32, T.i32], T.i32],
  posix_spawn_file_actions_destroy: [[T.ptr], T.i32],
  posix_spawnattr_init: [[T.ptr], T.i32],
  posix_spawnattr_destroy: [[T.ptr], T.i32],
  posix_spawnattr_setflags: [[T.ptr, T.i16], T.i32],
  posix_spawnattr_setpgroup: [[T.ptr, T.i32], T.i32],
  posix_spawnattr_setsigdefault: [[T.ptr, T.ptr], T.i32],
  posix_spawnattr_setsigmask: [[T.ptr, T.ptr], T.i32],
  sigfillset: [[T.ptr], T.i32],
  sigemptyset: [[T.ptr], T.i32],
  posix_spawn: [[T.ptr, T.ptr, T.ptr, T.ptr, T.ptr, T.ptr], T.i32],
  poll: [[T.ptr, T.u64, T.i32], T.i32],
  read: [[T.i32, T.ptr, T.u64], T.i64_fast],
  write: [[T.i32, T.ptr, T.u64], T.i64_fast],
  close: [[T.i32], T.i32],
  kill: [[T.i32, T.i32], T.i32],
  waitpid: [[T.i32, T.ptr, T.i32], T.i32],
} as const satisfies Decls;

/** CORE's and PROCESS's functions that report failure with errno (and a negative return); the others return an error
 * number or 0. */
const SETS_ERRNO = [
  'socket',
  'bind',
  'connect',
  'setsockopt',
  'getsockopt',
  'send',
  'recv',
  'close',
  'setns',
  'unshare',
  'ioctl',
  'pipe2',
  'poll',
  'read',
  'write',
  'kill',
  'waitpid',
];

type Fn = (...args: unknown[]) => number | bigint | Pointer | null;

/**
 * Opens `library` (libc.so.6) with `decls` and wraps each function named in `setsErrno` (those that report failure
 * with a negative return and errno) so that its errno is kept for errno(). Throws RuntimeEnvError naming `what` when
 * the library or a symbol cannot be bound (a libc that is not glibc-compatible). Used here and by src/files.ts
 * (flock), and by the test of that failure.
 */
export function bindLibrary<D extends Decls, L>(
  library: string,
  what: string,
  decls: D,
  setsErrno: readonly (keyof D & string)[],
): L {
  const errnoSetters = new Set<string>(setsErrno);
  const withErrno = { ...decls, __errno_location: [[], T.ptr] } as Decls;
  let symbols: Record<string, Fn>;
  try {
    const lib = dlopen(
      library,
      Object.fromEntries(Object.entries(withErrno).map(([k, [args, returns]]) => [k, { args, returns }])),
    );
    symbols = lib.symbols as unknown as Record<string, Fn>;
  } catch (err) {
    throw new RuntimeEnvError(`bind libc (${what})`, (err as Error).message, { cause: err });
  }
  const errnoAt = symbols.__errno_location!() as Pointer;
  let last = 0;
  const out: Record<string, unknown> = { errno: () => last };
  for (const name of Object.keys(decls)) {
    const f = symbols[name]!;
    out[name] = errnoSetters.has(name)
      ? (...args: unknown[]) => {
          const r = Number(f(...args));
          if (r < 0) last = read.i32(errnoAt, 0);
          return r;
        }
      : (...args: unknown[]) => Number(f(...args));
  }
  return out as L;
}

/** The functions of `decls` that are in SETS_ERRNO. */
const settersOf = <D extends Decls>(decls: D) =>
  Object.keys(decls).filter((k) => SETS_ERRNO.includes(k)) as (keyof D & string)[];

let core: Libc | undefined;
let proc: LibcProcess | undefined;

/** libc's socket, namespace and ioctl calls, bound once per process. Throws RuntimeEnvError (see bindLibrary). */
export function loadLibc(): Libc {
  return (core ??= bindLibrary<typeof CORE, Libc>('libc.so.6', 'sockets and namespaces', CORE, settersOf(CORE)));
}

/** libc's process calls for spawnBounded, bound on first use. Throws RuntimeEnvError (see bindLibrary). */
export function loadLibcProcess(): LibcProcess {
  return (proc ??= bindLibrary<typeof PROCESS, LibcProcess>('libc.so.6', 'processes', PROCESS, settersOf(PROCESS)));
}
