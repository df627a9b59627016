// What the Kubernetes tier's test file leans on, so that it can show the chain and little else: the Go parts
// (Multus, crictl) built and waited for, the node (containerd with its CRI plugin, in an isolated node), pods
// shaped as kubelet sends them to the CRI, KubeVirt's network annotation, the NetworkAttachmentDefinitions of
// deploy/, and reading a sandbox's interfaces.
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { ROOT } from '../lab/binary.js';
import { type Background, type IsolatedNode } from '../lab/isolated-node.js';
import { waitFor } from '../lab/wait.js';

export const MULTUS = path.join(ROOT, 'build', 'k8s', 'multus');
export const CRICTL = path.join(ROOT, 'build', 'k8s', 'crictl');
const BUILD_SCRIPT = path.join(ROOT, 'test', 'k8s', 'build.sh');
/** Where test/run.mjs has the background build write (test/k8s/build.sh). */
const BUILD_LOG = path.join(ROOT, 'build', 'k8s', 'build.log');

/**
 * How long the tier waits for Multus and crictl: a cold build takes about 4 minutes of both cores, but the
 * background build is niced under the other tiers' load (16 minutes were measured on a machine running two other
 * test suites besides).
 */
export const BUILD_WAIT_MS = 1_800_000;

/**
 * Multus and crictl, built from ../shared/vendor (test/k8s/build.sh). test/run.mjs starts that build in the
 * background before vitest starts; running the script again waits for it (an flock) and then finds both up to
 * date. Run alone (`make test-k8s`), this is the build itself: about 4 minutes cold on 2 cores.
 */
export async function buildK8sParts(): Promise<void> {
  // Waited for without blocking this process, so that vitest's own timeouts and reporting keep working.
  const r = await new Promise<{ status: number | null; signal: string | null; stdout: string; stderr: string }>(
    (resolve) => {
      const child = spawn('bash', [BUILD_SCRIPT], {
        stdio: ['ignore', 'pipe', 'pipe'],
        timeout: BUILD_WAIT_MS - 60_000,
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.on('close', (status, signal) => resolve({ status, signal, stdout, stderr }));
    },
  );
  if (r.status !== 0) {
    let log = '';
    try {
      log = `\n--- ${BUILD_LOG} (the background build) ---\n${readFileSync(BUILD_LOG, 'utf8')}`;
    } catch {
      // no background build ran
    }
    throw new Error(`${BUILD_SCRIPT} failed (${r.status ?? r.signal}):\n${r.stdout}${r.stderr}${log}`);
  }
}

// ---- the pod sandbox image ------------------------------------------------------------------------------------

/** The sandbox ("pause") image containerd's CRI plugin starts each pod with (`sandbox_image`). */
export const PAUSE_IMAGE = 'localhost/vlan-bridge/pause:1';

/**
 * Builds the sandbox image from Debian's busybox (no registry here): a process that only sleeps, as
 * registry.k8s.io/pause only waits. The CRI plugin kills it with SIGKILL when the sandbox stops.
 */
export function buildPauseImage(dir: string): string {
  const r = spawnSync(
    'bash',
    [path.join(ROOT, 'test', 'runtimes', 'busybox-image.sh'), dir, PAUSE_IMAGE, '/bin/sleep', '2147483647'],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`busybox-image.sh failed:\n${r.stdout}${r.stderr}`);
  return path.join(dir, 'image.tar');
}

// ---- containerd ------------------------------------------------------------------------------------------------

/** containerd started in the node (its own config), and how to restart it. */
export interface Containerd {
  process: Background;
  /** Stops it with SIGTERM (its shims and the pods' processes keep running) and waits for it to exit. */
  stop(): Promise<void>;
  /** Starts it again with the same config and waits until the CRI answers. */
  start(): Promise<void>;
}

/** Starts containerd in `node` with `/etc/containerd/config.toml` and waits until crictl gets an answer. */
export async function startContainerd(node: IsolatedNode): Promise<Containerd> {
  const c: Containerd = {
    process: undefined as unknown as Background,
    async stop() {
      expectExit(await c.process.stop('SIGTERM', 20_000), c.process.output());
    },
    async start() {
      c.process = node.start('containerd', ['--config', '/etc/containerd/config.toml']);
      await waitFor(
        // (`crictl info` involves no CNI call, so it may block this process while it runs.)
        () =>
          node.run(CRICTL, ['--config', crictlConfig(node), 'info']).code === 0 || c.process.child.exitCode !== null,
        "containerd's CRI plugin to answer",
        30_000,
      );
      if (c.process.child.exitCode !== null) throw new Error(`containerd exited:\n${c.process.output()}`);
    },
  };
  await c.start();
  return c;
}

function expectExit(code: number | string, output: string): void {
  if (code !== 0) throw new Error(`containerd did not exit cleanly (${code}):\n${output.slice(-4000)}`);
}

/** Imports an image archive into containerd's `k8s.io` namespace, the one its CRI plugin uses. */
export function importImage(node: IsolatedNode, tar: string): void {
  node.sh('ctr', ['--namespace', 'k8s.io', 'image', 'import', tar]);
}

// ---- crictl: kubelet's CRI calls -------------------------------------------------------------------------------

/**
 * crictl's config: containerd's socket, as kubelet's --container-runtime-endpoint names it, and kubelet's default
 * runtime request timeout, 2 minutes. crictl reads /etc/crictl.yaml, else a crictl.yaml beside itself, unless told.
 */
const CRICTL_CONFIG = `runtime-endpoint: unix:///run/containerd/containerd.sock
image-endpoint: unix:///run/containerd/containerd.sock
timeout: 120
`;

/** The node's crictl.yaml (in its test directory), written on first use. */
function crictlConfig(node: IsolatedNode): string {
  const config = path.join(node.dir, 'crictl.yaml');
  if (!existsSync(config)) writeFileSync(config, CRICTL_CONFIG);
  return config;
}

/**
 * Runs crictl in the node against containerd's CRI and waits for it without blocking: the API server stand-in
 * answers Multus from this process's event loop while crictl waits for containerd, which waits for Multus.
 * Throws with its output unless it exits 0 (`check: false` returns the result instead).
 */
export async function crictl(
  node: IsolatedNode,
  args: string[],
  o: { check?: boolean } = {},
): Promise<{ code: number | string; stdout: string; stderr: string }> {
  const p = node.start(CRICTL, ['--config', crictlConfig(node), ...args]);
  let stdout = '';
  let stderr = '';
  p.child.stdout!.on('data', (d) => (stdout += d));
  p.child.stderr!.on('data', (d) => (stderr += d));
  const code = await p.wait(150_000);
  if (o.check !== false && code !== 0) throw new Error(`crictl ${args.join(' ')} exited ${code}:\n${stdout}${stderr}`);
  return { code, stdout, stderr };
}

/** A pod sandbox as `crictl inspectp` shows it: its state, its network namespace's path and its pid. */
export async function inspectSandbox(
  node: IsolatedNode,
  id: string,
): Promise<{ state: string; netns: string; pid: number }> {
  const j = JSON.parse((await crictl(node, ['inspectp', '--output', 'json', id])).stdout);
  const netns = (j.info.runtimeSpec.linux.namespaces as any[]).find((n) => n.type === 'network')?.path;
  return { state: j.status.state, netns, pid: j.info.pid };
}

/** `crictl pods`: every sandbox's id, name, namespace and state. */
export async function sandboxes(
  node: IsolatedNode,
): Promise<Array<{ id: string; name: string; namespace: string; state: string }>> {
  const j = JSON.parse((await crictl(node, ['pods', '--output', 'json'])).stdout);
  return (j.items ?? []).map((p: any) => ({
    id: p.id,
    name: p.metadata.name,
    namespace: p.metadata.namespace,
    state: p.state,
  }));
}

// ---- pods ------------------------------------------------------------------------------------------------------

/**
 * The PodSandboxConfig kubelet sends with RunPodSandbox for `pod` (as the API server stores it), as kubelet's
 * kuberuntime builds it (kubernetes pkg/kubelet/kuberuntime/kuberuntime_sandbox.go, generatePodSandboxConfig):
 * metadata from the pod (name, namespace, uid, attempt 0), its labels plus kubelet's io.kubernetes.pod.* labels,
 * its annotations (the `k8s.v1.cni.cncf.io/networks` annotation reaches the CNI plugin only this way: containerd
 * passes the pod's name, namespace and uid in CNI_ARGS, and Multus reads the annotation back from the API server),
 * the hostname, the log directory /var/log/pods/<namespace>_<name>_<uid>, and the Linux part: the cgroup parent
 * (cgroupfs driver) and the namespace options (network and IPC per pod, PID per container).
 */
export function sandboxConfig(pod: any, cgroupParent: string): object {
  const { name, namespace, uid } = pod.metadata;
  return {
    metadata: { name, namespace, uid, attempt: 0 },
    hostname: name,
    log_directory: `/var/log/pods/${namespace}_${name}_${uid}`,
    labels: {
      ...pod.metadata.labels,
      'io.kubernetes.pod.name': name,
      'io.kubernetes.pod.namespace': namespace,
      'io.kubernetes.pod.uid': uid,
    },
    annotations: {
      ...pod.metadata.annotations,
      'kubernetes.io/config.source': 'api',
      'kubernetes.io/config.seen': new Date().toISOString(),
    },
    linux: {
      cgroup_parent: `${cgroupParent}/pod${uid}`,
      security_context: { namespace_options: { network: 0, pid: 1, ipc: 0 } }, // POD, CONTAINER, POD
    },
  };
}

/**
 * The pod interface name KubeVirt gives a VM's secondary network: "pod" and the first 11 hex digits of the
 * sha256 of the network's name in the VM spec (kubevirt pkg/network/namescheme/networknamescheme.go,
 * GenerateHashedInterfaceName).
 */
export const kubevirtIfname = (vmNetwork: string): string =>
  `pod${createHash('sha256').update(vmNetwork).digest('hex').slice(0, 11)}`;

/**
 * The `k8s.v1.cni.cncf.io/networks` annotation KubeVirt writes on a VM's launcher pod: one selection element per
 * Multus network of the VM, in JSON, with the NAD's name and namespace, the pod interface name (hashed) and the
 * MAC the VM's interface asks for (kubevirt pkg/network/multus/annotation.go, NewAnnotationData).
 */
export function kubevirtNetworksAnnotation(
  nets: Array<{ vmNetwork: string; nad: string; namespace: string; mac: string }>,
): string {
  return JSON.stringify(
    nets.map((n) => ({ name: n.nad, namespace: n.namespace, mac: n.mac, interface: kubevirtIfname(n.vmNetwork) })),
  );
}

/**
 * The cluster network every pod gets as eth0 (README "With Kubernetes", step 1): the reference bridge plugin with
 * host-local, as the delegate of Multus's config. `defaultGateway`: the pod's default route goes through it (the
 * UML guest's pods take theirs from DHCP on a VLAN network); `ipamDir`: host-local's dataDir, for a node whose
 * /var/lib/cni is the host's.
 */
export function clusterNetwork(o: { defaultGateway: boolean; ipamDir?: string }): {
  cniVersion: string;
  name: string;
  plugins: object[];
} {
  return {
    cniVersion: '1.0.0',
    name: 'k8s-pod-network',
    plugins: [
      {
        type: 'bridge',
        bridge: 'cni0',
        isGateway: true,
        ...(o.defaultGateway ? { isDefaultGateway: true } : {}),
        ipam: {
          type: 'host-local',
          ranges: [[{ subnet: '10.244.0.0/24' }]],
          ...(o.ipamDir ? { dataDir: o.ipamDir } : {}),
        },
      },
    ],
  };
}

/** A locally administered unicast MAC, new each time. */
export const randomMac = (): string =>
  ['02', ...[...randomBytes(5)].map((b) => b.toString(16).padStart(2, '0'))].join(':');

/** The NetworkAttachmentDefinitions of deploy/nad-*.yaml, parsed, by file name (`vlan100`, `untagged`...). */
export function deployNads(): Record<string, any> {
  const dir = path.join(ROOT, 'deploy');
  const out: Record<string, any> = {};
  for (const f of readdirSync(dir).filter((f) => /^nad-.*\.yaml$/.test(f)))
    out[f.slice('nad-'.length, -'.yaml'.length)] = parse(readFileSync(path.join(dir, f), 'utf8'));
  return out;
}

// ---- inside a sandbox ------------------------------------------------------------------------------------------

export interface PodInterface {
  name: string;
  mac: string;
  mtu: number;
  up: boolean;
  ipv4: string[];
  linkLocal?: string;
}

/** Runs a command in a network namespace of the node (a sandbox's, by its path). */
export function inSandbox(node: IsolatedNode, netns: string, cmd: string, ...args: string[]) {
  return node.run('nsenter', [`--net=${netns}`, cmd, ...args], { timeoutMs: 30_000 });
}

/** Every interface of a sandbox but lo, by name. */
export function podInterfaces(node: IsolatedNode, netns: string): Record<string, PodInterface> {
  const r = inSandbox(node, netns, 'ip', '-j', 'addr', 'show');
  if (r.code !== 0) throw new Error(`ip addr in ${netns}: ${r.stdout}${r.stderr}`);
  const out: Record<string, PodInterface> = {};
  for (const l of JSON.parse(r.stdout) as any[]) {
    if (l.ifname === 'lo') continue;
    const addrs: any[] = l.addr_info ?? [];
    out[l.ifname] = {
      name: l.ifname,
      mac: l.address,
      mtu: l.mtu,
      up: (l.flags as string[]).includes('UP'),
      ipv4: addrs.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`),
      linkLocal: addrs.find((a) => a.family === 'inet6' && a.scope === 'link')?.local,
    };
  }
  return out;
}

/** Whether one ICMP echo from the sandbox `netns` out of interface `dev` to `to` is answered. */
export function pings(node: IsolatedNode, netns: string, dev: string, to: string): boolean {
  const dst = to.startsWith('fe80:') ? `${to}%${dev}` : to;
  return inSandbox(node, netns, 'ping', '-c', '1', '-W', '2', '-I', dev, dst).code === 0;
}

/** Waits until IPv6 DAD has given every interface of the sandbox its link-local address. */
export async function linkLocalsReady(node: IsolatedNode, netns: string): Promise<Record<string, PodInterface>> {
  let ifs: Record<string, PodInterface> = {};
  await waitFor(
    () => {
      ifs = podInterfaces(node, netns);
      return Object.values(ifs).every((i) => i.linkLocal !== undefined);
    },
    `link-local addresses in ${netns}`,
    10_000,
  );
  return ifs;
}

/** Writes a file in the node's shared test directory and returns its path. */
export function nodeFile(node: IsolatedNode, name: string, content: string): string {
  const f = path.join(node.dir, name);
  writeFileSync(f, content);
  return f;
}
