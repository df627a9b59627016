// libc through koffi (an FFI with prebuilt binaries): Node has neither AF_NETLINK sockets nor setns.
// Inside the single executable, koffi's addon is an SEA asset. It is written out only into a root-owned 0700
// directory under a name derived from its content hash, and its hash is verified before every load, so a file
// planted or altered there is never loaded. Outside the executable (tests, development) it loads from node_modules.
import { createHash } from 'node:crypto';
import { closeSync, lstatSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { RuntimeEnvError } from './errors.js';

declare const __VB_NATIVE_SHA256__: string | undefined;

/** The parts of koffi's API we use (its exports object). */
interface Koffi {
  load(lib: string): { func(signature: string): (...args: unknown[]) => number };
  errno(): number;
}

export interface Libc {
  socket(domain: number, type: number, protocol: number): number;
  bind(fd: number, addr: Buffer, len: number): number;
  setsockopt(fd: number, level: number, name: number, value: Buffer, len: number): number;
  send(fd: number, buf: Buffer, len: number, flags: number): number;
  recv(fd: number, buf: Buffer, len: number, flags: number): number;
  close(fd: number): number;
  setns(fd: number, nstype: number): number;
  ioctl(fd: number, request: number): number;
  errno(): number;
}

/** Where the executable writes its native addon; overridable for tests that are not root. */
function runtimeDir(): string {
  return process.env.VLAN_BRIDGE_RUNTIME_DIR || '/run/vlan-bridge';
}

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Make (or accept) a directory only its owner (us) can write into, refusing links and foreign owners. */
function privateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = lstatSync(dir);
  const uid = process.getuid?.() ?? 0;
  if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o077) !== 0) {
    throw new Error(`refusing native addon directory ${dir}: must be a directory owned by uid ${uid} with mode 0700`);
  }
}

function fileHash(path: string): string | null {
  try {
    return sha256(readFileSync(path));
  } catch {
    return null;
  }
}

/** Write the SEA asset out (atomically) unless an identical copy is already there; says where, and whether it wrote. */
function extractAsset(expected: string): { file: string; extracted: boolean } {
  const sea = process.getBuiltinModule('node:sea') as typeof import('node:sea');
  const dir = runtimeDir();
  privateDir(dir);
  const path = `${dir}/koffi-${expected.slice(0, 32)}.node`;
  if (fileHash(path) === expected) return { file: path, extracted: false };
  const bytes = Buffer.from(sea.getAsset('koffi.node'));
  if (sha256(bytes) !== expected) throw new Error('embedded native addon does not match its build-time hash');
  const tmp = `${path}.${process.pid}.tmp`;
  let fd: number;
  try {
    fd = openSync(tmp, 'wx', 0o500);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    // Left by an earlier process with our pid that died while writing: the directory is private (checked above),
    // so the file is ours to remove.
    unlinkSync(tmp);
    fd = openSync(tmp, 'wx', 0o500);
  }
  try {
    writeSync(fd, bytes);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  // Verify what we are about to load, not what we meant to write.
  if (fileHash(path) !== expected) {
    unlinkSync(path);
    throw new Error(`native addon at ${path} changed while being written`);
  }
  return { file: path, extracted: true };
}

function addonPath(): { file: string; extracted: boolean } {
  const sea = process.getBuiltinModule('node:sea') as typeof import('node:sea') | undefined;
  if (sea?.isSea()) {
    if (typeof __VB_NATIVE_SHA256__ !== 'string') throw new Error('executable built without the native addon hash');
    return extractAsset(__VB_NATIVE_SHA256__);
  }
  const { createRequire } = process.getBuiltinModule('node:module') as typeof import('node:module');
  const req = createRequire(import.meta.url);
  return {
    file: req.resolve(`@koromix/koffi-linux-${process.arch}/linux_${process.arch}/koffi.node`),
    extracted: false,
  };
}

/** What loading the addon cost in this process (measured once, read by the plugin's debug log and by bench/). */
export interface NativeLoad {
  /** The addon was written out of the executable this time (else an identical copy was found and verified). */
  extracted: boolean;
  /** Finding, verifying (sha256) and, when needed, writing the file. */
  fileMs: number;
  /** process.dlopen of koffi's addon. */
  dlopenMs: number;
  /** koffi.load('libc.so.6') and binding the functions. */
  bindMs: number;
}

let nativeLoad: NativeLoad | undefined;

/** What loading the native addon cost, once loadLibc has run in this process; undefined before. */
export function nativeLoadCost(): NativeLoad | undefined {
  return nativeLoad;
}

let libc: Libc | undefined;
let bindFn: ((signature: string) => (...args: unknown[]) => number) | undefined;

/**
 * Loads koffi and binds the libc calls once per process. Throws RuntimeEnvError when the runtime directory is
 * refused or the addon cannot be written, verified or loaded.
 */
export function loadLibc(): Libc {
  if (libc) return libc;
  const t0 = performance.now();
  let found: { file: string; extracted: boolean };
  try {
    found = addonPath();
  } catch (err) {
    throw new RuntimeEnvError(`prepare the native addon in ${runtimeDir()}`, (err as Error).message, { cause: err });
  }
  const { file, extracted } = found;
  const t1 = performance.now();
  const mod = { exports: {} as Koffi };
  try {
    process.dlopen(mod, file);
  } catch (err) {
    throw new RuntimeEnvError(`load the native addon ${file}`, (err as Error).message, { cause: err });
  }
  const t2 = performance.now();
  const koffi = mod.exports;
  const lib = koffi.load('libc.so.6');
  const f = (sig: string) => lib.func(sig);
  bindFn = f;
  const socket = f('int socket(int, int, int)');
  const bind = f('int bind(int, const void *, uint32_t)');
  const setsockopt = f('int setsockopt(int, int, int, const void *, uint32_t)');
  const send = f('intptr_t send(int, const void *, uintptr_t, int)');
  const recv = f('intptr_t recv(int, _Out_ void *, uintptr_t, int)');
  const close = f('int close(int)');
  const setns = f('int setns(int, int)');
  const ioctl = f('int ioctl(int, unsigned long, ...)');
  libc = {
    socket: (d, t, p) => socket(d, t, p),
    bind: (fd, a, l) => bind(fd, a, l),
    setsockopt: (fd, lv, n, v, l) => setsockopt(fd, lv, n, v, l),
    send: (fd, b, l, fl) => send(fd, b, l, fl),
    recv: (fd, b, l, fl) => recv(fd, b, l, fl),
    close: (fd) => close(fd),
    setns: (fd, t) => setns(fd, t),
    ioctl: (fd, r) => ioctl(fd, r),
    errno: () => koffi.errno(),
  };
  nativeLoad = { extracted, fileMs: t1 - t0, dlopenMs: t2 - t1, bindMs: performance.now() - t2 };
  return libc;
}

/** One more libc function by its C signature (e.g. 'int unshare(int)'), for callers that need what Libc lacks. */
export function libcFunction(signature: string): (...args: unknown[]) => number {
  loadLibc();
  return bindFn!(signature);
}
