// What bench/run.ts and bench/host.ts share: the subjects' paths and the statistics.
import path from 'node:path';
import { ROOT } from '../test/lab/binary.js';
import { REFERENCE } from '../test/lab/peer.js';

/**
 * The reference: the current release of containernetworking/plugins, 1.9.1 (Debian unstable's build, unpacked by
 * `make deps` into build/reference-1.9.1; test/lab/peer.ts), whose release, path and Debian version every report
 * line names.
 */
export { REFERENCE };
/** Its bridge plugin. */
export const REF = REFERENCE.bridge;
/** CNI_PATH of every call, ours and the reference's: the reference's own host-local is the IPAM of both. */
export const CNI_PATH = REFERENCE.dir;
/** GNU time (Debian package time), for each whole process's peak RSS (%M, KiB). */
export const TIME = '/usr/bin/time';
/** `bun build --compile` of an empty file with our build's flags: the runtime's own start, built by run.ts. */
export const EMPTY_BUN = path.join(ROOT, 'build', 'empty-bun');
/** The Bun that builds bin/vlan-bridge (the pinned npm package), so the empty executable is the same runtime. */
export const PINNED_BUN = path.join(ROOT, 'node_modules', '@oven', 'bun-linux-x64', 'bin', 'bun');

export type Stats = { median: number; p95: number; n: number };

/** Median (mean of the middle two for an even count) and nearest-rank p95. */
export function stats(xs: number[]): Stats {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return { median: NaN, p95: NaN, n: 0 };
  const mid = s.length >> 1;
  const median = s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { median, p95: s[Math.ceil(0.95 * s.length) - 1]!, n: s.length };
}

/** Statistics of a[i] / b[i]: the two ran in the same round, so a slowdown of the machine hits both. */
export const pairedRatio = (a: number[], b: number[]): Stats => stats(a.map((x, i) => x / b[i]!));

/** Statistics of a[i] - b[i], same rounds. */
export const pairedDiff = (a: number[], b: number[]): Stats => stats(a.map((x, i) => x - b[i]!));

/** What bench/host.ts measured inside the node namespace, as it hands it to bench/run.ts. */
export interface HostSamples {
  runs: number;
  rssRuns: number;
  /** Wall ms of each timed call, one entry per timed round (round i of every figure is the same round). */
  ms: Record<string, number[]>;
  /** CPU ms (user + system) of the same calls, the process and the children it reaped. */
  cpuMs: Record<string, number[]>;
  /** GNU time's maximum resident set (KiB) of each call, from the rounds run under /usr/bin/time. */
  rssKiB: Record<string, number[]>;
  churn: { ours: ChurnSamples; ref: ChurnSamples };
}

export interface ChurnSamples {
  /** Wall ms of each round: 32 concurrent ADDs, then 32 concurrent DELs. */
  roundMs: number[];
  failures: number;
}
