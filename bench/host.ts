// The host-kernel part of `make bench`, started by bench/run.ts inside the node namespace it made
// (`ip netns exec <node> bun bench/host.ts <out.json>`): every timed process is then a direct child of this one, and
// no figure carries the 2-3 ms that `ip netns exec` itself costs per call (a large share of the reference's ADD).
// The pods' namespaces are made here too, in the mount namespace `ip netns exec` gave us, so they vanish with us.
//
// Timing: our own interleaving, not an external A/B timer. Each round runs every probe below once, in an order
// rotated by one each round (so no probe always follows the same one), and figures are compared round by round;
// this needs what a two-command A/B timer does not give: a dozen subjects, a per-call environment and stdin, a pod
// namespace prepared between calls, ADD and DEL timed separately inside one cycle, and a harness that anyone who
// runs `make bench` has. Wall time from Bun.spawnSync's start to the child's reaping (the harness's own part is
// the `/bin/true` probe); CPU time beside it, which a loaded machine disturbs less. Peak RSS: every fourth round
// runs each call under GNU time instead, and is not timed. Not the reaped child's own ru_maxrss: Bun forks it from
// this ~25 MiB process and the count includes the pages it had before exec (22 MiB for /bin/true).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { BIN } from '../test/lab/binary.js';
import { CNI_PATH, EMPTY_BUN, REF, TIME, type ChurnSamples, type HostSamples } from './common.js';

const RUNS = Number(process.env.RUNS ?? 40);
const WARMUP = 2; // rounds not counted: bridges made, pages read, host-local's store created
const CHURN_ROUNDS = Number(process.env.CHURN_ROUNDS ?? 3);
const out = process.argv[2];
if (!out || !(RUNS >= 3)) throw new Error('usage: RUNS=<n >= 3> bun bench/host.ts <out.json>');
const tmp = `${out}.d`;

type Variant = 'l2' | 'host-local';
type Who = 'ours' | 'ref';
const SUBJECT = {
  ours: { cmd: [BIN], type: 'vlan-bridge', bridge: 'br-ours' },
  ref: { cmd: [REF], type: 'bridge', bridge: 'br-ref' },
};

/**
 * The node's size (issue 24): the L2 cycle also runs on bridges that already have this many other ports, plain veth
 * pairs with their peers in the node namespace (so 2N links each), one bridge per plugin and size, built the same
 * way. Their host ends carry vlan-bridge's alias for an attachment of network GC_NETWORK (the reference ignores
 * aliases), so that GC, with all of them in valid-attachments, has 1000 attachments to keep.
 */
const PORTS = [250, 1000] as const;
const GC_NETWORK = 'bench-gc';
const bridgeOf = (who: Who, ports: number) => (ports === 0 ? SUBJECT[who].bridge : `br-${who}-${ports}`);

function conf(who: Who, variant: Variant, extra: object = {}, ports = 0): Buffer {
  const { type } = SUBJECT[who];
  const bridge = bridgeOf(who, ports);
  const subnet = who === 'ours' ? '10.201.0.0/16' : '10.202.0.0/16';
  const ipam = variant === 'l2' ? {} : { type: 'host-local', subnet, dataDir: `${tmp}/ipam-${who}` };
  return Buffer.from(JSON.stringify({ cniVersion: '1.0.0', name: 'bench', type, bridge, ipam, ...extra }));
}

function cniEnv(command: string, netns: string, id: string): Record<string, string> {
  return {
    CNI_COMMAND: command,
    CNI_CONTAINERID: id,
    CNI_NETNS: netns,
    CNI_IFNAME: 'net1',
    CNI_PATH,
    PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
  };
}

/** One process to time; `expect` is its exit status and, for a refusal, the CNI error code on stdout. */
interface Call {
  figure: string;
  cmd: string[];
  env: (round: number) => Record<string, string>;
  stdin: Buffer;
  expect?: { status: 1; code: number };
}

const sh = (...cmd: string[]) => {
  const r = Bun.spawnSync({ cmd, stdout: 'pipe', stderr: 'pipe' });
  if (r.exitCode !== 0) throw new Error(`${cmd.join(' ')}: ${r.stderr.toString()}`);
};

const pod = (name: string) => `/run/netns/vbb-${name}`;
const empty = Buffer.alloc(0);
const version = Buffer.from('{"cniVersion":"1.0.0"}');

/** ADD then DEL of one attachment in its own pod namespace (made once, emptied by each DEL). */
function cycle(who: Who, variant: Variant, ports = 0): Call[] {
  const tag = `${who}.${variant === 'l2' ? 'l2' : 'hl'}${ports ? `.p${ports}` : ''}`;
  const stdin = conf(who, variant, {}, ports);
  const id = (round: number) => `${tag}-${round}`;
  return (['ADD', 'DEL'] as const).map((command) => ({
    figure: `${tag}.${command.toLowerCase()}`,
    cmd: SUBJECT[who].cmd,
    env: (round) => cniEnv(command, pod(tag), id(round)),
    stdin,
  }));
}

/**
 * The probes of a round. Besides the plugins' calls, the start-up ladder of ours: the runtime alone (an empty
 * compiled Bun), VERSION (our bundle starts; no config), an ADD whose config passes the schema and is refused on
 * its prevResult (not an object: refused without zod) before the plugin loads (config code and zod load and run;
 * no kernel layer), an ADD refused after the plugin loaded (CNI_NETNS is the plugin's own namespace: the kernel
 * layer's modules load, nothing is asked of the kernel), and the L2 ADD itself. Beside the ladder, an ADD refused by
 * the schema itself: what zod's error path adds (its messages are built on first use).
 */
const probes: Call[][] = [
  [{ figure: 'true', cmd: ['/bin/true'], env: () => ({}), stdin: empty }],
  [{ figure: 'empty-bun', cmd: [EMPTY_BUN], env: () => ({}), stdin: empty }],
  [{ figure: 'ours.version', cmd: [BIN], env: () => ({ CNI_COMMAND: 'VERSION' }), stdin: version }],
  [{ figure: 'ref.version', cmd: [REF], env: () => ({ CNI_COMMAND: 'VERSION' }), stdin: version }],
  [
    {
      figure: 'ours.refused-prev',
      cmd: [BIN],
      env: (round) => cniEnv('ADD', pod('ours.l2'), `refused-${round}`),
      stdin: conf('ours', 'l2', { prevResult: 'refused' }),
      expect: { status: 1, code: 7 },
    },
  ],
  [
    {
      figure: 'ours.refused-schema',
      cmd: [BIN],
      env: (round) => cniEnv('ADD', pod('ours.l2'), `refused-${round}`),
      stdin: conf('ours', 'l2', { vlan: 4095 }),
      expect: { status: 1, code: 7 },
    },
  ],
  [
    {
      figure: 'ours.refused-netns',
      cmd: [BIN],
      env: (round) => cniEnv('ADD', '/proc/self/ns/net', `refused-${round}`),
      stdin: conf('ours', 'l2'),
      expect: { status: 1, code: 8 },
    },
  ],
  cycle('ours', 'l2'),
  cycle('ref', 'l2'),
  cycle('ours', 'host-local'),
  cycle('ref', 'host-local'),
  ...PORTS.flatMap((n) => [cycle('ours', 'l2', n), cycle('ref', 'l2', n)]),
  ...(['ours', 'ref'] as const).map((who) => [gc(who)]),
];

/**
 * GC (CNI 1.1.0) of network GC_NETWORK on the 1000-port bridge, every one of its 1000 attachments listed as valid:
 * nothing to remove. The reference's GC does nothing at all (v1.9.1), so its figure is a process start.
 */
function gc(who: Who): Call {
  const n = 1000;
  const valid = Array.from({ length: n }, (_, i) => ({ containerID: attachmentId(i), ifname: 'net1' }));
  const stdin = Buffer.from(
    JSON.stringify({
      cniVersion: '1.1.0',
      name: GC_NETWORK,
      type: SUBJECT[who].type,
      bridge: bridgeOf(who, n),
      ipam: {},
      'cni.dev/valid-attachments': valid,
    }),
  );
  return {
    figure: `${who}.gc`,
    cmd: SUBJECT[who].cmd,
    env: () => ({ CNI_COMMAND: 'GC', CNI_PATH, PATH: '/usr/sbin:/usr/bin:/sbin:/bin' }),
    stdin,
  };
}

/** The container ID of the i-th labelled port (a function: the probes above are built before this line runs). */
function attachmentId(i: number): string {
  return `gc-${i}`;
}

/** A bridge with `n` other ports (veth pairs, peers in this namespace), each labelled an attachment of GC_NETWORK. */
function fillBridge(who: Who, n: number): void {
  const br = bridgeOf(who, n);
  const lines = [`link add ${br} type bridge`, `link set ${br} up`];
  for (let i = 0; i < n; i++) {
    const a = `${who[0]}${n}a${i}`;
    lines.push(`link add ${a} type veth peer name ${who[0]}${n}b${i}`);
    lines.push(`link set ${a} master ${br} alias vlan-bridge:${GC_NETWORK}:${attachmentId(i)}:net1`);
  }
  writeFileSync(`${tmp}/${br}.batch`, `${lines.join('\n')}\n`);
  sh('ip', '-batch', `${tmp}/${br}.batch`);
}

/** How many ports bridge `br` has (ip -j link show master), to check that nothing (GC) removed any. */
function portCount(br: string): number {
  const r = Bun.spawnSync({ cmd: ['ip', '-j', 'link', 'show', 'master', br], stdout: 'pipe' });
  return (JSON.parse(r.stdout.toString() || '[]') as unknown[]).length;
}

/**
 * Runs one call; returns its wall ms and CPU ms (user + system, from the kernel's accounting of the reaped child
 * and its reaped children), or with rss its peak RSS in KiB (GNU time around it, not timed).
 */
function run(c: Call, round: number, rss: boolean): { ms: number; cpuMs: number } | { kib: number } {
  const rssFile = `${tmp}/rss`;
  const cmd = rss ? [TIME, '-f', '%M', '-o', rssFile, ...c.cmd] : c.cmd;
  const env = c.env(round);
  const t0 = Bun.nanoseconds();
  const r = Bun.spawnSync({ cmd, env, stdin: c.stdin, stdout: 'pipe', stderr: 'pipe' });
  const ms = (Bun.nanoseconds() - t0) / 1e6;
  const stdout = r.stdout.toString();
  const ok = c.expect
    ? r.exitCode === c.expect.status && (JSON.parse(stdout) as { code?: number }).code === c.expect.code
    : r.exitCode === 0;
  if (!ok) throw new Error(`${c.figure} (round ${round}) exited ${r.exitCode}: ${stdout}${r.stderr.toString()}`);
  if (rss) return { kib: Number(readFileSync(rssFile, 'utf8').trim().split('\n').pop()) };
  return { ms, cpuMs: Number(r.resourceUsage.cpuTime.total) / 1000 };
}

/** 32 concurrent ADDs, then 32 concurrent DELs, on one bridge, in pods made once. */
async function churnRound(who: Who, round: number, pods: string[], into: ChurnSamples, timed = true): Promise<void> {
  const stdin = conf(who, 'l2');
  const wave = (command: string) =>
    Promise.all(
      pods.map(
        (p, i) =>
          Bun.spawn({
            cmd: SUBJECT[who].cmd,
            env: cniEnv(command, p, `churn-${who}-${round}-${i}`),
            stdin,
            stdout: 'ignore',
            stderr: 'ignore',
          }).exited,
      ),
    );
  const t0 = Bun.nanoseconds();
  const codes = [...(await wave('ADD')), ...(await wave('DEL'))];
  if (timed) into.roundMs.push((Bun.nanoseconds() - t0) / 1e6);
  into.failures += codes.filter((c) => c !== 0).length;
}

async function main(): Promise<void> {
  mkdirSync(tmp, { recursive: true });
  const churnPods = Array.from({ length: 32 }, (_, i) => `churn-${i}`);
  const sized = PORTS.flatMap((n) => [`ours.l2.p${n}`, `ref.l2.p${n}`]);
  const pods = [...['ours.l2', 'ref.l2', 'ours.hl', 'ref.hl'], ...sized, ...churnPods];
  for (const p of pods) sh('ip', 'netns', 'add', `vbb-${p}`);
  try {
    for (const n of PORTS) for (const who of ['ours', 'ref'] as const) fillBridge(who, n);
    await measure(churnPods.map(pod));
    for (const n of PORTS)
      for (const who of ['ours', 'ref'] as const)
        if (portCount(bridgeOf(who, n)) !== n) throw new Error(`${bridgeOf(who, n)} lost ports during the run`);
  } finally {
    for (const p of pods) Bun.spawnSync({ cmd: ['ip', 'netns', 'del', `vbb-${p}`] });
  }
}

async function measure(churnPods: string[]): Promise<void> {
  // Warm-up rounds, then a timed round at a time with an RSS round after every third.
  const schedule: ('warm' | 'time' | 'rss')[] = Array(WARMUP).fill('warm');
  for (let i = 1; i <= RUNS; i++) schedule.push(...(i % 3 === 0 ? (['time', 'rss'] as const) : (['time'] as const)));
  const res: HostSamples = {
    runs: RUNS,
    rssRuns: schedule.filter((k) => k === 'rss').length,
    ms: {},
    cpuMs: {},
    rssKiB: {},
    churn: { ours: { roundMs: [], failures: 0 }, ref: { roundMs: [], failures: 0 } },
  };
  for (const [round, kind] of schedule.entries()) {
    for (let j = 0; j < probes.length; j++) {
      for (const c of probes[(j + round) % probes.length]!) {
        const v = run(c, round, kind === 'rss');
        if (kind === 'warm') continue;
        if ('kib' in v) (res.rssKiB[c.figure] ??= []).push(v.kib);
        else {
          (res.ms[c.figure] ??= []).push(v.ms);
          (res.cpuMs[c.figure] ??= []).push(v.cpuMs);
        }
      }
    }
    if (round % 10 === 9) console.error(`bench: host round ${round + 1} of ${schedule.length}`);
  }

  // Churn: the two plugins alternate, each starting every other pair of rounds; one warm-up round each first.
  for (const who of ['ours', 'ref'] as const) await churnRound(who, -1, churnPods, res.churn[who], false);
  for (let r = 0; r < CHURN_ROUNDS; r++) {
    const order: Who[] = r % 2 === 0 ? ['ours', 'ref'] : ['ref', 'ours'];
    for (const who of order) await churnRound(who, r, churnPods, res.churn[who]);
  }
  writeFileSync(out!, `${JSON.stringify(res)}\n`);
}

await main();
