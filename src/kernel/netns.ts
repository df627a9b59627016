// Network namespaces by path, entered only synchronously on the main thread. Node runs asynchronous fs, DNS and
// crypto on pool threads that never move, so everything done "inside" must be a synchronous call made in `fn`.
import { closeSync, constants, fstatSync, openSync, statSync, writeFileSync } from 'node:fs';
import { KernelError, NetnsError, RuntimeEnvError } from './errors.js';
import { loadLibc } from './native.js';
import { CLONE_NEWNET, NS_GET_NSTYPE } from './netlink/constants.js';

const NS_TYPES: Record<number, string> = {
  0x00020000: 'mount',
  0x02000000: 'cgroup',
  0x04000000: 'uts',
  0x08000000: 'ipc',
  0x10000000: 'user',
  0x20000000: 'pid',
  0x00000080: 'time',
};

function fileKind(st: import('node:fs').Stats): string {
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isDirectory()) return 'a directory';
  return 'not a regular file';
}

/**
 * Whether `path` names the network namespace the calling thread is in (same nsfs device and inode, as libcni's
 * ns.CheckNetNS compares them). False when `path` cannot be stat()ed: whether it is usable is judged elsewhere.
 */
export function isCurrentNetns(path: string): boolean {
  let st;
  try {
    st = statSync(path);
  } catch {
    return false;
  }
  const self = statSync('/proc/thread-self/ns/net');
  return st.dev === self.dev && st.ino === self.ino;
}

export class Netns {
  private open = true;

  private constructor(
    readonly fd: number,
    readonly path: string,
  ) {}

  /**
   * Opens `path` and proves it is a network namespace (NS_GET_NSTYPE), telling "missing" from "something else".
   * Nothing here waits: the file's type is checked with stat() before it is opened (a namespace file is a regular
   * file on nsfs; a FIFO would block open() until a writer came, a device could do anything), and it is opened
   * with O_NONBLOCK | O_NOCTTY in case it changed in between. Throws NetnsError.
   */
  static open(path: string): Netns {
    let fd: number;
    try {
      const st = statSync(path);
      if (!st.isFile()) throw new NetnsError('not-netns', path, `${fileKind(st)}, not a network namespace`);
      fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
      if (!fstatSync(fd).isFile()) {
        closeSync(fd);
        throw new NetnsError('not-netns', path, 'not a network namespace (replaced while being opened)');
      }
    } catch (err) {
      if (err instanceof NetnsError) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') throw new NetnsError('missing', path, 'no such network namespace');
      throw new NetnsError('unusable', path, `cannot open: ${(err as Error).message}`);
    }
    const libc = loadLibc();
    const type = libc.ioctl(fd, NS_GET_NSTYPE);
    if (type !== CLONE_NEWNET) {
      const errno = type < 0 ? libc.errno() : 0;
      closeSync(fd);
      const what =
        type < 0
          ? `not a namespace file (errno ${errno})`
          : `a ${NS_TYPES[type] ?? 'non-network'} namespace, not a network namespace`;
      throw new NetnsError('not-netns', path, what);
    }
    return new Netns(fd, path);
  }

  /** The calling thread's namespace at the time of the call. */
  static current(): Netns {
    return Netns.open('/proc/thread-self/ns/net');
  }

  /**
   * A new, empty network namespace with no name and no mount point: unshare(CLONE_NEWNET) on this thread (a
   * per-thread operation, allowed in a multi-threaded process), keep an fd to it, return to where the thread was.
   * It lives while that fd or a socket in it stays open, so it and the devices in it vanish with the process
   * however the process ends (SIGKILL included). `label` names it in messages.
   */
  static create(label: string): Netns {
    const back = where();
    const libc = loadLibc();
    if (libc.unshare(CLONE_NEWNET) !== 0) throw new KernelError('unshare(CLONE_NEWNET)', libc.errno());
    let fd: number;
    try {
      fd = openSync('/proc/thread-self/ns/net', 'r');
    } finally {
      leave(back);
    }
    return new Netns(fd, label);
  }

  close(): void {
    if (!this.open) return;
    this.open = false;
    closeSync(this.fd);
  }
}

let host: Netns | undefined;
let inside: Netns | undefined;
let broken = false;

/** The namespace the thread is in now (refused once the process could not get back to where it was). */
function where(): Netns {
  if (broken)
    throw new RuntimeEnvError(
      'return to the network namespace',
      'an earlier setns back failed: the process must not go on',
    );
  host ??= Netns.current();
  return inside ?? host;
}

/** Moves the thread into `ns`; returns the namespace to go back to. */
function enter(ns: Netns): Netns {
  const back = where();
  if (loadLibc().setns(ns.fd, CLONE_NEWNET) !== 0) throw new KernelError(`setns(${ns.path})`, loadLibc().errno());
  inside = ns;
  return back;
}

/** Moves the thread back to `back`; a failure leaves the process unusable (it is marked broken). */
function leave(back: Netns): void {
  if (loadLibc().setns(back.fd, CLONE_NEWNET) !== 0) {
    broken = true;
    throw new KernelError(`setns back to ${back.path}`, loadLibc().errno());
  }
  inside = back === host ? undefined : back;
}

/**
 * Runs `fn` with the thread inside `ns` and always returns to the namespace it was in. Nesting is allowed.
 * `fn` must be synchronous: a returned promise is refused because its continuation would run elsewhere.
 */
export function inNetns<T>(ns: Netns, fn: () => T): T {
  const back = enter(ns);
  let out: T;
  try {
    out = fn();
  } catch (err) {
    leave(back);
    throw err;
  }
  leave(back);
  if (out instanceof Promise) throw new Error('inNetns: the callback must be synchronous');
  return out;
}

/**
 * Moves the main thread into `ns` until the returned function is called, for an asynchronous step that must start
 * inside (Node creates a UDP socket only when its bind() completes, a tick later). Everything else that runs
 * meanwhile runs inside too: keep the window to that one step. Calling the function again does nothing.
 */
export function enterNetns(ns: Netns): () => void {
  const back = enter(ns);
  let left = false;
  return () => {
    if (left) return;
    left = true;
    leave(back);
  };
}

/** Runs `fn` inside `ns`, or right here when ns is null (the host). */
export function maybeIn<T>(ns: Netns | null, fn: () => T): T {
  return ns ? inNetns(ns, fn) : fn();
}

/** Writes a sysctl under /proc/sys as seen from `ns` (null: the host); `key` like 'net/ipv4/conf/eth0/arp_notify'. */
export function writeSysctl(ns: Netns | null, key: string, value: string): void {
  maybeIn(ns, () => writeFileSync(`/proc/sys/${key}`, value));
}
