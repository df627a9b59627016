// Running iptables/ip6tables/nft (the reference plugin calls them too). Host namespace only. Every run is
// bounded: SIGTERM after TOOL_TIMEOUT_MS, SIGKILL TOOL_GRACE_MS later (an iptables waiting on the xtables lock, an
// nft stuck on a busy kernel), so a DEL always ends.
import { accessSync, constants } from 'node:fs';
import { CniError, Code } from '../cni/errors.js';
import { SpawnError, spawnBounded } from '../kernel/spawn.js';

export interface Ran {
  status: number;
  stdout: string;
  stderr: string;
}

const PATHS = ['/usr/sbin', '/sbin', '/usr/bin', '/bin'];
export const TOOL_TIMEOUT_MS = 30_000;
export const TOOL_GRACE_MS = 2_000;

/** `cmd` found in PATH (then the sbin and bin directories), or undefined. */
function which(cmd: string, path: string[]): string | undefined {
  for (const dir of path) {
    try {
      accessSync(`${dir}/${cmd}`, constants.X_OK);
      return `${dir}/${cmd}`;
    } catch {
      // not here
    }
  }
  return undefined;
}

const searchPath = (): string[] => [...(process.env.PATH ?? '').split(':').filter(Boolean), ...PATHS];

/** Whether `cmd` is installed: a teardown has nothing to remove with a tool the node does not have. */
export const installed = (cmd: string): boolean => which(cmd, searchPath()) !== undefined;

/**
 * Runs `cmd` with `args` and `input` on stdin; returns its exit status and output. Throws CniError 106 when it is
 * not installed, cannot be started or overran TOOL_TIMEOUT_MS.
 */
export function run(cmd: string, args: string[], input?: string): Ran {
  const path = searchPath();
  const env = { PATH: path.join(':') };
  const file = which(cmd, path);
  if (!file) throw new CniError(Code.Firewall, `${cmd} not found: install it to use this config`);
  let r;
  try {
    r = spawnBounded(file, args, { input, env, timeoutMs: TOOL_TIMEOUT_MS, graceMs: TOOL_GRACE_MS });
  } catch (err) {
    if (err instanceof SpawnError) throw new CniError(Code.Firewall, `${cmd} failed: ${err.message}`);
    throw err;
  }
  if (r.timedOut)
    throw new CniError(
      Code.Firewall,
      `${cmd} ${args.slice(0, 6).join(' ')} did not finish within ${TOOL_TIMEOUT_MS / 1000} s`,
      `stopped with ${r.killed ? 'SIGTERM, then SIGKILL' : 'SIGTERM'}`,
    );
  return { status: r.status ?? 1, stdout: r.stdout, stderr: r.stderr.trim() };
}

/** Runs and demands success (exit 0); throws CniError 106 with its stderr otherwise. */
export function must(cmd: string, args: string[], input?: string): string {
  const r = run(cmd, args, input);
  if (r.status !== 0)
    throw new CniError(Code.Firewall, `${cmd} ${args.slice(0, 6).join(' ')} failed`, r.stderr || `exit ${r.status}`);
  return r.stdout;
}

/** Attempts of a teardown transaction that concurrent changes keep refusing (each one lists the rules again). */
export const TEARDOWN_ATTEMPTS = 8;
