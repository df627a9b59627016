// Running iptables/ip6tables/nft (the reference plugin calls them too). Host namespace only.
import { CniError, Code } from '../cni/errors.js';

export interface Ran {
  status: number;
  stdout: string;
  stderr: string;
}

const PATHS = ['/usr/sbin', '/sbin', '/usr/bin', '/bin'];

export function run(cmd: string, args: string[], input?: string): Ran {
  const env = { PATH: [process.env.PATH, ...PATHS].filter(Boolean).join(':') };
  // Loaded at run time, not at import: the startup snapshot must not hold child_process state.
  const { spawnSync } = process.getBuiltinModule('node:child_process') as typeof import('node:child_process');
  const r = spawnSync(cmd, args, { input, env, encoding: 'utf8', timeout: 30_000 });
  if (r.error) {
    const missing = (r.error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new CniError(Code.Firewall, missing ? `${cmd} not found: install it to use this config` : `${cmd} failed: ${r.error.message}`);
  }
  return { status: r.status ?? 1, stdout: r.stdout, stderr: r.stderr.trim() };
}

/** Runs and demands success. */
export function must(cmd: string, args: string[], input?: string): string {
  const r = run(cmd, args, input);
  if (r.status !== 0) throw new CniError(Code.Firewall, `${cmd} ${args.slice(0, 6).join(' ')} failed`, r.stderr || `exit ${r.status}`);
  return r.stdout;
}
