// libc through bun:ffi (src/kernel/native.ts), in this process (the tests run under the Bun that builds the
// executable) and in the executable: errno is the failed call's, a library that cannot be bound is code 110's
// RuntimeEnvError, programs run through posix_spawn get exactly their arguments, and the executable writes no file.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FFIType } from 'bun:ffi';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RuntimeEnvError } from '../../src/kernel/errors.js';
import { bindLibrary, loadLibc } from '../../src/kernel/native.js';
import { SpawnError, spawnBounded } from '../../src/kernel/spawn.js';
import { BIN, ensureBuilt } from '../lab/binary.js';
import { envOf, type CniCall } from '../lab/cni.js';
import { thrown } from '../lab/thrown.js';
import { deleteAllNetns, makeNetns, type TestNs } from './netns-fixture.js';

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const EPROTONOSUPPORT = 93;
const EBADF = 9;
const EINVAL = 22;

describe('libc through bun:ffi', () => {
  it('keeps the errno of the call that failed, whatever succeeds after it', () => {
    const libc = loadLibc();
    expect(libc.socket(AF_NETLINK, SOCK_RAW, 4242)).toBe(-1);
    expect(libc.errno()).toBe(EPROTONOSUPPORT);
    const fd = libc.socket(AF_NETLINK, SOCK_RAW, 0);
    expect(fd).toBeGreaterThanOrEqual(0);
    expect(libc.errno()).toBe(EPROTONOSUPPORT);
    expect(libc.close(fd)).toBe(0);
    expect(libc.close(fd)).toBe(-1);
    expect(libc.errno()).toBe(EBADF);
    // setns(2) on an fd that is not a namespace: EINVAL, and a 64-bit length reaches send(2) whole.
    const sock = libc.socket(AF_NETLINK, SOCK_RAW, 0);
    expect(libc.setns(sock, 0x40000000)).toBe(-1);
    expect(libc.errno()).toBe(EINVAL);
    libc.close(sock);
    expect(libc.send(-1, Buffer.alloc(1), 1, 0)).toBe(-1);
    expect(libc.errno()).toBe(EBADF);
  });

  it('a library or symbol that cannot be bound is a RuntimeEnvError naming what was being bound', () => {
    const lib = thrown(RuntimeEnvError, () =>
      bindLibrary('libvb-nonexistent.so.1', 'sockets and namespaces', { socket: [[FFIType.i32], FFIType.i32] }, []),
    );
    expect(lib.step).toBe('bind libc (sockets and namespaces)');
    const sym = thrown(RuntimeEnvError, () =>
      bindLibrary('libc.so.6', 'processes', { vb_no_such_function: [[], FFIType.i32] }, []),
    );
    expect(sym.message).toMatch(/^bind libc \(processes\): /);
  });
});

describe('spawnBounded (posix_spawn through bun:ffi)', () => {
  const run = (args: string[], env: Record<string, string> = {}, input?: string) =>
    spawnBounded('/bin/sh', args, { env, timeoutMs: 5000, graceMs: 500, ...(input !== undefined ? { input } : {}) });

  it('passes arguments, environment and stdin byte for byte, and reports the exit status', () => {
    const arg = 'a b\t"c" é ✓';
    const r = run(['-c', 'printf %s "$1"; printf "[%s]" "$X" >&2; cat; exit 3', 'sh', arg], { X: 'y=z' }, 'in\n');
    expect(r.stdout).toBe(`${arg}in\n`);
    expect(r.stderr).toBe('[y=z]');
    expect(r).toMatchObject({ status: 3, signal: null, timedOut: false, killed: false });
  });

  it('refuses a NUL in an argument or the environment instead of cutting the C string short', () => {
    expect(thrown(SpawnError, () => run(['-c', 'true\0; rm -rf /'])).code).toBe('EINVAL');
    expect(thrown(SpawnError, () => run(['-c', 'true'], { X: 'a\0b' })).code).toBe('EINVAL');
  });

  it('names the errno when the program cannot be started', () => {
    const e = thrown(SpawnError, () => spawnBounded('/nonexistent/vb', [], { env: {}, timeoutMs: 1000, graceMs: 100 }));
    expect(e.code).toBe('ENOENT');
  });

  it('escalates to SIGKILL when the child ignores SIGTERM', () => {
    const t0 = Date.now();
    const r = spawnBounded('/bin/sh', ['-c', 'trap "" TERM; while :; do sleep 0.05; done'], {
      env: {},
      timeoutMs: 200,
      graceMs: 200,
    });
    expect(r).toMatchObject({ timedOut: true, killed: true, signal: 'SIGKILL' });
    expect(Date.now() - t0).toBeLessThan(3000);
  });
});

describe('the executable writes no file', () => {
  let node: TestNs;
  let pod: TestNs;
  let dir: string;
  beforeEach(() => {
    ensureBuilt();
    node = makeNetns('vbn');
    pod = makeNetns('vbp');
    dir = mkdtempSync(path.join(tmpdir(), 'vb-nowrite-'));
  });
  afterEach(() => {
    deleteAllNetns();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The plugin's own file system calls (not its children's) that create, write, rename or remove a file. */
  function writes(c: CniCall): { writes: string[]; stdout: string } {
    const log = path.join(dir, `${c.command}.strace`);
    const input = typeof c.conf === 'string' ? c.conf : JSON.stringify(c.conf);
    const r = spawnSync(
      'ip',
      [
        ...['netns', 'exec', node.name, 'strace', '-qq', '-o', log],
        '-e',
        'trace=open,openat,openat2,creat,mkdir,mkdirat,rename,renameat,renameat2,unlink,unlinkat,link,linkat,symlink,' +
          'symlinkat,truncate,ftruncate,memfd_create,mknod,mknodat',
        BIN,
      ],
      { input, env: envOf(c), encoding: 'utf8', timeout: 30_000 },
    );
    expect(r.status, `${c.command}: ${r.stdout}${r.stderr}`).toBe(0);
    // A sysctl write opens the /proc/sys file and truncates it (writeFileSync): those fds' ftruncate is fine.
    const sysctlFds = new Set<string>();
    const found = readFileSync(log, 'utf8')
      .split('\n')
      .filter((l) => l && !/^\+\+\+ exited/.test(l))
      .filter((l) => {
        const open = /^open(?:at)?\((?:AT_FDCWD, )?"([^"]*)".*= (-?\d+)/.exec(l);
        if (open) {
          if (open[1]!.startsWith('/proc/sys/')) sysctlFds.add(open[2]!);
          else sysctlFds.delete(open[2]!);
          return /O_WRONLY|O_RDWR|O_CREAT|O_TRUNC/.test(l) && !open[1]!.startsWith('/proc/sys/');
        }
        const trunc = /^ftruncate\((\d+),/.exec(l);
        return !(trunc && sysctlFds.has(trunc[1]!));
      });
    return { writes: found, stdout: r.stdout };
  }

  it('for VERSION, ADD, CHECK, DEL, STATUS and GC: only /proc/sys/ sysctls are opened for writing', () => {
    const conf = { cniVersion: '1.1.0', name: 'untagged', type: 'vlan-bridge', bridge: 'br-nw', ipam: {} };
    expect(writes({ command: 'VERSION', conf }).writes).toEqual([]);
    const add = writes({ command: 'ADD', conf, netns: pod.path });
    expect(add.writes).toEqual([]);
    const prevResult = JSON.parse(add.stdout) as object;
    expect(writes({ command: 'CHECK', conf: { ...conf, prevResult }, netns: pod.path }).writes).toEqual([]);
    expect(writes({ command: 'STATUS', conf }).writes).toEqual([]);
    expect(writes({ command: 'DEL', conf, netns: pod.path }).writes).toEqual([]);
    expect(writes({ command: 'GC', conf: { ...conf, 'cni.dev/valid-attachments': [] } }).writes).toEqual([]);
    // The strace filter sees writes: the sysctls ADD sets are there before the filter drops them.
    expect(readFileSync(path.join(dir, 'ADD.strace'), 'utf8')).toMatch(/"\/proc\/sys\/net\/.*O_WRONLY/);
  });
});
