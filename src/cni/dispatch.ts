// The protocol shell: env + stdin in, one JSON document (or nothing) out, an exit code back. It knows nothing of
// Linux; the commands' work is done by injected handlers, loaded only when a command needs them, so VERSION and
// bad input never pay for the kernel layer. Order of checks as libcni's skel: env, then stdin, then version.
import { CniError, Code, asCniError } from './errors.js';
import { commandOf, parseEnv, type AddRequest, type CheckRequest, type DelRequest, type Env, type GcRequest, type StatusRequest } from './env.js';
import { parseNetConf, type NetConf } from './config.js';
import { LATEST, SUPPORTED_VERSIONS, compareVersions, effectiveVersion, requireCommandSupported } from './versions.js';
import { convertResult, parseResult, type Result } from './result.js';
import { makeLogger, type Logger } from './log.js';
import { parseValidAttachments, type Attachment } from './gc.js';

declare const __VB_VERSION__: string;
const PLUGIN_VERSION = typeof __VB_VERSION__ === 'string' ? __VB_VERSION__ : 'dev';

export interface Io {
  env: Env;
  /** The whole of stdin; '' when there is none. */
  readStdin(): string;
  stdout(s: string): void;
  stderr(s: string): void;
}

export interface Ctx {
  conf: NetConf;
  /** The config exactly as received, for delegating to IPAM plugins. */
  rawConfig: string;
  /** prevResult up-converted to 1.1.0 when the config carried one. */
  prevResult?: Result;
  env: Env;
  log: Logger;
}

export interface Handlers {
  add(req: AddRequest, ctx: Ctx): Promise<Result>;
  del(req: DelRequest, ctx: Ctx): Promise<void>;
  check(req: CheckRequest, ctx: Ctx): Promise<void>;
  status(req: StatusRequest, ctx: Ctx): Promise<void>;
  gc(req: GcRequest, ctx: Ctx, valid: Attachment[]): Promise<void>;
}

export const ABOUT = `CNI vlan-bridge plugin ${PLUGIN_VERSION}`;

function decode(stdin: string): Record<string, unknown> {
  if (stdin.trim() === '') throw new CniError(Code.DecodeFailure, 'no network configuration on stdin');
  let value: unknown;
  try {
    value = JSON.parse(stdin);
  } catch (err) {
    throw new CniError(Code.DecodeFailure, 'network configuration is not valid JSON', (err as Error).message);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CniError(Code.DecodeFailure, 'network configuration must be a JSON object');
  }
  return value as Record<string, unknown>;
}

/** VERSION answers with the input's version when there is one (CNI spec), else the newest; never an error. */
function versionReply(stdin: string): string {
  let v: unknown;
  try {
    v = (JSON.parse(stdin) as { cniVersion?: unknown }).cniVersion;
  } catch {
    v = undefined;
  }
  const cniVersion = typeof v === 'string' && v !== '' ? v : LATEST;
  return JSON.stringify({ cniVersion, supportedVersions: SUPPORTED_VERSIONS });
}

/** The version to stamp on an error: the config's when it is one we speak, else the newest. */
function replyVersion(stdin: string): string {
  try {
    const v = (JSON.parse(stdin) as { cniVersion?: unknown }).cniVersion;
    if (v === undefined) return effectiveVersion(undefined);
    if (typeof v === 'string') return effectiveVersion(v);
  } catch {
    // Not JSON or not a version we speak: fall through.
  }
  return LATEST;
}

async function run(io: Io, loadHandlers: () => Promise<Handlers>, stdin: string, log: Logger): Promise<string | undefined> {
  const req = parseEnv(io.env);
  if (req.command === 'VERSION') return versionReply(stdin);

  const raw = decode(stdin);
  const version = effectiveVersion(typeof raw.cniVersion === 'string' ? raw.cniVersion : raw.cniVersion === undefined ? undefined : String(raw.cniVersion));
  requireCommandSupported(req.command, version);
  const conf = parseNetConf(raw);
  const ctx: Ctx = { conf, rawConfig: stdin, env: io.env, log };
  if (raw.prevResult !== undefined) ctx.prevResult = parseResult(raw.prevResult, { code: Code.InvalidConfig, root: 'prevResult', fallbackVersion: version });

  const h = await loadHandlers();
  switch (req.command) {
    case 'ADD': {
      // 0.1.0/0.2.0 results need an IP: refuse an L2 config before anything is created (libcni's wording).
      if (!conf.hasIpam && compareVersions(version, '0.3.0') < 0) {
        throw new CniError(Code.ResultConversion, 'cannot convert: no valid IP addresses', `cniVersion ${version} results carry no interfaces; an L2 network (no ipam.type) needs 0.3.0 or later`);
      }
      const result = await h.add(req, ctx);
      try {
        return JSON.stringify(convertResult(result, version));
      } catch (err) {
        // The attachment exists but cannot be reported: undo it rather than leave it unknown to the runtime.
        await h.del({ ...req, command: 'DEL' }, ctx).catch((e: unknown) => log.warn(`DEL after unprintable ADD result failed: ${String(e)}`));
        throw err;
      }
    }
    case 'DEL':
      await h.del(req, ctx);
      return undefined;
    case 'CHECK':
      await h.check(req, ctx);
      return undefined;
    case 'STATUS':
      await h.status(req, ctx);
      return undefined;
    case 'GC':
      await h.gc(req, ctx, parseValidAttachments(raw['cni.dev/valid-attachments']));
      return undefined;
  }
}

/** Runs one invocation; returns the process exit code. stdout gets at most one JSON document. */
export async function dispatch(io: Io, loadHandlers: () => Promise<Handlers>): Promise<number> {
  const log = makeLogger(io.env, io.stderr);
  let stdin = '';
  try {
    if (commandOf(io.env) === undefined) {
      io.stderr(`${ABOUT}\nCNI protocol versions supported: ${SUPPORTED_VERSIONS.join(', ')}\n`);
      return 0;
    }
    stdin = io.readStdin();
    const out = await run(io, loadHandlers, stdin, log);
    if (out !== undefined) io.stdout(`${out}\n`);
    return 0;
  } catch (err) {
    const e = asCniError(err);
    if (e.code === Code.Internal) log.warn(`unexpected failure: ${(err as Error)?.stack ?? String(err)}`);
    io.stdout(`${JSON.stringify(e.toJSON(replyVersion(stdin)))}\n`);
    return 1;
  }
}
