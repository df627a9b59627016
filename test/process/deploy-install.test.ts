// deploy/install.sh run by bash against temporary directories, as the DaemonSet's init container runs it against
// the node's /opt/cni/bin: it installs, does nothing when the file is the same, replaces a different one by a
// rename of a temporary file in the same directory (the old file is never written to), leaves no temporary file
// behind even when killed, and fails clearly on bad input. Stand-in plugins print the about line the real one does.
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../lab/binary.js';
import { parseDocument } from 'yaml';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const SCRIPT = path.join(ROOT, 'deploy', 'install.sh');
// Under umask 077, so that the 0755 of the result is the script's doing. stdin is /dev/null and --norc is given:
// bash reads ~/.bashrc when its stdin is a socket, which is what Node gives a child by default.
const UMASKED = ['--norc', '--noprofile', '-c', 'umask 077; exec bash --norc --noprofile "$0" "$@"', SCRIPT];
const ENV = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' };

let work: string;
let src: string;
let dest: string;

beforeEach(() => {
  work = mkdtempSync(path.join(tmpdir(), 'vb-deploy-'));
  src = path.join(work, 'image');
  dest = path.join(work, 'opt-cni-bin');
  mkdirSync(src);
  mkdirSync(dest);
});

afterEach(() => {
  rmSync(work, { recursive: true, force: true });
});

/** A stand-in plugin: prints `CNI vlan-bridge plugin <version>` on stderr, padded with `padding` random bytes. */
function plugin(version: string, padding = 4096, mode = 0o755): string {
  const file = path.join(src, 'vlan-bridge');
  const head = `#!/bin/sh\necho "CNI vlan-bridge plugin ${version}" >&2\necho "CNI protocol versions supported: 1.1.0" >&2\nexit 0\n#`;
  writeFileSync(file, Buffer.concat([Buffer.from(head), randomBytes(padding)]));
  chmodSync(file, mode);
  return file;
}

function install(...args: string[]) {
  const r = spawnSync('bash', [...UMASKED, ...args], {
    env: ENV,
    encoding: 'utf8',
    timeout: 60_000,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, log: r.stdout + r.stderr };
}

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
const listing = () => readdirSync(dest).sort();
const target = () => path.join(dest, 'vlan-bridge');

describe('deploy/install.sh', () => {
  it('first install: copies the file, 0755, and says what it found and did', () => {
    const file = plugin('1.0.0');
    const r = install('--src', file, '--dest', dest);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(sha256(target())).toBe(sha256(file));
    expect(statSync(target()).mode & 0o7777).toBe(0o755);
    expect(listing()).toEqual(['vlan-bridge']);
    expect(r.stdout).toContain(`source ${file}: sha256 ${sha256(file)}, CNI vlan-bridge plugin 1.0.0`);
    expect(r.stdout).toContain(`found no ${target()}: installing it`);
    expect(r.stdout).toMatch(new RegExp(`renamed .* to ${target()}: installed, sha256 ${sha256(file)}, mode 0755`));
  });

  it('a second run with the same file does nothing: same inode, same mtime and ctime', () => {
    const file = plugin('1.0.0');
    expect(install('--src', file, '--dest', dest).status).toBe(0);
    const before = statSync(target());
    const r = install('--src', file, '--dest', dest);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`found ${target()} with the same sha256: already up to date, nothing to do`);
    expect(r.stdout).not.toContain('copying');
    const after = statSync(target());
    expect({ ino: after.ino, mtime: after.mtimeMs, ctime: after.ctimeMs }).toEqual({
      ino: before.ino,
      mtime: before.mtimeMs,
      ctime: before.ctimeMs,
    });
    expect(listing()).toEqual(['vlan-bridge']);
  });

  it('a new version replaces the old one by renaming a temporary file of the same directory; the old file is never written', () => {
    const old = plugin('1.0.0', 1 << 20);
    expect(install('--src', old, '--dest', dest).status).toBe(0);
    const oldSum = sha256(target());
    const oldIno = statSync(target()).ino;
    // A second name for the old inode: had the script written into the installed file, this would show it.
    const keep = path.join(work, 'old-inode');
    linkSync(target(), keep);

    const next = plugin('2.0.0', 1 << 20);
    const r = install('--src', next, '--dest', dest);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`found ${target()} with sha256 ${oldSum}: it differs, replacing it`));
    expect(r.stdout).toContain('CNI vlan-bridge plugin 2.0.0');

    const tmp = /copying to the temporary file (\S+)/.exec(r.stdout)?.[1];
    expect(tmp, 'the log names the temporary file').toBeDefined();
    expect(path.dirname(tmp!)).toBe(dest);
    expect(path.basename(tmp!)).toMatch(/^\.vlan-bridge\.tmp\./);
    expect(r.stdout).toContain(`renamed ${tmp} to ${target()}`);

    expect(statSync(target()).ino).not.toBe(oldIno);
    expect(sha256(target())).toBe(sha256(next));
    expect(statSync(target()).mode & 0o7777).toBe(0o755);
    expect(sha256(keep)).toBe(oldSum);
    expect(listing()).toEqual(['vlan-bridge']);
  });

  it('a source that is not executable is still installed 0755', () => {
    const file = plugin('1.0.0', 4096, 0o600);
    const r = install('--src', file, '--dest', dest);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('version unknown: not executable');
    expect(statSync(target()).mode & 0o7777).toBe(0o755);
  });

  it('the same file with the wrong mode gets 0755 and is not copied again', () => {
    const file = plugin('1.0.0');
    expect(install('--src', file, '--dest', dest).status).toBe(0);
    chmodSync(target(), 0o644);
    const ino = statSync(target()).ino;
    const r = install('--src', file, '--dest', dest);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('with the same sha256 but mode 644: set it to 0755');
    expect(statSync(target()).mode & 0o7777).toBe(0o755);
    expect(statSync(target()).ino).toBe(ino);
  });

  it('a missing source fails with a clear message, exit 1, and touches nothing', () => {
    const missing = path.join(src, 'no-such-file');
    const r = install('--src', missing, '--dest', dest);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`vlan-bridge-install: error: source ${missing} does not exist\n`);
    expect(listing()).toEqual([]);
  });

  it('an empty source or a missing destination fails clearly', () => {
    const empty = path.join(src, 'vlan-bridge');
    writeFileSync(empty, '');
    let r = install('--src', empty, '--dest', dest);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`source ${empty} is empty`);

    const file = plugin('1.0.0');
    const nowhere = path.join(work, 'no-such-dir');
    r = install('--src', file, '--dest', nowhere);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`destination directory ${nowhere} does not exist`);
  });

  it('a usage error exits 2 with the usage', () => {
    const r = install('--frobnicate');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('unknown argument: --frobnicate');
    expect(r.stderr).toContain('install.sh [--src FILE] [--dest DIR] [--name NAME]');
    expect(install('--src').status).toBe(2);
    expect(install('--src', plugin('1'), '--name', '../escape').status).toBe(2);
  });

  it('--name installs under another name (e.g. bridge, to replace the reference plugin)', () => {
    const file = plugin('1.0.0');
    const r = install(`--src=${file}`, `--dest=${dest}/`, '--name', 'bridge');
    expect(r.status).toBe(0);
    expect(listing()).toEqual(['bridge']);
    expect(sha256(path.join(dest, 'bridge'))).toBe(sha256(file));
  });

  it('removes a temporary file left by a killed run', () => {
    const stale = path.join(dest, '.vlan-bridge.tmp.AbC123');
    writeFileSync(stale, 'half a file');
    const r = install('--src', plugin('1.0.0'), '--dest', dest);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`removed ${stale}, left by an interrupted run`);
    expect(listing()).toEqual(['vlan-bridge']);
  });

  it('killed (SIGTERM) while copying: the installed file is the old one or the new one, whole, and no temporary file is left', async () => {
    const old = plugin('1.0.0', 1 << 20);
    expect(install('--src', old, '--dest', dest).status).toBe(0);
    const oldSum = sha256(target());
    const next = plugin('2.0.0', 64 << 20);
    const newSum = sha256(next);

    const child = spawn('bash', [...UMASKED, '--src', next, '--dest', dest], {
      env: ENV,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    // 'close': the process has exited and its output has been read to the end.
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('copying to the temporary file')) resolve();
      });
      child.on('exit', () => resolve());
    });
    child.kill('SIGTERM');
    const code = await exited;

    expect([0, 143]).toContain(code);
    expect([oldSum, newSum]).toContain(sha256(target()));
    if (out.includes('before the rename')) {
      expect(out).toContain(`stopped by SIGTERM before the rename: ${target()} is unchanged`);
      expect(sha256(target())).toBe(oldSum);
    }
    expect(statSync(target()).mode & 0o7777).toBe(0o755);
    expect(listing()).toEqual(['vlan-bridge']);
  });

  it('two runs at once on one directory: one installs, the other waits for it and finds the file up to date', async () => {
    const file = plugin('1.0.0', 16 << 20);
    const run = () =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const child = spawn('bash', [...UMASKED, '--src', file, '--dest', dest], {
          env: ENV,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let out = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
        });
        child.stderr.on('data', (d: Buffer) => {
          out += d.toString();
        });
        child.on('close', (code) => resolve({ code, out }));
      });
    const results = await Promise.all([run(), run()]);
    expect(results.map((r) => r.code)).toEqual([0, 0]);
    expect(results.filter((r) => r.out.includes(': installed,'))).toHaveLength(1);
    expect(results.filter((r) => r.out.includes('already up to date'))).toHaveLength(1);
    expect(sha256(target())).toBe(sha256(file));
    expect(listing()).toEqual(['vlan-bridge']);
  });
});

describe("deploy/daemonset.yaml's main container", () => {
  it('sleeps, and on SIGTERM exits 0 at once, its sleep with it', async () => {
    const ds = parseDocument(readFileSync(path.join(ROOT, 'deploy', 'daemonset.yaml'), 'utf8')).toJS() as {
      spec: { template: { spec: { containers: Array<{ command: string[] }> } } };
    };
    const [cmd, ...args] = ds.spec.template.spec.containers[0]!.command;
    expect(cmd).toBe('/bin/bash');
    // Its own process group, so that whatever happens nothing it started outlives the test.
    const child = spawn('bash', ['--norc', '--noprofile', ...args], {
      env: ENV,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    try {
      // 'close' comes only once every holder of the stdout pipe is gone: a leftover `sleep` would hold it open.
      const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
      await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
      await new Promise((r) => setTimeout(r, 200));
      expect(child.exitCode).toBeNull();
      child.kill('SIGTERM');
      const timeout = new Promise<string>((r) => setTimeout(() => r('still running 2 s after SIGTERM'), 2000));
      expect(await Promise.race([closed, timeout])).toBe(0);
    } finally {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // the group is gone already
      }
    }
  });
});

describe('deploy/install.sh --uninstall', () => {
  it('removes the file with the same sha256 as --src, once; a second run finds nothing to remove', () => {
    const file = plugin('1.0.0');
    expect(install('--src', file, '--dest', dest).status).toBe(0);
    const sum = sha256(target());
    const r = install('--uninstall', '--src', file, '--dest', dest, '--ignore-attachments');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`found ${target()}: the same sha256 as ${file}`);
    expect(r.stdout).toContain(`removed ${target()} (sha256 ${sum})`);
    expect(r.stdout).toContain('left in place: what the plugin made and its networks share');
    expect(listing()).toEqual([]);
    const again = install('--uninstall', '--src', file, '--dest', dest, '--ignore-attachments');
    expect(again.status).toBe(0);
    expect(again.stdout).toContain(`found no ${target()}: nothing to remove`);
  });

  it('removes another build of vlan-bridge, known by its bytes (never run), when no --src matches', () => {
    // Another build: a Bun executable carrying vlan-bridge's about line. The real one, copied with a byte changed.
    const other = Buffer.from(readFileSync(path.join(ROOT, 'bin', 'vlan-bridge')));
    other[other.length - 4096] = other[other.length - 4096]! ^ 0xff;
    writeFileSync(path.join(dest, 'vlan-bridge'), other, { mode: 0o755 });
    const r = install('--uninstall', '--dest', dest, '--ignore-attachments');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(
      `found ${target()}: a vlan-bridge executable (a Bun executable carrying vlan-bridge's about line)`,
    );
    expect(listing()).toEqual([]);
  });

  it('never runs the file it is to identify: a script that prints our about line is left alone', () => {
    const marker = path.join(src, 'ran');
    const fake = path.join(dest, 'vlan-bridge');
    writeFileSync(fake, `#!/bin/sh\ntouch ${marker}\necho "CNI vlan-bridge plugin 9.9" >&2\n`, { mode: 0o755 });
    const r = install('--uninstall', '--dest', dest, '--ignore-attachments');
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('is not vlan-bridge: left alone');
    expect(existsSync(marker)).toBe(false);
    expect(listing()).toEqual(['vlan-bridge']);
  });

  it('leaves alone what is not ours (the reference bridge plugin under our name, a script), exit 1', () => {
    const other = path.join(dest, 'bridge');
    writeFileSync(other, '#!/bin/sh\necho "CNI bridge plugin v1.1.1" >&2\n');
    chmodSync(other, 0o755);
    const before = sha256(other);
    const r = install('--uninstall', '--dest', dest, '--name', 'bridge', '--ignore-attachments');
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`vlan-bridge-install: error: ${other} (sha256 ${before}) is not vlan-bridge: left alone\n`);
    expect(sha256(other)).toBe(before);
  });

  it('refuses while the node has attachments of the plugin (their DEL needs it), unless told to ignore them', () => {
    const file = plugin('1.0.0');
    expect(install('--src', file, '--dest', dest).status).toBe(0);
    // A "node" namespace with one host veth as the plugin names them.
    const ns = `vbun-${randomBytes(3).toString('hex')}`;
    spawnSync('ip', ['netns', 'add', ns]);
    try {
      spawnSync('ip', ['-n', ns, 'link', 'add', 'veth0123', 'type', 'veth', 'peer', 'name', 'p0']);
      spawnSync('ip', ['-n', ns, 'link', 'set', 'veth0123', 'alias', 'vlan-bridge:net:c1:net1']);
      // A VLAN gateway pair, which DEL leaves by design: not an attachment, never counted.
      spawnSync('ip', ['-n', ns, 'link', 'add', 'vgw0', 'type', 'veth', 'peer', 'name', 'vgw1']);
      spawnSync('ip', ['-n', ns, 'link', 'set', 'vgw0', 'alias', 'vlan-bridge:net:_gateway:mgmt-br.100']);
      const inNs = (...args: string[]) => {
        const r = spawnSync('ip', ['netns', 'exec', ns, 'bash', ...UMASKED, ...args], {
          env: ENV,
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        return { status: r.status, stdout: r.stdout, stderr: r.stderr };
      };
      const refused = inNs('--uninstall', '--src', file, '--dest', dest);
      expect(refused.status).toBe(1);
      expect(refused.stderr).toContain('this node has 1 attachment(s) made by the plugin');
      expect(refused.stderr).toContain('--ignore-attachments');
      expect(listing()).toEqual(['vlan-bridge']);
      spawnSync('ip', ['-n', ns, 'link', 'del', 'veth0123']);
      const clean = inNs('--uninstall', '--src', file, '--dest', dest);
      expect(clean.status, clean.stderr).toBe(0);
      expect(clean.stdout).toContain('no attachments of the plugin on this node');
      expect(listing()).toEqual([]);
    } finally {
      spawnSync('ip', ['netns', 'del', ns]);
    }
  });
});

describe('make install and make uninstall into a DESTDIR', () => {
  // `-o build`: the executable is built already (beforeAll); the test must not rebuild it under other tests.
  const make = (...args: string[]) => {
    const r = spawnSync('make', ['--no-print-directory', '-o', 'build', ...args], {
      cwd: ROOT,
      env: ENV,
      encoding: 'utf8',
      timeout: 120_000,
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const BIN = path.join(ROOT, 'bin', 'vlan-bridge');
  beforeAll(ensureBuilt, 180_000);

  it('installs bin/vlan-bridge as <DESTDIR>/opt/cni/bin/vlan-bridge (CNI_BIN_DIR elsewhere) and removes it', () => {
    const destdir = path.join(work, 'root');
    let r = make('install', `DESTDIR=${destdir}`);
    expect(r.status, r.stderr).toBe(0);
    const installed = path.join(destdir, 'opt/cni/bin/vlan-bridge');
    expect(sha256(installed)).toBe(sha256(BIN));
    expect(statSync(installed).mode & 0o7777).toBe(0o755);
    r = make('install', `DESTDIR=${destdir}`, 'CNI_BIN_DIR=/usr/lib/cni');
    expect(r.status, r.stderr).toBe(0);
    expect(sha256(path.join(destdir, 'usr/lib/cni/vlan-bridge'))).toBe(sha256(BIN));

    r = make('uninstall', `DESTDIR=${destdir}`);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`removed ${installed}`);
    expect(readdirSync(path.join(destdir, 'opt/cni/bin'))).toEqual([]);
    expect(make('uninstall', `DESTDIR=${destdir}`).stdout).toContain('nothing to remove');
    expect(make('uninstall', `DESTDIR=${destdir}`, 'CNI_BIN_DIR=/usr/lib/cni').status).toBe(0);
    expect(readdirSync(path.join(destdir, 'usr/lib/cni'))).toEqual([]);
  });

  it('PREFIX stops install and uninstall before anything is done, pointing at CNI_BIN_DIR', () => {
    const destdir = path.join(work, 'root');
    for (const goal of ['install', 'uninstall']) {
      const r = make(goal, 'PREFIX=/usr/local', `DESTDIR=${destdir}`);
      expect(r.status).toBe(2);
      expect(r.stderr).toContain('PREFIX is not used');
      expect(r.stderr).toContain(`make ${goal} CNI_BIN_DIR=/usr/local`);
      expect(existsSync(destdir)).toBe(false);
    }
  });
});

describe("the README's uninstall from a cluster", () => {
  it('patching the DaemonSet as the README says makes its init container remove the plugin it installed', () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const patch = /kubectl -n kube-system patch ds vlan-bridge-install --type json \\\n\s+-p '(\[.*\])'/.exec(readme);
    expect(patch, 'the kubectl patch line').not.toBeNull();
    const ops = JSON.parse(patch![1]!) as Array<{ op: string; path: string; value: string }>;
    const ds = parseDocument(readFileSync(path.join(ROOT, 'deploy', 'daemonset.yaml'), 'utf8')).toJS() as any;
    for (const { op, path: at, value } of ops) {
      // JSON Patch "add" into an array: the value goes before the element at that index.
      expect(op).toBe('add');
      const keys = at.split('/').slice(1);
      const parent = keys.slice(0, -1).reduce((o, k) => o[k], ds);
      expect(Array.isArray(parent)).toBe(true);
      parent.splice(Number(keys.at(-1)), 0, value);
    }
    const command: string[] = ds.spec.template.spec.initContainers[0].command;
    expect(command.slice(0, 2)).toEqual(['/opt/vlan-bridge/install.sh', '--uninstall']);
    // The image's paths, mapped to this test's directories.
    const file = plugin('1.0.0');
    expect(install('--src', file, '--dest', dest).status).toBe(0);
    const mapped = command
      .slice(1)
      .map((a) => (a === '/opt/vlan-bridge/vlan-bridge' ? file : a === '/host/opt/cni/bin' ? dest : a));
    const r = install(...mapped);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`removed ${target()}`);
    expect(listing()).toEqual([]);
  });
});
