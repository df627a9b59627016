// The CNI_* environment, parsed per command into a typed request (CNI spec 1.1.0 "Parameters"; required
// variables and name rules as libcni's pkg/skel and pkg/utils enforce them).
import { CniError, Code } from './errors.js';
import { parseCniArgs, type CniArgs } from './args.js';
import { NAME_RE, ifnameProblem, show } from './validate.js';

export const COMMANDS = ['ADD', 'DEL', 'CHECK', 'VERSION', 'STATUS', 'GC'] as const;
export type Command = (typeof COMMANDS)[number];

export type Env = Record<string, string | undefined>;

interface Attachment {
  containerId: string;
  ifname: string;
  args: CniArgs;
  /** Directories to look for delegated plugins (IPAM) in. */
  path: string[];
}

export type AddRequest = Attachment & { command: 'ADD'; netns: string };
export type CheckRequest = Attachment & { command: 'CHECK'; netns: string };
/** DEL may come without a namespace (the container is already gone). */
export type DelRequest = Attachment & { command: 'DEL'; netns?: string };
export type GcRequest = { command: 'GC'; path: string[]; args: CniArgs };
export type StatusRequest = { command: 'STATUS'; path: string[]; args: CniArgs };
export type VersionRequest = { command: 'VERSION' };
export type Request = AddRequest | CheckRequest | DelRequest | GcRequest | StatusRequest | VersionRequest;

type Var = 'CNI_CONTAINERID' | 'CNI_NETNS' | 'CNI_IFNAME' | 'CNI_PATH';

/** Which variables each command must have (libcni skel's reqForCmd table). */
const REQUIRED: Record<Command, readonly Var[]> = {
  ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'],
  CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'],
  DEL: ['CNI_CONTAINERID', 'CNI_IFNAME', 'CNI_PATH'],
  GC: ['CNI_PATH'],
  STATUS: ['CNI_PATH'],
  VERSION: [],
};

/** Reads CNI_COMMAND alone: undefined when absent (the caller prints the "about" line). */
export function commandOf(env: Env): Command | undefined {
  const cmd = env.CNI_COMMAND;
  if (cmd === undefined || cmd === '') return undefined;
  if (!(COMMANDS as readonly string[]).includes(cmd)) {
    throw new CniError(Code.InvalidEnv, `unknown CNI_COMMAND: ${cmd}`, `CNI_COMMAND: must be one of ${COMMANDS.join(', ')} (got ${show(cmd)})`);
  }
  return cmd as Command;
}

function splitPath(raw: string | undefined): string[] {
  return (raw ?? '').split(':').filter((p) => p !== '');
}

export function parseEnv(env: Env): Request {
  const command = commandOf(env);
  if (command === undefined) throw new CniError(Code.InvalidEnv, 'required env variables [CNI_COMMAND] missing');
  if (command === 'VERSION') return { command };

  const missing = REQUIRED[command].filter((v) => !env[v]);
  if (missing.length > 0) {
    throw new CniError(Code.InvalidEnv, `required env variables [${missing.join(',')}] missing`,
      missing.map((v) => `${v}: required for ${command}`).join('; '));
  }
  const problems: string[] = [];
  const args = parseCniArgs(env.CNI_ARGS);
  const path = splitPath(env.CNI_PATH);
  if (command === 'GC' || command === 'STATUS') return { command, path, args };

  const containerId = env.CNI_CONTAINERID!;
  const ifname = env.CNI_IFNAME!;
  if (!NAME_RE.test(containerId)) {
    problems.push(`CNI_CONTAINERID: invalid characters, must match ${NAME_RE.source} (got ${show(containerId)})`);
  }
  const ifProblem = ifnameProblem(ifname);
  if (ifProblem) problems.push(`CNI_IFNAME: ${ifProblem} (got ${show(ifname)})`);
  const netns = env.CNI_NETNS || undefined;
  if (netns !== undefined && !netns.startsWith('/')) {
    problems.push(`CNI_NETNS: must be an absolute path (got ${show(netns)})`);
  }
  if (problems.length > 0) throw new CniError(Code.InvalidEnv, 'invalid environment', problems.join('; '));

  const base = { containerId, ifname, args, path };
  if (command === 'DEL') return netns === undefined ? { command, ...base } : { command, ...base, netns };
  return { command, ...base, netns: netns! };
}
