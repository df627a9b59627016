// The plugin's log (src/cni/log.ts, src/cni/log-file.ts): where lines go, which levels, the one line per command,
// the config keys and the variables that override them, a file that cannot be written, rotation. The same under
// 32 concurrent processes of the executable is test/host/log.test.ts.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseNetConf } from '../../src/cni/config.js';
import { CniError } from '../../src/cni/errors.js';
import { appendLine } from '../../src/cni/log-file.js';
import { MAX_LINE_BYTES, makeLogger } from '../../src/cni/log.js';
import { dispatch } from '../../src/cni/dispatch.js';
import type { Env } from '../../src/cni/env.js';
import type { Handlers } from '../../src/cni/context.js';

const callEnv: Env = {
  CNI_COMMAND: 'ADD',
  CNI_CONTAINERID: 'c1',
  CNI_NETNS: '/run/netns/p',
  CNI_IFNAME: 'net1',
  CNI_PATH: '/opt/cni/bin',
};

/** A logger whose file appends and stderr writes are recorded. */
function capture(env: Env = callEnv, failFile = false) {
  const files: Array<{ file: string; line: string }> = [];
  const stderr: string[] = [];
  const log = makeLogger(env, (s) => stderr.push(s), {
    append: (file, line) => {
      if (failFile) throw Object.assign(new Error('no'), { code: 'EACCES' });
      files.push({ file, line: line.toString() });
    },
    now: () => 12.34,
  });
  const parsed = (lines: string[]) =>
    lines
      .join('')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
  return { log, fileLines: () => parsed(files.map((f) => f.line)), files, stderrLines: () => parsed(stderr) };
}

describe('the log', () => {
  it('without a file: stderr, warnings and errors only; the command line of a success is not written', () => {
    const c = capture();
    c.log.debug('d');
    c.log.info('i');
    c.log.warn('w');
    c.log.done(undefined);
    expect(c.stderrLines().map((l) => l.msg)).toEqual(['w']);
    c.log.done({ code: 7, msg: 'invalid network configuration', details: 'vlan: bad (got 5000)' });
    const [, err] = c.stderrLines();
    expect(err).toMatchObject({
      level: 'error',
      cmd: 'ADD',
      container: 'c1',
      ifname: 'net1',
      outcome: 'error',
      code: 7,
      msg: 'invalid network configuration',
      details: 'vlan: bad (got 5000)',
      ms: 12.3,
      pid: process.pid,
    });
    expect(new Date(err.time).toISOString()).toBe(err.time);
  });

  it('with a file from the config: info by default, one line per command with its fields in order', () => {
    const c = capture();
    c.log.configure({ logFile: 'vb.log' });
    c.log.context({ network: 'vlan100' });
    c.log.debug('not at info');
    c.log.done(undefined);
    expect(c.files.map((f) => f.file)).toEqual(['/var/log/vlan-bridge/vb.log']);
    const [line] = c.files;
    expect(Object.keys(JSON.parse(line!.line))).toEqual([
      'time',
      'level',
      'pid',
      'cmd',
      'network',
      'container',
      'ifname',
      'outcome',
      'ms',
    ]);
    expect(JSON.parse(line!.line)).toMatchObject({ level: 'info', network: 'vlan100', outcome: 'ok', ms: 12.3 });
    expect(line!.line.endsWith('}\n')).toBe(true);
    expect(line!.line.indexOf('\n')).toBe(line!.line.length - 1);
  });

  it('logLevel debug adds the steps; error leaves only errors', () => {
    const dbg = capture();
    dbg.log.configure({ logFile: 'l', logLevel: 'debug' });
    dbg.log.debug('netlink', { op: 'create bridge "br0"', ms: 0.5 });
    dbg.log.done(undefined);
    expect(dbg.fileLines().map((l) => [l.level, l.msg ?? l.outcome])).toEqual([
      ['debug', 'netlink'],
      ['info', 'ok'],
    ]);
    expect(dbg.fileLines()[0]).toMatchObject({ op: 'create bridge "br0"', ms: 0.5 });
    const err = capture();
    err.log.configure({ logFile: 'l', logLevel: 'error' });
    err.log.warn('w');
    err.log.done(undefined);
    err.log.done({ code: 100, msg: 'kernel' });
    expect(err.fileLines().map((l) => l.level)).toEqual(['error']);
  });

  it('the variables override the config: VLAN_BRIDGE_LOG_FILE, VLAN_BRIDGE_LOG_LEVEL, VLAN_BRIDGE_DEBUG=1', () => {
    const c = capture({ ...callEnv, VLAN_BRIDGE_LOG_FILE: '/env.log', VLAN_BRIDGE_LOG_LEVEL: 'error' });
    c.log.configure({ logFile: 'conf.log', logLevel: 'debug' });
    c.log.info('i');
    c.log.error('e');
    expect(c.files.map((f) => [f.file, JSON.parse(f.line).msg])).toEqual([['/env.log', 'e']]);
    const d = capture({ ...callEnv, VLAN_BRIDGE_DEBUG: '1', VLAN_BRIDGE_LOG_LEVEL: 'error' });
    expect(d.log.enabled('debug')).toBe(true);
  });

  it('values of the wrong shape are ignored, and a bad variable is said once', () => {
    const c = capture({ ...callEnv, VLAN_BRIDGE_LOG_LEVEL: 'verbose', VLAN_BRIDGE_LOG_FILE: 'relative.log' });
    c.log.configure({ logFile: '../escape.log', logLevel: 7 });
    expect(c.log.enabled('info')).toBe(false);
    c.log.done(undefined);
    c.log.done(undefined);
    expect(c.files).toEqual([]);
    expect(c.stderrLines().map((l) => l.msg)).toEqual([
      'VLAN_BRIDGE_LOG_FILE must be an absolute path outside /proc, /sys and /dev, without "..": ignored',
      'VLAN_BRIDGE_LOG_LEVEL must be one of error, warn, info, debug: ignored',
      'logLevel must be one of error, warn, info, debug: ignored',
    ]);
    // With the variables unset, the config's bad values are said (and ignored) too: a DEL must not fail on them.
    const k = capture();
    k.log.configure({ logFile: '/etc/profile.d/x.sh', logLevel: 'trace' });
    k.log.done({ code: 1, msg: 'x' });
    expect(k.files).toEqual([]);
    expect(k.stderrLines().map((l) => l.msg)).toEqual([
      'logFile must be a file name or path inside /var/log/vlan-bridge: ignored',
      'logLevel must be one of error, warn, info, debug: ignored',
      'x',
    ]);
  });

  it('a file that cannot be written: the line goes to stderr after one line saying why; nothing throws', () => {
    const c = capture(callEnv, true);
    c.log.configure({ logFile: 'nowhere/vb.log' });
    c.log.info('first');
    c.log.done({ code: 7, msg: 'bad' });
    expect(c.stderrLines().map((l) => [l.level, l.msg])).toEqual([
      ['warn', 'cannot write the log file'],
      ['info', 'first'],
      ['error', 'bad'],
    ]);
    expect(c.stderrLines()[0]).toMatchObject({ file: '/var/log/vlan-bridge/nowhere/vb.log', error: 'EACCES' });
    const closed = makeLogger(callEnv, () => {
      throw new Error('EBADF');
    });
    expect(() => closed.done({ code: 1, msg: 'x' })).not.toThrow();
  });

  it(`a line is at most ${MAX_LINE_BYTES} bytes: the longest strings are cut, and it still parses`, () => {
    const c = capture();
    c.log.done({ code: 7, msg: 'm', details: 'x'.repeat(100_000), stack: 'y'.repeat(50_000) });
    const [line] = c.stderrLines();
    expect(Buffer.byteLength(JSON.stringify(line)) + 1).toBeLessThanOrEqual(MAX_LINE_BYTES);
    expect(line).toMatchObject({ code: 7, msg: 'm', truncated: true });
    expect(line.details.startsWith('xxx')).toBe(true);
  });

  it('never writes to stdout through dispatch, and logs a refused config to its own logFile', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'vb-log-'));
    try {
      const file = path.join(dir, 'vb.log');
      const out: string[] = [];
      const err: string[] = [];
      const h = { add: vi.fn() } as unknown as Handlers;
      const code = await dispatch(
        {
          env: { ...callEnv, VLAN_BRIDGE_LOG_DIR: dir },
          readStdin: () => JSON.stringify({ cniVersion: '1.0.0', name: 'n1', vlan: 5000, logFile: 'vb.log' }),
          stdout: (s) => out.push(s),
          stderr: (s) => err.push(s),
        },
        h,
      );
      expect(code).toBe(1);
      expect(JSON.parse(out.join(''))).toMatchObject({ code: 7 });
      expect(err).toEqual([]);
      const lines = readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(lines).toEqual([
        expect.objectContaining({ level: 'error', cmd: 'ADD', network: 'n1', code: 7, outcome: 'error' }),
      ]);
      expect(lines[0].details).toContain('vlan:');
      expect(statSync(file).mode & 0o777).toBe(0o600);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('logFile and logLevel in the config', () => {
  const base = { cniVersion: '1.0.0', name: 'n' };
  it('accepts a name or path in the log directory and the four levels', () => {
    for (const logLevel of ['error', 'warn', 'info', 'debug'])
      for (const logFile of ['vb.log', 'a/b.log', '/var/log/vlan-bridge/vb.log'])
        expect(parseNetConf({ ...base, logFile, logLevel })).toMatchObject({ logFile, logLevel });
  });
  const outside = 'must be a file name or path inside the log directory (/var/log/vlan-bridge), without ".."';
  it.each([
    [{ logLevel: 'verbose' }, 'logLevel: must be one of error, warn, info, debug (got "verbose")'],
    [{ logLevel: 3 }, 'logLevel: must be one of error, warn, info, debug (got 3)'],
    [{ logFile: '/etc/profile.d/x.sh' }, `logFile: ${outside} (got "/etc/profile.d/x.sh")`],
    [{ logFile: '/proc/sys/kernel/hostname' }, `logFile: ${outside} (got "/proc/sys/kernel/hostname")`],
    [{ logFile: '../../etc/x' }, `logFile: ${outside} (got "../../etc/x")`],
    [{ logFile: '/var/log/vlan-bridge/../x' }, `logFile: ${outside} (got "/var/log/vlan-bridge/../x")`],
    [{ logFile: 5 }, `logFile: ${outside} (got 5)`],
  ])('refuses %j with code 7 naming the key and the value', (extra, details) => {
    let err: unknown;
    try {
      parseNetConf({ ...base, ...extra });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CniError);
    expect(err).toMatchObject({ code: 7, details });
  });
});

describe('appendLine (the shared file)', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'vb-logfile-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('appends whole lines, creating the file 0600', () => {
    const f = path.join(dir, 'a.log');
    appendLine(f, Buffer.from('one\n'));
    appendLine(f, Buffer.from('two\n'));
    expect(readFileSync(f, 'utf8')).toBe('one\ntwo\n');
    expect(statSync(f).mode & 0o777).toBe(0o600);
  });

  it('rotates to <file>.1 when a line would pass the cap, keeping one previous file', () => {
    const f = path.join(dir, 'a.log');
    const line = (n: number) => Buffer.from(`${String(n).padStart(9, '0')}\n`); // 10 bytes
    for (let i = 0; i < 25; i++) appendLine(f, line(i), 100);
    // 0-9 filled a file, 10-19 the next, 20-24 the current one; the first is gone.
    expect(readFileSync(`${f}.1`, 'utf8')).toBe(Array.from({ length: 10 }, (_, i) => line(10 + i)).join(''));
    expect(readFileSync(f, 'utf8')).toBe(Array.from({ length: 5 }, (_, i) => line(20 + i)).join(''));
  });

  it('a line longer than the cap still goes in whole, alone in its file', () => {
    const f = path.join(dir, 'a.log');
    appendLine(f, Buffer.from('short\n'), 10);
    appendLine(f, Buffer.from('a line far longer than ten bytes\n'), 10);
    expect(readFileSync(f, 'utf8')).toBe('a line far longer than ten bytes\n');
    expect(readFileSync(`${f}.1`, 'utf8')).toBe('short\n');
  });

  it('writes only a regular file reached without a symlink (ELOOP, EINVAL otherwise)', () => {
    const real = path.join(dir, 'real.log');
    writeFileSync(real, 'x'.repeat(50));
    const link = path.join(dir, 'link.log');
    symlinkSync(real, link);
    expect(() => appendLine(link, Buffer.from('y\n'), 10)).toThrow(/ELOOP/);
    expect(readFileSync(real, 'utf8')).toBe('x'.repeat(50));
    expect(() => appendLine('/dev/null', Buffer.from('z\n'), 1)).toThrow(/not a regular file/);
  });

  it('throws when the file cannot be opened (its directory is missing, or it is a directory)', () => {
    expect(() => appendLine(path.join(dir, 'no/such/dir.log'), Buffer.from('x\n'))).toThrow(/ENOENT/);
    mkdirSync(path.join(dir, 'd'));
    expect(() => appendLine(path.join(dir, 'd'), Buffer.from('x\n'))).toThrow(/EISDIR/);
  });
});
