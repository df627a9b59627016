// podman 4.3 (Debian's) with its CNI network backend calls the plugin. What it sends, read in containers/common
// v0.50.1 libnetwork/cni (run.go, network.go) and podman v4.3.1 libpod/networking_common.go: every command that
// loads networks validates each config through libcni (VERSION to every plugin); ADD and DEL with the netns podman
// made under /run/netns, CNI_IFNAME eth0, CNI_ARGS `IgnoreUnknown=1;K8S_POD_NAME=<name>` plus `MAC=` for
// --mac-address and `IP=` for --ip, runtimeConfig for the capabilities a plugin declares (portMappings, aliases);
// DEL gets the config and result podman's libcni cached at ADD. `podman network reload` is DEL then ADD in the same
// netns with the same MAC and IP. A container that exits is cleaned up by `podman container cleanup`, which conmon
// starts: another process, another DEL.
//
// Everything runs in an isolated node (test/lab/isolated-node.ts): containers.conf is an overlay of the host's
// /etc/containers, podman's storage, run and lock directories, the CNI directories and libcni's cache are private
// tmpfs, the network is a namespace of its own, containers' cgroups go under a parent of this file's.
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
  calls,
  callsOf,
  eth0,
  hostPaths,
  PODMAN_PATHS,
  l2Plugin,
  l3Plugin,
  leftovers,
  libcniCheck,
  ping,
  veths,
  openRuntimeNode,
} from './lab.js';

const PRIVATE = PODMAN_PATHS;
const CGROUP = `vbrt-${randomBytes(4).toString('hex')}`;
// (/run/netns, /var/tmp and /dev/shm are shared with everything else on the host: only podman's lock file there.)
const HOST = [
  ...PRIVATE.filter((p) => !p.startsWith('keep:') && !['/run/netns', '/var/tmp', '/dev/shm'].includes(p)),
  '/opt/cni',
  '/dev/shm/libpod_lock',
  '/etc/containers/containers.conf',
  ...readdirSync('/sys/fs/cgroup').map((h) => `/sys/fs/cgroup/${h}/libpod_parent`),
];
// The CNI backend, and what this kind of machine needs: runc (crun refuses hybrid cgroup hierarchies), cgroupfs (no
// systemd) and ulimits root may set without CAP_SYS_RESOURCE. The README's "With podman" gives the same file.
const CONTAINERS_CONF = `[network]
network_backend = "cni"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"

[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
`;
const SOCKET = 'unix:///run/podman/podman.sock';
// podman's CNI backend reads only .conflist files: Harvester's L2 config as a list of one.
const L2_LIST = {
  cniVersion: '0.3.1',
  name: L2.name,
  plugins: [l2Plugin()],
};
// Our plugin declares capabilities podman fills (a port mapping, network aliases): they reach us in runtimeConfig.
// portmap follows us, as in podman's own default network, and maps ports from our result.
const L3_LIST = {
  cniVersion: '1.0.0',
  name: L3.name,
  plugins: [
    l3Plugin({ capabilities: { portMappings: true, aliases: true } }),
    { type: 'portmap', capabilities: { portMappings: true } },
  ],
};

let node: IsolatedNode;
let record: string;
let l3File: string;
const hostBefore = hostPaths(HOST);

const podman = (...args: string[]) => node.sh('podman', args);
const remote = (...args: string[]) => node.sh('podman', ['--remote', '--url', SOCKET, ...args]);

/** `podman run -d` on network `net`; returns the container's full id and pid. */
function run(name: string, net: string, extra: string[] = [], cmd = ['sleep', '3600'], via = podman) {
  const flags = ['-d', '--cgroup-parent', `/${CGROUP}`, '--name', name, '--network', net, ...extra];
  const id = via('run', ...flags, IMAGE, ...cmd).trim();
  return { name, id, pid: pidOf(name) };
}
const pidOf = (name: string) => Number(podman('inspect', '-f', '{{.State.Pid}}', name));
const netnsOf = (name: string) => podman('inspect', '-f', '{{.NetworkSettings.SandboxKey}}', name).trim();
const sent = (command: string, id: string) => callsOf(record, command, id);
const ipOf = (pid: number) => eth0(pid)!.ipv4[0]!.split('/')[0]!;

beforeAll(async () => {
  ({ node, record } = await openRuntimeNode({
    prefix: 'vbrt-pod',
    paths: PRIVATE,
    cgroup: CGROUP,
    tools: [
      ['podman', 'podman'],
      ['conmon', 'conmon'],
      ['/usr/lib/cni/portmap', 'containernetworking-plugins'],
    ],
  }));
  node.sh('sh', ['-c', 'cat > /etc/containers/containers.conf'], { input: CONTAINERS_CONF });
  const write = (file: string, conf: object) =>
    node.sh('sh', ['-c', `cat > /etc/cni/net.d/${file}`], { input: JSON.stringify(conf) });
  write('10-rt-l2.conflist', L2_LIST);
  write('20-rt-l3.conflist', L3_LIST);
  // CHECK goes to our plugin only: Debian's portmap (1.1.1) fails its own CHECK here, looking for the IPv6 DNAT
  // chain of a container that has no IPv6 address.
  l3File = path.join(node.dir, 'rt-l3.conflist');
  writeFileSync(l3File, JSON.stringify({ ...L3_LIST, plugins: L3_LIST.plugins.slice(0, 1) }));
  const image = buildImage(path.join(node.dir, 'image'));
  podman('load', '-q', '-i', image.tar);
}, 360_000);

afterAll(async () => {
  if (node) await node.close();
}, 60_000);

describe('podman 4.3 with the CNI backend', () => {
  let a1: ReturnType<typeof run>, a2: ReturnType<typeof run>, b1: ReturnType<typeof run>, b2: ReturnType<typeof run>;
  const MAC_A1 = '02:00:00:00:0a:01';
  const MAC_B1 = '02:00:00:00:0b:01';
  const STATIC_IP = '10.217.0.50';

  it('podman network ls, inspect and exists read the vlan-bridge configs (libcni validates them with VERSION)', () => {
    const nets = JSON.parse(podman('network', 'ls', '--format', 'json')) as Array<{ name: string; driver: string }>;
    expect(nets.filter((n) => n.name.startsWith('rt-')).map((n) => [n.name, n.driver])).toEqual([
      [L2.name, 'vlan-bridge'],
      [L3.name, 'vlan-bridge'],
    ]);
    const inspected = JSON.parse(podman('network', 'inspect', L2.name, L3.name));
    expect(inspected.map((n: any) => n.name)).toEqual([L2.name, L3.name]);
    expect(node.run('podman', ['network', 'exists', L3.name]).code).toBe(0);
    // libcni asks each plugin for its versions (stdin {"cniVersion":"1.0.0"}, CNI_PATH and the rest "dummy") and
    // compares with each list's cniVersion: a network whose plugin failed here would be left out of the list above.
    const versions = calls(record).filter((c) => c.command === 'VERSION');
    expect(versions.length).toBeGreaterThanOrEqual(2);
    for (const v of versions) {
      expect(v.rc).toBe(0);
      expect(v.out.supportedVersions).toEqual(expect.arrayContaining(['0.3.1', '1.0.0']));
    }
  });

  it('two containers on the L2 network: the MAC asked with --mac-address, the uplink MTU, each other', () => {
    a1 = run('a1', L2.name, ['--mac-address', MAC_A1]);
    a2 = run('a2', L2.name);
    const [e1, e2] = [eth0(a1.pid)!, eth0(a2.pid)!];
    expect(e1).toMatchObject({ mac: MAC_A1, mtu: L2.uplinkMtu, up: true, ipv4: [] });
    expect(e2).toMatchObject({ mtu: L2.uplinkMtu, up: true, ipv4: [] });
    ping(a1.pid, e2.linkLocal!);
    ping(a2.pid, e1.linkLocal!);

    const [add] = sent('ADD', a1.id);
    expect(add!.env).toMatchObject({
      CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAME=a1;MAC=${MAC_A1}`,
      CNI_IFNAME: 'eth0',
      CNI_NETNS: netnsOf('a1'),
    });
    expect(add!.out.interfaces[2]).toMatchObject({ name: 'eth0', mac: MAC_A1 });
    const settings = JSON.parse(podman('inspect', '-f', '{{json .NetworkSettings.Networks}}', 'a1'));
    expect(settings[L2.name].MacAddress).toBe(MAC_A1);
  });

  it('two on the L3 network with a port mapping, an alias and a static IP: runtimeConfig and CNI_ARGS do not disturb the plugin', () => {
    b1 = run(
      'b1',
      L3.name,
      ['-p', '8080:80', '--network-alias', 'web', '--mac-address', MAC_B1],
      ['httpd', '-f', '-p', '80', '-h', '/www'],
    );
    b2 = run('b2', L3.name, ['--ip', STATIC_IP]);
    const [e1, e2] = [eth0(b1.pid)!, eth0(b2.pid)!];
    expect(e1).toMatchObject({ mac: MAC_B1, mtu: L3.mtu, up: true, ipv4: [expect.stringMatching(/^10\.217\.0\./)] });
    expect(e2).toMatchObject({ mtu: L3.mtu, up: true, ipv4: [`${STATIC_IP}/24`] });
    ping(b1.pid, STATIC_IP);
    ping(b2.pid, ipOf(b1.pid));
    ping(b2.pid, L3.gateway);

    const [add] = sent('ADD', b1.id);
    expect(add!.conf.runtimeConfig).toEqual({
      portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }],
      aliases: { [L3.name]: ['web', b1.id.slice(0, 12)] },
    });
    expect(sent('ADD', b2.id)[0]!.env.CNI_ARGS).toBe(`IgnoreUnknown=1;K8S_POD_NAME=b2;IP=${STATIC_IP}`);
    // portmap, chained after us, forwarded the port from our result: the page comes from httpd in b1.
    expect(node.sh('busybox', ['wget', '-q', '-O', '-', `http://${L3.gateway}:8080/`])).toBe('vlan-bridge test page\n');
    const settings = JSON.parse(podman('inspect', '-f', '{{json .NetworkSettings.Networks}}', 'b1'));
    expect(settings[L3.name]).toMatchObject({ IPAddress: ipOf(b1.pid), MacAddress: MAC_B1, Gateway: L3.gateway });
  });

  it('CHECK through libcni, with the result podman cached, passes', () => {
    for (const c of [b1, b2]) {
      libcniCheck(node, l3File, c.id, netnsOf(c.name));
      expect(sent('CHECK', c.id).map((x) => x.rc)).toEqual([0]);
    }
  });

  it('podman network reload: DEL then ADD in the same netns, the same MAC and address, one veth each', () => {
    const before = { a1: eth0(a1.pid)!, b1: eth0(b1.pid)!, netns: netnsOf('b1') };
    podman('network', 'reload', 'a1', 'b1');
    for (const c of [a1, b1]) {
      const sequence = calls(record).filter((x) => x.env.CNI_CONTAINERID === c.id && x.command !== 'CHECK');
      expect(sequence.map((x) => `${x.command} ${x.rc}`)).toEqual(['ADD 0', 'DEL 0', 'ADD 0']);
      expect(sequence[2]!.env.CNI_ARGS).toContain(`MAC=${before[c.name as 'a1' | 'b1'].mac}`);
    }
    expect(eth0(a1.pid)!.mac).toBe(before.a1.mac);
    expect(eth0(b1.pid)).toMatchObject({ mac: before.b1.mac, ipv4: before.b1.ipv4, up: true });
    expect(netnsOf('b1')).toBe(before.netns);
    expect(veths(node)).toHaveLength(4);
    ping(b2.pid, ipOf(b1.pid));
    ping(a2.pid, eth0(a1.pid)!.linkLocal!);
    expect(node.sh('busybox', ['wget', '-q', '-O', '-', `http://${L3.gateway}:8080/`])).toBe('vlan-bridge test page\n');
  });

  it('a container that exits: the cleanup conmon starts sends DEL', async () => {
    const c = run('c1', L3.name, [], ['sleep', '1']);
    await waitFor(() => sent('DEL', c.id).length === 1, 'the cleanup DEL of c1', 30_000);
    expect(sent('DEL', c.id)[0]!.rc).toBe(0);
    expect(veths(node)).toHaveLength(4);
    // The veth went with the netns anyway; the address only comes back through DEL and host-local.
    const addr = sent('ADD', c.id)[0]!.out.ips[0].address.split('/')[0];
    expect(node.run('test', ['-e', `/var/lib/cni/networks/${L3.name}/${addr}`]).code).toBe(1);
    podman('rm', 'c1');
    expect(sent('DEL', c.id)).toHaveLength(1); // nothing to tear down any more
  });

  it('podman rm -f: DEL for each, and nothing is left', () => {
    podman('rm', '-f', '-t', '0', 'a1', 'a2', 'b1', 'b2');
    for (const c of [a1, a2, b1, b2]) expect(sent('DEL', c.id).at(-1)!.rc).toBe(0);
    expect(leftovers(node)).toEqual([]);
    expect(podman('ps', '-aq').trim()).toBe('');
    expect(node.sh('ls', ['-A', '/run/netns']).trim()).toBe(''); // podman's netns files
  });

  it('the podman service restarted under running containers, then removal: nothing left', async () => {
    const start = async (): Promise<Background> => {
      const svc = node.start('podman', ['system', 'service', '--time', '0', SOCKET]);
      const up = () => node.run('podman', ['--remote', '--url', SOCKET, 'version']).code === 0;
      await waitFor(() => up() || svc.child.exitCode !== null, 'the podman service', 30_000);
      if (!up()) throw new Error(`podman system service exited:\n${svc.output()}`);
      return svc;
    };
    let svc = await start();
    const d1 = run('d1', L2.name, [], undefined, remote);
    const d2 = run('d2', L3.name, [], undefined, remote);
    const addr = ipOf(d2.pid);
    await svc.stop();
    // conmon keeps the containers; nothing was torn down, so the network is still there.
    expect(podman('ps', '--format', '{{.Names}}').split('\n').filter(Boolean).sort()).toEqual(['d1', 'd2']);
    expect(sent('DEL', d2.id)).toEqual([]);
    ping(d2.pid, L3.gateway);
    expect(eth0(d1.pid)!.up).toBe(true);

    svc = await start();
    remote('rm', '-f', '-t', '0', 'd1', 'd2');
    await svc.stop();
    for (const c of [d1, d2]) expect(sent('DEL', c.id).map((x) => x.rc)).toEqual([0]);
    expect(leftovers(node)).toEqual([]);
    expect(podman('ps', '-aq').trim()).toBe('');
    // The address went back to host-local: the next container may have it.
    const e = run('e1', L3.name, ['--ip', addr]);
    expect(eth0(e.pid)!.ipv4).toEqual([`${addr}/24`]);
    podman('rm', '-f', '-t', '0', 'e1');
    expect(leftovers(node)).toEqual([]);
  });
});

describe('the host', () => {
  it('is untouched: its CNI, containers and cgroup paths are as they were', async () => {
    await node.close();
    node = undefined as unknown as IsolatedNode;
    expect(hostPaths(HOST)).toEqual(hostBefore);
  });
});
