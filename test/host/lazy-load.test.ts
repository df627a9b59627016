// Start-up does only what the command needs (issue 15): VERSION builds no schema and loads no kernel layer, a
// refused config loads no kernel layer, an L2 ADD does not load ip-address, a good config never loads the JSON
// error locator. Observed from the sources run under Bun as the executable runs them (test/lab/loaded-modules.ts).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../lab/binary.js';
import { envOf, type CniCall } from '../lab/cni.js';
import { freshNodeAndPod, type TestNs } from './netns-fixture.js';

let node: TestNs;
let pod: TestNs;
let tmp: string;
freshNodeAndPod('vb-lazy-', (n, p, t) => {
  node = n;
  pod = p;
  tmp = t;
});

/** The modules one call loaded, and its exit status. */
function loaded(c: CniCall): { modules: string[]; status: number | null; stdout: string } {
  const input = typeof c.conf === 'string' ? c.conf : JSON.stringify(c.conf);
  const r = spawnSync(
    'ip',
    ['netns', 'exec', node.name, process.execPath, path.join(ROOT, 'test/lab/loaded-modules.ts')],
    { input, env: envOf(c), cwd: ROOT, encoding: 'utf8', timeout: 30_000 },
  );
  const line = /\nLOADED (.*)\n$/.exec(r.stderr);
  expect(line, r.stderr).not.toBeNull();
  return { modules: JSON.parse(line![1]!) as string[], status: r.status, stdout: r.stdout };
}

const has = (modules: string[], part: string) => modules.some((m) => m.includes(part));
const l2 = { cniVersion: '1.0.0', name: 'untagged', type: 'vlan-bridge', bridge: 'br-lazy', ipam: {} };

describe('what each command loads', () => {
  it('VERSION: neither zod nor the kernel layer nor the plugin', () => {
    const r = loaded({ command: 'VERSION', conf: l2 });
    expect(r.status).toBe(0);
    expect(has(r.modules, 'src/cni/dispatch.ts'), 'the probe sees the dispatcher').toBe(true);
    for (const m of [
      'node_modules/zod/',
      'src/cni/config.ts',
      'src/kernel/',
      'src/plugin/',
      'node_modules/ip-address/',
    ])
      expect(has(r.modules, m), m).toBe(false);
  });

  it('a refused config: zod, but not the kernel layer or the plugin', () => {
    const r = loaded({ command: 'ADD', conf: { ...l2, vlan: 5000 }, netns: pod.path });
    expect(r.status).toBe(1);
    expect(has(r.modules, 'node_modules/zod/')).toBe(true);
    expect(has(r.modules, 'src/kernel/')).toBe(false);
    expect(has(r.modules, 'src/plugin/')).toBe(false);
    expect(has(r.modules, 'node_modules/jsonc-parser/')).toBe(false);
  });

  it('text that is not JSON: the JSON error locator, and still no kernel layer', () => {
    const r = loaded({ command: 'ADD', conf: '{"cniVersion": 1.0.0}', netns: pod.path });
    expect(JSON.parse(r.stdout)).toMatchObject({
      code: 6,
      details: 'line 1 column 19: unexpected character',
    });
    expect(has(r.modules, 'node_modules/jsonc-parser/')).toBe(true);
    expect(has(r.modules, 'src/kernel/')).toBe(false);
  });

  it('an L2 ADD and DEL: the kernel layer, but not ip-address', () => {
    const add = loaded({ command: 'ADD', conf: l2, netns: pod.path });
    expect(add.status, add.stdout).toBe(0);
    expect(has(add.modules, 'src/kernel/netlink/socket.ts')).toBe(true);
    expect(has(add.modules, 'node_modules/ip-address/')).toBe(false);
    const del = loaded({ command: 'DEL', conf: l2, netns: pod.path });
    expect(del.status, del.stdout).toBe(0);
    expect(has(del.modules, 'node_modules/ip-address/')).toBe(false);
  });

  it('a host-local ADD: ip-address (the probe sees a lazily required package)', () => {
    const conf = { ...l2, ipam: { type: 'host-local', subnet: '10.78.0.0/24', dataDir: path.join(tmp, 'ipam') } };
    const add = loaded({ command: 'ADD', conf, netns: pod.path });
    expect(add.status, add.stdout).toBe(0);
    expect(has(add.modules, 'node_modules/ip-address/')).toBe(true);
    expect(loaded({ command: 'DEL', conf, netns: pod.path }).status).toBe(0);
  });
});
