// Turns the samples of one `make bench` run into figures, targets and the two results files. Every line that shows
// a reference figure names the reference's release (1.9.1), the heading its path and Debian version. Ratios are
// ours / reference taken round by round (both ran in the same round, so a slowdown of the machine hits both) and
// their median quoted; the start-up ladder's steps are round-by-round differences, likewise.
import type { umlVlan } from './uml.js';
import { pairedDiff, pairedRatio, stats, type HostSamples, type Stats } from './common.js';

interface Input {
  start: { date: string; load: number[] };
  end: { date: string; load: number[] };
  machine: { cpu: string; cpus: number; memGiB: number; kernel: string; bun: string };
  /** The reference plugin: its upstream release, its path (relative to the repository) and Debian's version. */
  reference: { release: string; path: string; package: string };
  host: HostSamples;
  uml: Awaited<ReturnType<typeof umlVlan>>;
  /** Wall seconds of the host part (rounds and churn) and of the UML part, boot included. */
  durationsS: { host: number; uml: number };
}

interface Goal {
  what: string;
  value: number;
  /** `<=` or `>=` the target; the aim is the figure wanted, the target the one that must hold. */
  sense: '<=' | '>=';
  target: number;
  aim: number;
  unit: string;
}

export function report(input: Input) {
  const { host, uml } = input;
  /** "reference 1.9.1": how every label names the reference. */
  const ref = `reference ${input.reference.release}`;
  const ms = (k: string) => host.ms[k]!;
  const t = (k: string) => stats(ms(k));
  const cpu = (k: string) => host.cpuMs[k]!;
  const tc = (k: string) => stats(cpu(k));
  const rss = (k: string) => stats(host.rssKiB[k]!.map((kib) => kib / 1024));
  const sum = (of: (k: string) => number[], a: string, b: string) => of(a).map((x, i) => x + of(b)[i]!);
  const cycle = (v: 'l2' | 'hl' | 'l2.p250' | 'l2.p1000') => ({
    ours: stats(sum(ms, `ours.${v}.add`, `ours.${v}.del`)),
    ref: stats(sum(ms, `ref.${v}.add`, `ref.${v}.del`)),
    ratio: pairedRatio(sum(ms, `ours.${v}.add`, `ours.${v}.del`), sum(ms, `ref.${v}.add`, `ref.${v}.del`)),
    cpuMs: {
      ours: stats(sum(cpu, `ours.${v}.add`, `ours.${v}.del`)),
      ref: stats(sum(cpu, `ref.${v}.add`, `ref.${v}.del`)),
    },
  });
  // The L2 cycle against the node's size: other ports on the bridge (bench/host.ts), each plugin against its own
  // empty-bridge cycle of the same round.
  const l2Sum = (who: string, p: string) => sum(ms, `${who}.l2${p}.add`, `${who}.l2${p}.del`);
  const bySize = ([0, 250, 1000] as const).map((ports) => {
    const p = ports ? `.p${ports}` : '';
    return {
      ports,
      ...cycle(ports ? (`l2${p}` as 'l2.p250' | 'l2.p1000') : 'l2'),
      oursToEmpty: pairedRatio(l2Sum('ours', p), l2Sum('ours', '')),
      refToEmpty: pairedRatio(l2Sum('ref', p), l2Sum('ref', '')),
    };
  });

  const call = (ours: string, ref: string) => ({
    ours: t(ours),
    ref: t(ref),
    ratio: pairedRatio(ms(ours), ms(ref)),
    cpuMs: { ours: tc(ours), ref: tc(ref) },
    rssMiB: { ours: rss(ours), ref: rss(ref) },
  });
  const calls = {
    version: call('ours.version', 'ref.version'),
    l2Add: call('ours.l2.add', 'ref.l2.add'),
    l2Del: call('ours.l2.del', 'ref.l2.del'),
    hostLocalAdd: call('ours.hl.add', 'ref.hl.add'),
    hostLocalDel: call('ours.hl.del', 'ref.hl.del'),
  };
  const cycles = { l2: cycle('l2'), hostLocal: cycle('hl') };
  const gc = call('ours.gc', 'ref.gc');

  const ladder = [
    ['spawn and reap of /bin/true: the harness, in every figure', 'true'],
    ['(a) empty compiled Bun executable: the runtime starts and exits', 'empty-bun'],
    ['(b) ours, VERSION: our bundle starts, no config', 'ours.version'],
    [
      '(c) ours, ADD refused on prevResult, its config valid: config code and zod, no kernel layer',
      'ours.refused-prev',
    ],
    [
      '(d) ours, ADD refused after the plugin loaded (CNI_NETNS is its own netns): no kernel work',
      'ours.refused-netns',
    ],
    ['(e) ours, L2 ADD', 'ours.l2.add'],
    ['ours, ADD refused by the schema (vlan 4095): (c) with zod reporting an issue', 'ours.refused-schema'],
    [`${ref}, VERSION`, 'ref.version'],
    [`${ref}, L2 ADD`, 'ref.l2.add'],
  ].map(([what, k]) => ({ what: what!, figure: k!, ms: t(k!), cpuMs: tc(k!), rssMiB: rss(k!) }));
  const step = (what: string, a: string, b: string) => ({
    what,
    ms: pairedDiff(ms(a), ms(b)),
    cpuMs: pairedDiff(cpu(a), cpu(b)),
  });
  const steps = [
    { what: 'runtime start (a), the harness included', ms: t('empty-bun'), cpuMs: tc('empty-bun') },
    step('our bundle: load, VERSION reply (b - a)', 'ours.version', 'empty-bun'),
    step('config: decode, command code, zod schema, a valid config (c - b)', 'ours.refused-prev', 'ours.version'),
    step('plugin and kernel-layer modules (d - c)', 'ours.refused-netns', 'ours.refused-prev'),
    step('kernel work: libc via bun:ffi, netlink, netns, veth (e - d)', 'ours.l2.add', 'ours.refused-netns'),
    step(`${ref}: config and kernel work (its ADD - its VERSION)`, 'ref.l2.add', 'ref.version'),
    step("zod's error path, beside the ladder (schema refusal - c)", 'ours.refused-schema', 'ours.refused-prev'),
  ];

  const ops = (roundMs: number[]) => 64_000 / stats(roundMs).median;
  const churn = {
    opsPerRound: 64,
    rounds: host.churn.ours.roundMs.length,
    ours: { opsPerSecond: ops(host.churn.ours.roundMs), failures: host.churn.ours.failures },
    ref: { opsPerSecond: ops(host.churn.ref.roundMs), failures: host.churn.ref.failures },
    ratio: pairedRatio(host.churn.ref.roundMs, host.churn.ours.roundMs), // ours ops/s over the reference's
  };

  const goal = (what: string, value: number, sense: Goal['sense'], target: number, aim = target, unit = 'x') =>
    ({ what, value, sense, target, aim, unit }) satisfies Goal;
  const at1000 = bySize[2]!;
  // Issue 24's targets.
  const goals: Record<string, Goal> = {
    growth: goal('L2 cycle, ours: 1000 other ports / none', at1000.oursToEmpty.median, '<=', 1.15),
    l2Cycle: goal(`L2 ADD+DEL cycle, ours / ${ref}, no other port`, cycles.l2.ratio.median, '<=', 1.2),
    l2Cycle1000: goal(`L2 ADD+DEL cycle, ours / ${ref}, 1000 other ports`, at1000.ratio.median, '<=', 1.2),
    version: goal(`VERSION, ours / ${ref}`, calls.version.ratio.median, '<=', 1.5),
    peakRss: goal('peak RSS of an L2 ADD, ours', calls.l2Add.rssMiB.ours.median, '<=', 28, 28, ' MiB'),
    gc: goal('GC, 1000 valid attachments, ours (ms)', gc.ours.median, '<=', 500, 500, ' ms'),
    churn: goal(`churn ops/s, ours / ${ref}`, churn.ratio.median, '>=', 0.6),
    failures: goal('failures of ours (churn; a failed timed call stops the run)', churn.ours.failures, '<=', 0, 0, ''),
    trunkToAccess: goal('UML: 2-4094 trunk ADD / access ADD, ours', uml.trunkToAccess.median, '<=', 1.5),
  };
  const holds = (g: Goal, bound: number) => (g.sense === '<=' ? g.value <= bound : g.value >= bound);
  const verdict = (g: Goal) =>
    !holds(g, g.target) ? 'missed' : g.aim === g.target ? 'met' : holds(g, g.aim) ? 'met, aim met' : 'met, aim missed';

  const { host: _samples, ...about } = input;
  const json = {
    ...about,
    runs: host.runs,
    rssRuns: host.rssRuns,
    calls,
    cycles,
    bySize,
    gc,
    ladder,
    steps,
    churn,
    goals: Object.fromEntries(Object.entries(goals).map(([k, g]) => [k, { ...g, status: verdict(g) }])),
    samples: {
      ms: host.ms,
      cpuMs: host.cpuMs,
      rssKiB: host.rssKiB,
      churnRoundMs: { ours: host.churn.ours.roundMs, ref: host.churn.ref.roundMs },
    },
  };

  const f = (x: number, d = 1) => x.toFixed(d);
  const mp = (s: Stats) => `${f(s.median)} / ${f(s.p95)}`;
  const load = (l: number[]) => l.map((x) => x.toFixed(2)).join(' ');
  const m = input.machine;
  const row = (label: string, c: (typeof calls)[keyof typeof calls]) =>
    `| ${label} | ${mp(c.ours)} | ${mp(c.ref)} | ${f(c.ratio.median, 2)}x | ${f(c.cpuMs.ours.median)} / ${f(c.cpuMs.ref.median)} | ${f(c.rssMiB.ours.median)} / ${f(c.rssMiB.ref.median)} |`;
  const cyc = (label: string, c: typeof cycles.l2) =>
    `| ${label} | ${mp(c.ours)} | ${mp(c.ref)} | ${f(c.ratio.median, 2)}x | ${f(c.cpuMs.ours.median)} / ${f(c.cpuMs.ref.median)} | |`;
  const md = [
    `Measured ${input.start.date} on ${m.cpu} x${m.cpus}, ${m.memGiB} GiB, Linux ${m.kernel}; Bun ${m.bun}. ` +
      `Load average (1, 5, 15 min) ${load(input.start.load)} at the start, ${load(input.end.load)} at the end. ` +
      `Reference: the bridge plugin of containernetworking/plugins ${input.reference.release}, ` +
      `${input.reference.path} (Debian ${input.reference.package}), with its host-local as both plugins' IPAM.`,
    '',
    `${host.runs} timed rounds, each running every call once in a rotated order, plus ${host.rssRuns} rounds under ` +
      'GNU time for peak RSS; wall ms as median / p95; ours / ref is the median of the per-round ratios of wall ' +
      'times; CPU ms (user + system, children included) as medians. ' +
      'Executables were evicted from the page cache first, so each is read from disk as on a node. ' +
      `The run took ${f(input.durationsS.host, 0)} s on the host and ${f(input.durationsS.uml, 0)} s in UML.`,
    '',
    `| call | vlan-bridge ms | ${ref} ms | ours / ${ref} | CPU ms, ours / ref | peak RSS MiB, ours / ref |`,
    '| --- | --- | --- | --- | --- | --- |',
    row('VERSION', calls.version),
    row('L2 ADD', calls.l2Add),
    row('L2 DEL', calls.l2Del),
    cyc('L2 ADD+DEL cycle', cycles.l2),
    row('host-local ADD', calls.hostLocalAdd),
    row('host-local DEL', calls.hostLocalDel),
    cyc('host-local ADD+DEL cycle', cycles.hostLocal),
    row('GC, 1000 valid attachments (the reference: a no-op)', gc),
    '',
    `| L2 ADD+DEL cycle, other ports on the bridge | vlan-bridge ms | ${ref} ms | ours / ${ref} | ours / ours with none | ref / ref with none |`,
    '| --- | --- | --- | --- | --- | --- |',
    ...bySize.map(
      (b) =>
        `| ${b.ports} | ${mp(b.ours)} | ${mp(b.ref)} | ${f(b.ratio.median, 2)}x | ${f(b.oursToEmpty.median, 2)}x | ${f(b.refToEmpty.median, 2)}x |`,
    ),
    '',
    `| churn: 32 concurrent ADD then 32 DEL, L2, ${churn.rounds} rounds each | ops/s (median round) | failures |`,
    '| --- | --- | --- |',
    `| vlan-bridge | ${f(churn.ours.opsPerSecond)} | ${churn.ours.failures} |`,
    `| ${ref} | ${f(churn.ref.opsPerSecond)} | ${churn.ref.failures} |`,
    `| ours / ${ref} | ${f(churn.ratio.median, 2)}x | |`,
    '',
    'Where our start-up goes, whole processes in the same rounds (nothing in src/ is instrumented):',
    '',
    '| call | ms | CPU ms | peak RSS MiB |',
    '| --- | --- | --- | --- |',
    ...ladder.map((l) => `| ${l.what} | ${mp(l.ms)} | ${mp(l.cpuMs)} | ${f(l.rssMiB.median)} |`),
    '',
    '| step (round-by-round differences) | ms | CPU ms |',
    '| --- | --- | --- |',
    ...steps.map((s) => `| ${s.what} | ${mp(s.ms)} | ${mp(s.cpuMs)} |`),
    '',
    `| UML kernel, ${uml.rounds} rounds | ms |`,
    '| --- | --- |',
    `| access-VLAN ADD, vlan-bridge | ${mp(uml.access)} |`,
    `| 2-4094 trunk ADD, vlan-bridge | ${mp(uml.trunk)} |`,
    `| access-VLAN ADD, ${ref} | ${mp(uml.refAccess)} |`,
    '',
    '| goal | value | target | aim | status |',
    '| --- | --- | --- | --- | --- |',
    ...Object.values(goals).map(
      (g) =>
        `| ${g.what} | ${f(g.value, Number.isInteger(g.value) ? 0 : 2)}${g.unit} | ${g.sense} ${g.target}${g.unit} | ` +
        `${g.aim === g.target ? '' : `${g.sense} ${g.aim}${g.unit}`} | ${verdict(g)} |`,
    ),
  ].join('\n');
  return { json, md };
}
