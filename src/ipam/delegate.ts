// Delegated IPAM: run $CNI_PATH/<ipam.type> with our environment (CNI_COMMAND per call) and the whole config on
// stdin, as libcni's invoke package does. Its error codes pass through unchanged; its result is read in any
// spec version. Runs only from the host namespace, never from inside inNetns (a child inherits the thread's
// namespace). Every call is bounded: SIGTERM after the config's `ipamTimeout`, SIGKILL IPAM_GRACE_MS later.
import { accessSync, constants, statSync } from 'node:fs';
import type { Ctx } from '../cni/context.js';
import { CniError, Code, cut, show } from '../cni/errors.js';
import type { Env } from '../cni/env.js';
import { checkJsonDepth } from '../cni/depth.js';
import { jsonSyntaxError } from '../cni/json-syntax.js';
import { parseResult, type Result } from '../cni/result.js';
import { SUPPORTED_VERSIONS, compareVersions, effectiveVersion } from '../cni/versions.js';
import { SpawnError, spawnBounded } from '../kernel/spawn.js';

/** The IPAM call of a request: the config's ipam.type, CNI_PATH, the environment and the config as received. */
export function ipamCall(req: { path: string[] }, ctx: Ctx): IpamCall {
  return {
    type: ctx.conf.ipam.type ?? '',
    path: req.path,
    env: ctx.env,
    stdin: ctx.rawConfig,
    version: effectiveVersion(ctx.conf.cniVersion),
    timeoutMs: ctx.conf.ipamTimeout * 1000,
  };
}

/** Between SIGTERM and SIGKILL (ms) for an IPAM plugin that overran `ipamTimeout`. */
export const IPAM_GRACE_MS = 2000;

export interface IpamCall {
  type: string;
  path: string[];
  env: Env;
  /** The network configuration exactly as we received it. */
  stdin: string;
  /** The config's version, for results that carry none. */
  version: string;
  /** `ipamTimeout` in ms, as the config was parsed (the default when DEL left an invalid one out). */
  timeoutMs: number;
}

export function findPlugin(type: string, path: string[]): string {
  if (type.includes('/'))
    throw new CniError(
      Code.InvalidConfig,
      'invalid network configuration',
      `ipam.type: must be a plugin name, not a path (got ${show(type)})`,
    );
  for (const dir of path) {
    const file = `${dir}/${type}`;
    try {
      accessSync(file, constants.X_OK);
      if (statSync(file).isFile()) return file;
    } catch {
      // not in this directory
    }
  }
  throw new CniError(
    Code.Ipam,
    `failed to find IPAM plugin ${show(type)}`,
    `searched CNI_PATH: ${cut(path.join(':')) || '(empty)'}`,
  );
}

/**
 * Runs the plugin for `command`; returns its stdout when it exits 0. Throws its own CNI error (code passed
 * through), code 104 when it cannot be started, overran `ipamTimeout` (SIGTERM, then SIGKILL IPAM_GRACE_MS later;
 * the wait ends then) or failed without a CNI error. A plugin that exits without reading all of stdin is judged
 * by its exit status and output.
 */
function run(call: IpamCall, command: string, stdin = call.stdin): string {
  const file = findPlugin(call.type, call.path);
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(call.env)) if (v !== undefined) env[k] = v;
  env.CNI_COMMAND = command;
  const limit = call.timeoutMs;
  let r;
  try {
    r = spawnBounded(file, [], { input: stdin, env, timeoutMs: limit, graceMs: IPAM_GRACE_MS });
  } catch (err) {
    if (err instanceof SpawnError)
      throw new CniError(Code.Ipam, `IPAM plugin ${call.type} ${command} failed: ${err.message}`);
    throw err;
  }
  if (r.timedOut) {
    const how = r.killed ? `SIGTERM, then SIGKILL ${IPAM_GRACE_MS / 1000} s later` : 'SIGTERM';
    throw new CniError(
      Code.Ipam,
      `IPAM plugin ${call.type} ${command} timed out after ${limit / 1000} s (ipamTimeout)`,
      `stopped with ${how}`,
    );
  }
  if (r.status === 0) return r.stdout;
  // A failing plugin prints a CNI error on stdout: pass its code through unchanged.
  try {
    const e = JSON.parse(r.stdout) as { code?: unknown; msg?: unknown; details?: unknown };
    if (typeof e.code === 'number') {
      throw new CniError(
        e.code,
        typeof e.msg === 'string' ? e.msg : `IPAM plugin ${call.type} ${command} failed`,
        typeof e.details === 'string' ? e.details : '',
      );
    }
  } catch (err) {
    if (err instanceof CniError) throw err;
  }
  const stderr = (r.stderr || r.stdout || '').trim().split('\n').slice(-3).join(' | ');
  throw new CniError(Code.Ipam, `IPAM plugin ${call.type} ${command} failed (exit ${r.status ?? r.signal})`, stderr);
}

export function ipamAdd(call: IpamCall): Result {
  const out = run(call, 'ADD');
  checkJsonDepth(out, `IPAM plugin ${call.type} result`, Code.Ipam);
  let json: unknown;
  try {
    json = JSON.parse(out);
  } catch {
    throw new CniError(
      Code.Ipam,
      `IPAM plugin ${call.type} printed no JSON result`,
      `${jsonSyntaxError(out)}; it printed ${show(out)}`,
    );
  }
  const result = parseResult(json, { code: Code.Ipam, root: 'ipam result', fallbackVersion: call.version });
  if (!result.ips || result.ips.length === 0)
    throw new CniError(Code.Ipam, `IPAM plugin ${call.type} returned no IP addresses`);
  return result;
}

export function ipamDel(call: IpamCall): void {
  run(call, 'DEL');
}

export function ipamCheck(call: IpamCall): void {
  run(call, 'CHECK');
}

/** The spec versions the plugin says it speaks (VERSION); none when its answer is not one. */
function ipamVersions(call: IpamCall): string[] {
  const out = run(call, 'VERSION', JSON.stringify({ cniVersion: SUPPORTED_VERSIONS[SUPPORTED_VERSIONS.length - 1] }));
  try {
    const v = JSON.parse(out) as { supportedVersions?: unknown };
    return Array.isArray(v.supportedVersions) ? v.supportedVersions.filter((x) => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

/** Whether the plugin speaks `version` (libcni skips GC/STATUS for plugins older than 1.1.0). */
export function ipamSupports(call: IpamCall, version: string): boolean {
  return ipamVersions(call).some((s) => compareVersionsSafe(s, version) === 0);
}

/**
 * GC's release of the addresses of attachments the runtime no longer lists (CNI spec 1.1.0, GC: "remove any
 * resources related to attachments not in the list"), for IPAM plugins that do not collect garbage themselves
 * (host-local, v1.9.1: "FIXME GC" in its main.go): IPAM DEL with each attachment's container ID and ifname
 * and no netns, as the runtime's DEL of it would have made. The config goes at the newest spec version the plugin
 * speaks up to the config's own (GC's config is 1.1.0; host-local 1.1.1 speaks up to 1.0.0). Goes on past
 * failures; returns them, one line each.
 */
export function ipamRelease(call: IpamCall, attachments: Array<{ containerId: string; ifname: string }>): string[] {
  if (attachments.length === 0) return [];
  const spoken = ipamVersions(call).filter((v) => compareVersionsSafe(v, call.version) <= 0);
  const version = spoken.sort(compareVersionsSafe).at(-1) ?? call.version;
  const conf = JSON.parse(call.stdin) as Record<string, unknown>;
  const stdin = JSON.stringify({ ...conf, cniVersion: version });
  const failures: string[] = [];
  for (const a of attachments) {
    const env = { ...call.env, CNI_CONTAINERID: a.containerId, CNI_IFNAME: a.ifname, CNI_NETNS: undefined };
    try {
      run({ ...call, env }, 'DEL', stdin);
    } catch (err) {
      failures.push(`IPAM DEL of ${a.containerId}/${a.ifname}: ${(err as Error).message}`);
    }
  }
  return failures;
}

function compareVersionsSafe(a: string, b: string): number {
  try {
    return compareVersions(a, b);
  } catch {
    return -1;
  }
}

export function ipamStatus(call: IpamCall): void {
  if (ipamSupports(call, '1.1.0')) run(call, 'STATUS');
}

export function ipamGc(call: IpamCall): void {
  if (ipamSupports(call, '1.1.0')) run(call, 'GC');
}
