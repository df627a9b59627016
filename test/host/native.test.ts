// The executable writes koffi's addon out of its SEA asset only into a private directory, under its content hash,
// and verifies it before loading: a tampered copy is replaced, a directory others can write to is refused.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, ensureBuilt } from '../lab/binary.js';
import { deleteAllNetns, makeNetns, type TestNs } from './netns-fixture.js';

let node: TestNs;
beforeAll(() => {
  ensureBuilt();
  node = makeNetns('vbn');
}, 180_000);
afterAll(deleteAllNetns);

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function status(dir: string, extraEnv: Record<string, string> = {}) {
  const conf = JSON.stringify({ cniVersion: '1.1.0', name: 'n', type: 'vlan-bridge', bridge: 'br-x' });
  return spawnSync('ip', ['netns', 'exec', node.name, BIN], {
    input: conf,
    encoding: 'utf8',
    env: { CNI_COMMAND: 'STATUS', CNI_PATH: '/usr/lib/cni', VLAN_BRIDGE_RUNTIME_DIR: dir, ...extraEnv },
  });
}

describe('native addon extraction', () => {
  it('writes the addon under its hash, and replaces a tampered copy before loading', () => {
    const dir = path.join(mkdtempSync(path.join(tmpdir(), 'vb-native-')), 'rt');
    expect(status(dir).status).toBe(0);
    const files = readdirSync(dir);
    expect(files).toHaveLength(1);
    const [file] = files as [string];
    expect(file).toMatch(/^koffi-[0-9a-f]{32}\.node$/);
    const good = readFileSync(path.join(dir, file));
    expect(sha(good).slice(0, 32)).toBe(file.slice(6, 38));
    writeFileSync(path.join(dir, file), 'not the addon');
    const r = status(dir);
    expect(r.status, r.stdout).toBe(0);
    expect(sha(readFileSync(path.join(dir, file)))).toBe(sha(good));
  });

  it('says in its debug log what loading the addon cost: written the first time, found after (bench/ reads it)', () => {
    const dir = path.join(mkdtempSync(path.join(tmpdir(), 'vb-native-')), 'rt');
    const line =
      /native addon: (written|found) and verified in (\d+\.\d\d) ms, dlopen (\d+\.\d\d) ms, libc bound in (\d+\.\d\d) ms/;
    const first = status(dir, { VLAN_BRIDGE_DEBUG: '1' });
    expect(first.status, first.stdout).toBe(0);
    expect(first.stderr).toMatch(line);
    expect(line.exec(first.stderr)![1]).toBe('written');
    const again = status(dir, { VLAN_BRIDGE_DEBUG: '1' });
    const m = line.exec(again.stderr)!;
    expect(m[1]).toBe('found');
    expect(Number(m[3])).toBeGreaterThan(0);
    // Without VLAN_BRIDGE_DEBUG, nothing on stderr.
    expect(status(dir).stderr).toBe('');
  });

  it('refuses a runtime directory that others can write to', () => {
    const dir = path.join(mkdtempSync(path.join(tmpdir(), 'vb-native-')), 'rt');
    mkdirSync(dir, { mode: 0o700 });
    chmodSync(dir, 0o777);
    const r = status(dir);
    expect(r.status).toBe(1);
    expect(JSON.parse(r.stdout).msg).toContain(`refusing native addon directory ${dir}`);
    expect(readdirSync(dir)).toEqual([]);
  });
});
