#!/usr/bin/env bun
// `make bench`: whole-process figures for bin/vlan-bridge beside the reference bridge plugin
// (/usr/lib/cni/bridge) and the floor of our runtime (bare `node -e 0`), all in one run, interleaved.
// Medians and p95; peak RSS from GNU time; ratios to the reference as they are. Writes bench/results/latest.json
// and latest.md. Everything runs inside namespaces made here (and in the UML kernel for VLAN figures).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BIN, ROOT, ensureBuilt } from '../test/lab/binary.js';
import { runInUml, removeUmlDir } from '../test/lab/uml.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 30);
const REF = '/usr/lib/cni/bridge';
const TIME = '/usr/bin/time';
const tag = process.pid.toString(16);
const node = `vbbench-${tag}`;
const tmp = mkdtempSync(path.join(os.tmpdir(), 'vb-bench-'));

type Stats = { median: number; p95: number; n: number };
const stats = (xs: number[]): Stats => {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  return { median: q(0.5), p95: q(0.95), n: s.length };
};
const sh = (cmd: string, ...args: string[]) => execFileSync(cmd, args, { encoding: 'utf8' });

interface Subject {
  name: string;
  cmd: string[];
  conf: (variant: 'l2' | 'host-local') => object;
}

const conf = (type: string, bridge: string, variant: 'l2' | 'host-local', dataDir: string) => ({
  cniVersion: '1.0.0',
  name: 'bench',
  type,
  bridge,
  ipam:
    variant === 'l2'
      ? {}
      : { type: 'host-local', subnet: bridge === 'br-ours' ? '10.201.0.0/16' : '10.202.0.0/16', dataDir },
});
const subjects: Subject[] = [
  { name: 'node -e 0 (floor)', cmd: [process.execPath, '-e', '0'], conf: () => ({}) },
  { name: 'vlan-bridge', cmd: [BIN], conf: (v) => conf('vlan-bridge', 'br-ours', v, path.join(tmp, 'ours')) },
  { name: 'reference bridge', cmd: [REF], conf: (v) => conf('bridge', 'br-ref', v, path.join(tmp, 'ref')) },
];

function env(command: string, pod: string, id: string): Record<string, string> {
  return {
    CNI_COMMAND: command,
    CNI_CONTAINERID: id,
    CNI_NETNS: `/run/netns/${pod}`,
    CNI_IFNAME: 'net1',
    CNI_PATH: '/usr/lib/cni',
    PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
  };
}

/** One timed call inside the node namespace; with rss, wrapped in GNU time for the peak RSS (KiB). */
function call(
  s: Subject,
  command: string,
  pod: string,
  id: string,
  variant: 'l2' | 'host-local',
  rss = false,
): { ms: number; kib?: number } {
  const out = path.join(tmp, 'rss');
  const argv = ['netns', 'exec', node, ...(rss ? [TIME, '-f', '%M', '-o', out] : []), ...s.cmd];
  const t0 = process.hrtime.bigint();
  const r = spawnSync('ip', argv, {
    input: JSON.stringify(s.conf(variant)),
    env: env(command, pod, id),
    encoding: 'utf8',
  });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${s.name} ${command} failed: ${r.stdout}${r.stderr}`);
  return rss ? { ms, kib: Number(readFileSync(out, 'utf8').trim().split('\n').pop()) } : { ms };
}

function addDel(variant: 'l2' | 'host-local') {
  const add: Record<string, number[]> = {};
  const del: Record<string, number[]> = {};
  const rss: Record<string, number[]> = {};
  for (const s of subjects) [add[s.name], del[s.name], rss[s.name]] = [[], [], []];
  const pod = `vbbp-${tag}`;
  for (let i = -2; i < RUNS; i++) {
    for (const s of subjects) {
      sh('ip', 'netns', 'add', pod);
      const measureRss = i >= 0 && i % 3 === 0;
      const a = call(s, 'ADD', pod, `c${i}`, variant, measureRss);
      const d = call(s, 'DEL', pod, `c${i}`, variant);
      sh('ip', 'netns', 'del', pod);
      if (i < 0) continue; // warm-up: bridges created, caches filled
      if (measureRss) rss[s.name]!.push(a.kib! / 1024);
      else {
        add[s.name]!.push(a.ms);
        del[s.name]!.push(d.ms);
      }
    }
  }
  return subjects.map((s) => ({
    subject: s.name,
    add: stats(add[s.name]!),
    del: stats(del[s.name]!),
    rssMiB: stats(rss[s.name]!),
  }));
}

function version() {
  const xs: Record<string, number[]> = { floor: [], ours: [], ref: [] };
  const t = (cmd: string[], e: Record<string, string>) => {
    const t0 = process.hrtime.bigint();
    spawnSync(cmd[0]!, cmd.slice(1), { env: e, input: '{"cniVersion":"1.0.0"}' });
    return Number(process.hrtime.bigint() - t0) / 1e6;
  };
  for (let i = 0; i < RUNS * 2; i++) {
    xs.floor!.push(t([process.execPath, '-e', '0'], {}));
    xs.ours!.push(t([BIN], { CNI_COMMAND: 'VERSION' }));
    xs.ref!.push(t([REF], { CNI_COMMAND: 'VERSION' }));
  }
  return { floor: stats(xs.floor!), ours: stats(xs.ours!), ref: stats(xs.ref!) };
}

function async(cmd: string[], e: Record<string, string>, input: string): Promise<number> {
  return new Promise((resolve) => {
    const p = spawn('ip', ['netns', 'exec', node, ...cmd], { env: e, stdio: ['pipe', 'ignore', 'ignore'] });
    p.on('close', (code) => resolve(code ?? 1));
    p.stdin.end(input);
  });
}

/** 32 concurrent ADDs, then 32 concurrent DELs, on one bridge, repeated. */
async function churn(s: Subject, rounds = 3) {
  const pods = Array.from({ length: 32 }, (_, i) => `vbch-${tag}-${i}`);
  let failures = 0;
  const times: number[] = [];
  for (let r = 0; r < rounds; r++) {
    for (const p of pods) sh('ip', 'netns', 'add', p);
    const t0 = process.hrtime.bigint();
    const adds = await Promise.all(
      pods.map((p, i) => async(s.cmd, env('ADD', p, `ch${r}-${i}`), JSON.stringify(s.conf('l2')))),
    );
    const dels = await Promise.all(
      pods.map((p, i) => async(s.cmd, env('DEL', p, `ch${r}-${i}`), JSON.stringify(s.conf('l2')))),
    );
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    failures += [...adds, ...dels].filter((c) => c !== 0).length;
    for (const p of pods) sh('ip', 'netns', 'del', p);
  }
  const t = stats(times);
  return {
    subject: s.name,
    rounds,
    opsPerRound: 64,
    medianRoundMs: t.median,
    opsPerSecond: 64000 / t.median,
    failures,
  };
}

/** In the UML kernel: access-VLAN ADD vs a 2-4094 trunk ADD (ours), and the reference's access ADD. */
async function umlVlan() {
  const bin = path.join(tmp, 'vlan-bridge');
  sh('cp', BIN, bin);
  const n = Math.max(5, Math.floor(RUNS / 3));
  const script = `set -eu
ip netns add node; ip -n node link add br0 type bridge vlan_filtering 1; ip -n node link set br0 up
run() { # subject conf id -> ms
  ip netns add p; s=$(date +%s%N)
  printf '%s' "$2" | ip netns exec node env CNI_COMMAND=ADD CNI_CONTAINERID=$3 CNI_NETNS=/run/netns/p CNI_IFNAME=net1 CNI_PATH=/usr/lib/cni "$1" > /dev/null
  e=$(date +%s%N)
  printf '%s' "$2" | ip netns exec node env CNI_COMMAND=DEL CNI_CONTAINERID=$3 CNI_NETNS=/run/netns/p CNI_IFNAME=net1 CNI_PATH=/usr/lib/cni "$1" > /dev/null
  ip netns del p; echo $(( (e - s) / 1000 ))
}
access='{"cniVersion":"1.0.0","name":"a","type":"vlan-bridge","bridge":"br0","vlan":100,"ipam":{}}'
trunk='{"cniVersion":"1.0.0","name":"t","type":"vlan-bridge","bridge":"br0","vlanTrunk":[{"minID":2,"maxID":4094}],"ipam":{}}'
for i in $(seq 0 ${n}); do
  echo "access $(run ${bin} "$access" a$i)"; echo "trunk $(run ${bin} "$trunk" t$i)"; echo "ref-access $(run ${REF} "$access" r$i)"
done > "$UML_WORK_DIR/uml-bench.txt"`;
  const r = await runInUml({ script, timeoutMs: 600_000 });
  try {
    if (r.exitCode !== 0) throw new Error(`UML bench failed (${r.exitCode}):\n${r.output}`);
    const lines = readFileSync(path.join(r.dir, 'uml-bench.txt'), 'utf8').trim().split('\n').slice(3); // first round warms up
    const by = (k: string) =>
      stats(lines.filter((l) => l.startsWith(`${k} `)).map((l) => Number(l.split(' ')[1]) / 1000));
    return { access: by('access'), trunk: by('trunk'), refAccess: by('ref-access') };
  } finally {
    removeUmlDir(r.dir);
  }
}

/**
 * Evicts an executable from the page cache (GNU dd: iflag=nocache count=0 drops the whole file), so that every
 * subject is read back through the same path. File-backed pages count in peak RSS, and how many a process maps
 * depends on how the file entered the cache: a freshly built bin/vlan-bridge (written by postject) showed 60 MiB
 * where the same bytes read from disk show 46 MiB. A node reads it from disk, as it does node and the reference.
 */
function dropPageCache(file: string): void {
  const r = spawnSync('dd', [`if=${file}`, 'iflag=nocache', 'count=0'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`dd could not drop ${file} from the page cache: ${r.stderr}`);
}

async function main() {
  ensureBuilt();
  for (const f of [BIN, REF, process.execPath]) dropPageCache(f);
  sh('ip', 'netns', 'add', node);
  try {
    const l2 = addDel('l2');
    const hl = addDel('host-local');
    const v = version();
    const ch = [await churn(subjects[1]!), await churn(subjects[2]!)];
    const uml = await umlVlan();
    const floor = l2[0]!;
    const ours = l2[1]!;
    const ref = l2[2]!;
    const goals = {
      addOverFloorMs: { value: ours.add.median - floor.add.median, goal: 25 },
      versionOverFloorMs: { value: v.ours.median - v.floor.median, goal: 10 },
      rssOverFloorMiB: { value: ours.rssMiB.median - floor.rssMiB.median, goal: 15 },
      trunkToAccess: { value: uml.trunk.median / uml.access.median, goal: 1.5 },
      churnFailures: { value: ch[0]!.failures, goal: 0 },
    };
    const met = (k: keyof typeof goals) => goals[k].value <= goals[k].goal;
    const result = {
      date: new Date().toISOString(),
      machine: `${os.cpus()[0]?.model ?? 'cpu'} x${os.cpus().length}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Linux ${os.release()}, node ${process.version}, load ${os.loadavg()[0]!.toFixed(2)}`,
      runs: RUNS,
      l2,
      hostLocal: hl,
      version: v,
      churn: ch,
      uml,
      goals: Object.fromEntries(
        Object.entries(goals).map(([k, g]) => [k, { ...g, met: met(k as keyof typeof goals) }]),
      ),
      ratiosToReference: {
        addL2: ours.add.median / ref.add.median,
        delL2: ours.del.median / ref.del.median,
        rss: ours.rssMiB.median / ref.rssMiB.median,
        version: v.ours.median / v.ref.median,
      },
    };
    const f = (x: number) => x.toFixed(1);
    const row = (label: string, r: (typeof l2)[number]) =>
      `| ${label} | ${r.subject} | ${f(r.add.median)} / ${f(r.add.p95)} | ${f(r.del.median)} / ${f(r.del.p95)} | ${f(r.rssMiB.median)} |`;
    const md = [
      `Measured ${result.date} on ${result.machine}; ${RUNS} interleaved runs per figure (median / p95, ms); executables evicted from the page cache first, so each is read from disk as on a node.`,
      '',
      '| network | subject | ADD | DEL | peak RSS MiB |',
      '| --- | --- | --- | --- | --- |',
      ...l2.map((r) => row('L2 untagged', r)),
      ...hl.map((r) => row('host-local', r)),
      '',
      '| | median ms | p95 ms |',
      '| --- | --- | --- |',
      `| VERSION, node -e 0 (floor) | ${f(v.floor.median)} | ${f(v.floor.p95)} |`,
      `| VERSION, vlan-bridge | ${f(v.ours.median)} | ${f(v.ours.p95)} |`,
      `| VERSION, reference | ${f(v.ref.median)} | ${f(v.ref.p95)} |`,
      `| UML: access-VLAN ADD, vlan-bridge | ${f(uml.access.median)} | ${f(uml.access.p95)} |`,
      `| UML: 2-4094 trunk ADD, vlan-bridge | ${f(uml.trunk.median)} | ${f(uml.trunk.p95)} |`,
      `| UML: access-VLAN ADD, reference | ${f(uml.refAccess.median)} | ${f(uml.refAccess.p95)} |`,
      '',
      '| churn: 32 concurrent ADD then DEL, 3 rounds | ops/s | failures |',
      '| --- | --- | --- |',
      ...ch.map((c) => `| ${c.subject} | ${f(c.opsPerSecond)} | ${c.failures} |`),
      '',
      '| goal | value | target | met |',
      '| --- | --- | --- | --- |',
      ...Object.entries(result.goals).map(
        ([k, g]) => `| ${k} | ${g.value.toFixed(2)} | <= ${g.goal} | ${g.met ? 'yes' : 'no'} |`,
      ),
      '',
      `Ratios to the reference (ours / reference, medians): ADD ${f(result.ratiosToReference.addL2)}x, DEL ${f(result.ratiosToReference.delL2)}x, ` +
        `peak RSS ${f(result.ratiosToReference.rss)}x, VERSION ${f(result.ratiosToReference.version)}x.`,
    ].join('\n');
    mkdirSync(path.join(ROOT, 'bench/results'), { recursive: true });
    writeFileSync(path.join(ROOT, 'bench/results/latest.json'), `${JSON.stringify(result, null, 2)}\n`);
    writeFileSync(path.join(ROOT, 'bench/results/latest.md'), `${md}\n`);
    console.log(md);
  } finally {
    spawnSync('ip', ['netns', 'del', node]);
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
