// Calls the built executable the way a runtime does (env + config on stdin), from inside a test "node"
// namespace so the plugin's host side never touches this machine's own interfaces.
import { spawn, spawnSync } from 'node:child_process';
import { BIN, ensureBuilt } from './binary.js';

export interface CniCall {
  command: string;
  conf: object | string;
  containerId?: string;
  /** Container namespace path; omitted for DEL without netns, GC, STATUS. */
  netns?: string;
  ifname?: string;
  args?: string;
  path?: string;
  env?: Record<string, string>;
}

export interface CniReply {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout parsed (it must be exactly one JSON document or empty). */
  json: any;
}

export const CNI_PATH = '/usr/lib/cni';

/** The environment a runtime gives the plugin for call `c` (CNI spec: which CNI_* each command has). */
export function envOf(c: CniCall): Record<string, string> {
  const env: Record<string, string> = {
    CNI_COMMAND: c.command,
    CNI_PATH: c.path ?? CNI_PATH,
    PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
    ...c.env,
  };
  if (c.command !== 'GC' && c.command !== 'STATUS' && c.command !== 'VERSION') {
    env.CNI_CONTAINERID = c.containerId ?? 'c1';
    env.CNI_IFNAME = c.ifname ?? 'net1';
  }
  if (c.netns) env.CNI_NETNS = c.netns;
  if (c.args) env.CNI_ARGS = c.args;
  return env;
}

function reply(code: number | null, stdout: string, stderr: string): CniReply {
  const text = stdout.trim();
  return { code, stdout, stderr, json: text ? JSON.parse(text) : undefined };
}

/** Runs one command synchronously in namespace `node` (ip netns exec). */
export function cni(node: string, c: CniCall): CniReply {
  ensureBuilt();
  const input = typeof c.conf === 'string' ? c.conf : JSON.stringify(c.conf);
  const r = spawnSync('ip', ['netns', 'exec', node, BIN], { input, env: envOf(c), encoding: 'utf8', timeout: 60_000 });
  return reply(r.status, r.stdout, r.stderr);
}

/** The same, asynchronously, for running many at once. */
export function cniAsync(node: string, c: CniCall): Promise<CniReply> {
  ensureBuilt();
  const input = typeof c.conf === 'string' ? c.conf : JSON.stringify(c.conf);
  return new Promise((resolve, reject) => {
    const p = spawn('ip', ['netns', 'exec', node, BIN], { env: envOf(c) });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('error', reject);
    p.on('close', (code) => resolve(reply(code, out, err)));
    p.stdin.end(input);
  });
}

/** Asserts success and returns the parsed result (throws with the CNI error otherwise). */
export function ok(r: CniReply): any {
  if (r.code !== 0)
    throw new Error(`plugin failed (exit ${r.code}): ${r.stdout}${r.stderr ? `\nstderr: ${r.stderr}` : ''}`);
  return r.json;
}
