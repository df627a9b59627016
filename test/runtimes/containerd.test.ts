// containerd 1.6 (Debian's) calls the plugin: `ctr run --cni` sets a task's network up through go-cni, containerd's
// CNI library, from the first config in /etc/cni/net.d and the plugins in /opt/cni/bin. What it sends, read in
// containerd v1.6.20 cmd/ctr/commands/run/run.go and go-cni v1.1.6: ADD with CNI_CONTAINERID `<namespace>-<id>`,
// CNI_NETNS `/proc/<task pid>/ns/net`, CNI_IFNAME eth0, no CNI_ARGS and no capabilities; when the task ends, the
// foreground ctr sends DEL without CNI_NETNS (go-cni's Remove gets an empty path). `ctr run -d` never sends DEL.
//
// Everything runs in an isolated node (test/lab/isolated-node.ts): containerd's root, state and config, the CNI
// directories and libcni's cache are private tmpfs, the network is a namespace of its own, containers' cgroups go
// under a parent of this file's that is removed at the end.
import { randomBytes } from 'node:crypto';
import { readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Background, type IsolatedNode } from '../lab/isolated-node.js';
import { waitFor } from '../lab/wait.js';
import {
  IMAGE,
  L2,
  L3,
  buildImage,
  callsOf,
  eth0,
  hostPaths,
  CONTAINERD_PATHS,
  l2Conf,
  l3Plugin,
  leftovers,
  libcniCheck,
  ping,
  veths,
  openRuntimeNode,
} from './lab.js';

const PRIVATE = [...CONTAINERD_PATHS, '/etc/containerd', '/opt/containerd'];
const CGROUP = `vbrt-${randomBytes(4).toString('hex')}`;
// The host's own state at these paths must be what it was (ctr's default cgroup parent is the namespace's name).
const HOST = [...PRIVATE, '/opt/cni', ...readdirSync('/sys/fs/cgroup').map((h) => `/sys/fs/cgroup/${h}/default`)];
// No CRI: ctr needs only the daemon's containers, tasks, images and snapshots.
const CONFIG = 'version = 2\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n';

let node: IsolatedNode;
let containerd: Background;
let record: string;
let l3File: string;
const hostBefore = hostPaths(HOST);

const ctr = (...args: string[]) => node.sh('ctr', args);

/** `ctr task ls`: id -> pid and status. */
function tasks(): Map<string, { pid: number; status: string }> {
  const out = new Map<string, { pid: number; status: string }>();
  for (const line of ctr('task', 'ls').split('\n').slice(1)) {
    const [id, pid, status] = line.trim().split(/\s+/);
    if (id) out.set(id, { pid: Number(pid), status: status! });
  }
  return out;
}

async function startContainerd(): Promise<void> {
  containerd = node.start('containerd', []);
  await waitFor(
    () => node.run('ctr', ['version']).code === 0 || containerd.child.exitCode !== null,
    'containerd to serve',
    20_000,
  );
  if (containerd.child.exitCode !== null) throw new Error(`containerd exited:\n${containerd.output()}`);
}

/** The one network ctr will use: ctr reads /etc/cni/net.d when it starts (go-cni: the first config, as eth0). */
function useNetwork(which: 'l2' | 'l3'): void {
  const [file, conf] =
    which === 'l2'
      ? ['10-rt-l2.conf', l2Conf()]
      : ['10-rt-l3.conflist', { cniVersion: '1.0.0', name: L3.name, plugins: [l3Plugin()] }];
  node.sh('sh', ['-c', `rm -f /etc/cni/net.d/* && cat > /etc/cni/net.d/${file}`], { input: JSON.stringify(conf) });
}

interface Running {
  id: string;
  /** The foreground `ctr run`: it sent ADD and will send DEL when the task ends. */
  ctr: Background;
  pid: number;
}

/** `ctr run --cni --rm IMAGE id sleep 3600` in the foreground (in the background of this test), as a user would. */
async function run(id: string): Promise<Running> {
  const bg = node.start('ctr', ['run', '--cni', '--rm', '--cgroup', `/${CGROUP}/${id}`, IMAGE, id, 'sleep', '3600']);
  await waitFor(() => tasks().get(id)?.status === 'RUNNING' || bg.child.exitCode !== null, `task ${id} to run`, 30_000);
  if (bg.child.exitCode !== null) throw new Error(`ctr run ${id} exited ${bg.child.exitCode}:\n${bg.output()}`);
  return { id, ctr: bg, pid: tasks().get(id)!.pid };
}

/** `ctr task kill -s SIGKILL` (sleep as PID 1 ignores SIGTERM); the foreground ctr then sends DEL and exits. */
async function kill(c: Running): Promise<void> {
  ctr('task', 'kill', '-s', 'SIGKILL', c.id);
  // ctr exits with the task's status: 128 + 9.
  expect(await c.ctr.wait(20_000), c.ctr.output()).toBe(137);
}

/** What the plugin was sent for container `id`, by command. */
const sent = (command: string, id: string) => callsOf(record, command, `default-${id}`);

beforeAll(async () => {
  ({ node, record } = await openRuntimeNode({
    prefix: 'vbrt-ctd',
    paths: PRIVATE,
    cgroup: CGROUP,
    tools: [
      ['containerd', 'containerd'],
      ['ctr', 'containerd'],
    ],
  }));
  l3File = path.join(node.dir, 'rt-l3.conflist');
  writeFileSync(l3File, JSON.stringify({ cniVersion: '1.0.0', name: L3.name, plugins: [l3Plugin()] }));
  node.sh('sh', ['-c', 'cat > /etc/containerd/config.toml'], { input: CONFIG });
  await startContainerd();
  const image = buildImage(path.join(node.dir, 'image'));
  ctr('image', 'import', image.tar);
}, 360_000);

afterAll(async () => {
  if (!node) return;
  await containerd?.stop();
  await node.close();
}, 60_000);

describe('containerd 1.6: ctr run --cni', () => {
  const l2: Running[] = [];
  const l3: Running[] = [];

  it("two containers on the L2 network (Harvester's config): eth0 up at the uplink's MTU, reaching each other", async () => {
    useNetwork('l2');
    l2.push(await run('l2-a'), await run('l2-b'));
    const [a, b] = l2.map((c) => eth0(c.pid)!);
    // No mtu in the config: the uplink's 9000 (the reference plugin would leave 1500: Harvester issue #4353).
    expect(a).toMatchObject({ mtu: L2.uplinkMtu, up: true, ipv4: [] });
    expect(b).toMatchObject({ mtu: L2.uplinkMtu, up: true, ipv4: [] });
    // L2 only (`ipam: {}`): no addresses but the kernel's IPv6 link-local ones, which are enough to prove adjacency.
    ping(l2[0]!.pid, b!.linkLocal!);
    ping(l2[1]!.pid, a!.linkLocal!);
    expect(veths(node)).toHaveLength(2);

    // How go-cni called us: the container id with its namespace, the task's netns by pid, eth0, no CNI_ARGS.
    for (const c of l2) {
      const [add] = sent('ADD', c.id);
      expect(add!.env).toMatchObject({ CNI_NETNS: `/proc/${c.pid}/ns/net`, CNI_IFNAME: 'eth0' });
      // go-cni's /opt/cni/bin (Debian's containerd adds /usr/lib/cni, where its reference plugins are).
      expect(add!.env.CNI_PATH!.split(':')).toContain('/opt/cni/bin');
      expect(add!.env.CNI_ARGS ?? '').toBe('');
      expect(add!.conf).toEqual(l2Conf());
      expect(add!.rc).toBe(0);
    }
  });

  it('two containers on the host-local L3 network: addresses, the MTU of the config, each other and the gateway', async () => {
    useNetwork('l3');
    l3.push(await run('l3-a'), await run('l3-b'));
    const [a, b] = l3.map((c) => eth0(c.pid)!);
    for (const e of [a!, b!]) {
      expect(e).toMatchObject({ mtu: L3.mtu, up: true });
      expect(e.ipv4).toEqual([expect.stringMatching(/^10\.217\.0\.\d+\/24$/)]);
    }
    ping(l3[0]!.pid, b!.ipv4[0]!.split('/')[0]!);
    ping(l3[1]!.pid, a!.ipv4[0]!.split('/')[0]!);
    ping(l3[0]!.pid, L3.gateway);
    // Our ipMasq chain exists now, so the removal below has something to remove.
    expect(node.sh('iptables-save', ['-t', 'nat'])).toMatch(/-j CNI-[0-9a-f]{24}$/m);
    expect(sent('ADD', 'l3-a')[0]!.out.ips[0].address).toBe(a!.ipv4[0]);
  });

  it('CHECK through libcni, with the result go-cni cached, passes', () => {
    for (const c of l3) libcniCheck(node, l3File, `default-${c.id}`, `/proc/${c.pid}/ns/net`);
    expect(sent('CHECK', 'l3-a')).toHaveLength(1);
  });

  it('ctr task kill: each foreground ctr sends DEL (with no netns) and nothing is left', async () => {
    for (const c of [...l2, ...l3]) await kill(c);
    for (const c of [...l2, ...l3]) {
      const [del, ...more] = sent('DEL', c.id);
      expect(more).toEqual([]);
      expect(del!.env.CNI_NETNS ?? '').toBe('');
      expect(del!.rc).toBe(0);
    }
    expect(leftovers(node)).toEqual([]);
    expect(ctr('container', 'ls', '-q').trim()).toBe(''); // --rm removed them
  });

  it('containerd restarted under running containers, then removal: nothing left', async () => {
    useNetwork('l3');
    const before = [await run('r-a'), await run('r-b')];
    await containerd.stop();
    // ctr calls CNI itself, not the daemon: losing the daemon ends each foreground ctr, which first sends DEL.
    // The tasks run on (their shims stay), without a network; that is ctr's doing, and the plugin leaves nothing.
    for (const c of before) {
      expect(await c.ctr.wait(20_000), c.ctr.output()).toBe(1);
      expect(sent('DEL', c.id)).toHaveLength(1);
      expect(eth0(c.pid)).toBeUndefined();
    }
    expect(leftovers(node)).toEqual([]);

    await startContainerd();
    const after = tasks();
    for (const c of before) expect(after.get(c.id)).toEqual({ pid: c.pid, status: 'RUNNING' });
    // The network still works for containers started after the restart.
    const fresh = await run('r-c');
    expect(eth0(fresh.pid)!.ipv4).toHaveLength(1);
    ping(fresh.pid, L3.gateway);

    // The second removal: the tasks whose ctr is gone are removed by hand, the new one through its ctr.
    for (const c of before) {
      ctr('task', 'kill', '-s', 'SIGKILL', c.id);
      await waitFor(() => tasks().get(c.id)?.status === 'STOPPED', `task ${c.id} to stop`);
      ctr('task', 'rm', c.id);
      ctr('container', 'rm', c.id);
    }
    await kill(fresh);
    expect(sent('DEL', 'r-c')).toHaveLength(1);
    expect(leftovers(node)).toEqual([]);
    expect(ctr('container', 'ls', '-q').trim()).toBe('');
  });
});

describe('the host', () => {
  it('is untouched: its CNI, containerd and cgroup paths are as they were', async () => {
    await containerd.stop();
    await node.close(); // the node goes first: what the runtime kept there goes with it
    node = undefined as unknown as IsolatedNode;
    expect(hostPaths(HOST)).toEqual(hostBefore);
  });
});
