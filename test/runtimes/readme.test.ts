// The README's "With containerd" and "With podman" commands, run as written: each section's shell block, as root,
// from the repository, in an isolated node of its own (test/lab/isolated-node.ts) standing for a fresh host, so
// that they never touch this machine's /etc/cni/net.d, /opt/cni/bin, containers.conf or /tmp/bb.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, ensureBuilt } from '../lab/binary.js';
import { openNode, type Background, type IsolatedNode } from '../lab/isolated-node.js';
import { waitFor } from '../lab/wait.js';
import { CONTAINERD_PATHS, PODMAN_PATHS, leftovers, requireInstalled } from './lab.js';

/** The first ```sh block after the heading `## <title>` in README.md. */
function block(title: string): string {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const at = readme.indexOf(`\n## ${title}\n`);
  expect(at, `README.md has no section "${title}"`).toBeGreaterThan(0);
  const m = /\n```sh\n([\s\S]*?)\n```\n/.exec(readme.slice(at));
  expect(m, `section "${title}" has no sh block`).not.toBeNull();
  return m![1]!;
}

/**
 * A node for one section: `paths` private, plus /tmp/bb (where the README builds its image). The runtimes' default
 * cgroup parents are removed afterwards only when the host had none: then they are the README's.
 */
async function nodeFor(paths: string[], cgroupParent: string): Promise<IsolatedNode> {
  const hierarchies = readdirSync('/sys/fs/cgroup').map((h) => path.join('/sys/fs/cgroup', h));
  const ours = !hierarchies.some((h) => existsSync(path.join(h, cgroupParent)));
  return openNode({ prefix: 'vbrt-doc', paths: [...paths, '/tmp/bb'], cgroupParents: ours ? [cgroupParent] : [] });
}

/** Runs the block with bash -e in the repository, inside the node; returns what it printed. */
function runBlock(node: IsolatedNode, script: string): string {
  const r = node.run('bash', ['-e', '-c', `cd '${ROOT}'\n${script}`], { timeoutMs: 180_000 });
  expect(r.code, `the README block failed:\n${r.stdout}${r.stderr}`).toBe(0);
  return r.stdout;
}

let node: IsolatedNode | undefined;
let daemon: Background | undefined;
afterEach(async () => {
  await daemon?.stop();
  await node?.close();
  daemon = node = undefined;
}, 60_000);

beforeAll(() => {
  requireInstalled([
    ['containerd', 'containerd'],
    ['podman', 'podman'],
    ['runc', 'runc'],
    ['busybox', 'busybox'],
  ]);
  ensureBuilt(); // "after make build"
}, 300_000);

describe('README', () => {
  it('"With containerd" works as written', async () => {
    const script = block('With containerd');
    node = await nodeFor([...CONTAINERD_PATHS, 'keep:/etc/containerd'], 'default');
    // "with containerd running": Debian's own /etc/containerd/config.toml, as a host has it.
    daemon = node.start('containerd', []);
    await waitFor(() => node!.run('ctr', ['version']).code === 0, 'containerd to serve', 20_000);
    const out = runBlock(node, script);
    expect(out).toMatch(/eth0@if\d+: <BROADCAST,MULTICAST,UP,LOWER_UP/);
    expect(out).toContain('inet 10.77.0.2/24');
    expect(node.sh('ip', ['-4', '-o', 'addr', 'show', 'dev', 'vb-br0'])).toContain('inet 10.77.0.1/24');
    expect(leftovers(node)).toEqual([]); // --rm: ctr sent DEL
  });

  it('"With podman" works as written', async () => {
    const script = block('With podman');
    node = await nodeFor(PODMAN_PATHS, 'libpod_parent');
    const out = runBlock(node, script);
    expect(out).toMatch(/\bvb-l2\s+vlan-bridge\b/);
    expect(out).toContain('link/ether 02:00:00:00:00:01');
    expect(out).toMatch(/eth0@if\d+: <BROADCAST,MULTICAST,UP,LOWER_UP.*mtu 1500/);
    expect(leftovers(node)).toEqual([]); // --rm: podman sent DEL
  });
});
