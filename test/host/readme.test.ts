// The README's "Calling it by hand" commands, run exactly as written, as the README says to run them: by bash in a
// scratch network namespace, from the repository root. What they print must be what the README shows, but for MAC
// addresses and the log lines' time, pid and ms, which differ on every run.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, ensureBuilt } from '../lab/binary.js';
import { deleteAllNetns, makeNetns } from './netns-fixture.js';

beforeAll(ensureBuilt, 180_000);
afterEach(deleteAllNetns);

/** The first ```sh block after `heading` and the ```text block after that, as the README has them. */
function section(heading: string): { commands: string; output: string } {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const at = readme.indexOf(`\n${heading}\n`);
  expect(at, heading).toBeGreaterThan(0);
  const rest = readme.slice(at);
  const block = (lang: string, from: number) => {
    const start = rest.indexOf(`\n\`\`\`${lang}\n`, from);
    expect(start, `a ${lang} block after ${heading}`).toBeGreaterThan(0);
    const body = start + lang.length + 5;
    const end = rest.indexOf('\n```\n', body - 1);
    return { text: rest.slice(body, end + 1), end };
  };
  const commands = block('sh', 0);
  return { commands: commands.text, output: block('text', commands.end).text };
}

const normalize = (s: string) =>
  s
    .replace(/[0-9a-f]{2}(:[0-9a-f]{2}){5}/g, 'MAC')
    .replace(/"time":"[^"]+"/g, '"time":T')
    .replace(/"pid":\d+/g, '"pid":P')
    .replace(/"ms":[\d.]+/g, '"ms":M')
    .replace(/[ \t]+$/gm, '');

describe('README: calling it by hand', () => {
  it('the commands work as written and print what the README shows', () => {
    const { commands, output } = section('### Calling it by hand');
    // Files the commands write, and names they make, must not be in use: the commands clean up after themselves.
    for (const f of ['/tmp/untagged.json', '/tmp/result.json', '/tmp/vlan-bridge.log'])
      expect(existsSync(f), `${f} exists already`).toBe(false);
    expect(existsSync('/run/netns/pod1'), 'a namespace pod1 exists already').toBe(false);
    const scratch = makeNetns('scratch');
    const r = spawnSync('ip', ['netns', 'exec', scratch.name, 'bash'], {
      cwd: ROOT,
      input: commands,
      encoding: 'utf8',
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root' },
      timeout: 60_000,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(normalize(r.stdout)).toBe(normalize(output));
    // Cleaned up: no pod namespace, no bridge, no files.
    expect(existsSync('/run/netns/pod1')).toBe(false);
    expect(scratch.ipj('link', 'show').map((l: { ifname: string }) => l.ifname)).toEqual(['lo']);
    for (const f of ['/tmp/untagged.json', '/tmp/result.json', '/tmp/vlan-bridge.log'])
      expect(existsSync(f)).toBe(false);
  });
});
