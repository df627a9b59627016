// The CNI_* environment, parsed per command into a typed request (CNI spec 1.1.0 "Parameters"; required
// variables and name rules as libcni's pkg/skel and pkg/utils enforce them).
import { CniError, Code, cut, got } from './errors.js';
import { parseCniArgs, type CniArgs } from './args.js';
import { NAME_RE, ifnameProblem, libcniIfnameProblem } from './names.js';

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
/**
 * DEL may come without a namespace (the container is already gone). `unmade`: the environment is one ADD refuses
 * (the reasons), so nothing of this attachment can exist and DEL has nothing to do (see parseEnv).
 */
export type DelRequest = Attachment & { command: 'DEL'; netns?: string; unmade?: string };
export type GcRequest = { command: 'GC'; path: string[]; args: CniArgs };
export type StatusRequest = { command: 'STATUS'; path: string[]; args: CniArgs };
export type VersionRequest = { command: 'VERSION' };
export type Request = AddRequest | CheckRequest | DelRequest | GcRequest | StatusRequest | VersionRequest;

/**
 * The longest container ID ADD accepts, in bytes (IDs are ASCII by NAME_RE): the host veth's ifalias
 * `vlan-bridge:<network, at most 17>:<container ID>:<ifname, at most 15>` must fit in IFALIASZ - 1 = 255 bytes.
 * Runtimes use 64 hex digits.
 */
export const MAX_CONTAINER_ID = 192;

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

/**
 * A DEL of an attachment whose container ID or interface name ADD refuses (`problems`): a request to do nothing
 * (`unmade`). ADD checks them before it makes anything, so nothing can exist under them, and a DEL that can never
 * succeed wedges the runtime's teardown (Multus deletes every network of a pod whose ADD failed; containerd retries
 * StopPodSandbox). The reference 1.9.1's skel refuses such a DEL with code 4, and the sandbox then stays until the
 * pod leaves the API. What is not the attachment's identity (CNI_NETNS, CNI_PATH, CNI_ARGS) is still refused: an
 * attachment may exist, and DEL needs them to remove it.
 */
function unmade(containerId: string, ifname: string, args: CniArgs, path: string[], problems: string[]): DelRequest {
  return { command: 'DEL', containerId, ifname, args, path, unmade: problems.join('; ') };
}

/** Reads CNI_COMMAND alone: undefined when absent (the caller prints the "about" line). */
export function commandOf(env: Env): Command | undefined {
  const cmd = env.CNI_COMMAND;
  if (cmd === undefined || cmd === '') return undefined;
  if (!(COMMANDS as readonly string[]).includes(cmd)) {
    throw new CniError(
      Code.InvalidEnv,
      `unknown CNI_COMMAND: ${cut(cmd)}`,
      `CNI_COMMAND: must be one of ${COMMANDS.join(', ')} ${got(cmd)}`,
    );
  }
  return cmd as Command;
}

function splitPath(raw: string | undefined): string[] {
  return (raw ?? '').split(':').filter((p) => p !== '');
}

/**
 * Whether CNI_NETNS_OVERRIDE lets ADD and DEL run with CNI_NETNS naming the plugin's own network namespace:
 * "true" in any case, or "1" (libcni pkg/skel/skel.go, tag v1.3.0, pluginMain).
 */
export function netnsOverride(env: Env): boolean {
  const v = env.CNI_NETNS_OVERRIDE ?? '';
  return v.toUpperCase() === 'TRUE' || v === '1';
}

/**
 * The request for this invocation. Throws CniError 4 for a missing or malformed variable (every problem listed),
 * 2 or 4 for CNI_ARGS (see parseCniArgs). Names follow libcni's pkg/utils, lengths counted in bytes.
 */
export function parseEnv(env: Env): Request {
  const command = commandOf(env);
  if (command === undefined) throw new CniError(Code.InvalidEnv, 'required env variables [CNI_COMMAND] missing');
  if (command === 'VERSION') return { command };

  const missing = REQUIRED[command].filter((v) => !env[v]);
  if (missing.length > 0) {
    throw new CniError(
      Code.InvalidEnv,
      `required env variables [${missing.join(',')}] missing`,
      missing.map((v) => `${v}: required for ${command}`).join('; '),
    );
  }
  const problems: string[] = [];
  // Node decodes environment bytes that are not UTF-8 into U+FFFD: the value is then no longer the one the runtime
  // sent, so a path or name built from it would name something else. Refused (the names are checked below).
  for (const v of ['CNI_NETNS', 'CNI_PATH', 'CNI_ARGS'] as const) {
    if (env[v]?.includes('\uFFFD')) problems.push(`${v}: not valid UTF-8 (or contains U+FFFD) ${got(env[v])}`);
  }
  if (problems.length > 0) throw new CniError(Code.InvalidEnv, 'invalid environment', problems.join('; '));
  const args = parseCniArgs(env.CNI_ARGS);
  const path = splitPath(env.CNI_PATH);
  if (command === 'GC' || command === 'STATUS') return { command, path, args };

  const containerId = env.CNI_CONTAINERID!;
  const ifname = env.CNI_IFNAME!;
  if (!NAME_RE.test(containerId)) {
    problems.push(`CNI_CONTAINERID: invalid characters, must match ${NAME_RE.source} ${got(containerId)}`);
  } else if ((command === 'ADD' || command === 'CHECK') && containerId.length > MAX_CONTAINER_ID) {
    // Only what is created is limited: DEL of any ID must succeed, or a runtime's teardown wedges.
    problems.push(
      `CNI_CONTAINERID: longer than ${MAX_CONTAINER_ID} bytes (${containerId.length}), more than the host veth's ifalias can name ${got(containerId)}`,
    );
  }
  const ifProblem = ifnameProblem(ifname);
  if (ifProblem) problems.push(`CNI_IFNAME: ${ifProblem} ${got(ifname)}`);
  // The attachment's identity: under a container ID or interface name that both this plugin's ADD and the
  // reference's (libcni's rules) refuse, nothing can exist, even after a takeover. A name only we refuse (not
  // UTF-8) may name a pod the reference attached: that DEL stays refused, loudly.
  if (command === 'DEL' && (!NAME_RE.test(containerId) || libcniIfnameProblem(ifname) !== null))
    return unmade(containerId, ifname, args, path, problems);
  const netns = env.CNI_NETNS || undefined;
  if (netns !== undefined && !netns.startsWith('/')) {
    problems.push(`CNI_NETNS: must be an absolute path ${got(netns)}`);
  }
  if (problems.length > 0) throw new CniError(Code.InvalidEnv, 'invalid environment', problems.join('; '));

  const base = { containerId, ifname, args, path };
  if (command === 'DEL') return netns === undefined ? { command, ...base } : { command, ...base, netns };
  return { command, ...base, netns: netns! };
}
