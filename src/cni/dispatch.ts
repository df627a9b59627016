// The protocol shell: env + stdin in, one JSON document (or nothing) out, an exit code back. It knows nothing of
// Linux; the commands' work is done by the handlers it is given (src/plugin/handlers.ts), and the code that reads
// a configuration (command.ts, zod) is loaded only for commands that have one, so VERSION never builds a schema. Order
// of checks as libcni's skel: env, then stdin, then version.
import { CniError, Code, asCniError } from './errors.js';
import { commandOf, parseEnv } from './env.js';
import { LATEST, SUPPORTED_VERSIONS, effectiveVersion } from './versions.js';
import { makeLogger, type LogOptions } from './log.js';
import type { HandlersLoader, Io } from './context.js';

import { PLUGIN_VERSION } from '../version.js';

export const ABOUT = `CNI vlan-bridge plugin ${PLUGIN_VERSION}`;

/** Printed after the about line and the supported versions, the two lines that libcni's convention and
 * deploy/install.sh read. */
export const HELP_HINT = "Run 'vlan-bridge --help' for how to call it, its commands and exit codes.";

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

/**
 * The bug behind a 999, whose stack trace the log gets: our own unexpected throw, bare or wrapped with the name of
 * the step it broke (src/plugin/errors.ts). A 999 that an IPAM plugin answered passes through as a CniError of its
 * own, with no cause: no bug of ours, no stack trace.
 */
function bugOf(err: unknown): unknown {
  if (!(err instanceof CniError)) return err;
  return err.cause !== undefined && !(err.cause instanceof CniError) ? err.cause : undefined;
}

/** A stdin that cannot be read (EIO, ...) is the spec's I/O failure (5); a CniError (not UTF-8: 6) is kept. */
function unreadableStdin(err: unknown): CniError {
  if (err instanceof CniError) return err;
  return new CniError(
    Code.IoFailure,
    'cannot read the network configuration from stdin',
    (err as Error)?.message ?? String(err),
    {
      cause: err,
    },
  );
}

/**
 * Runs one invocation; returns the process exit code. stdout gets at most one JSON document; every command ends
 * with one log line (src/cni/log.ts). `handlers` may be a loader, called only for commands that reach them (the
 * executable passes one, so VERSION and refused requests never load the kernel layer).
 */
export async function dispatch(io: Io, handlers: HandlersLoader, logOptions?: LogOptions): Promise<number> {
  const log = makeLogger(io.env, io.stderr, logOptions);
  let stdin = '';
  let reply: string;
  let code = 0;
  try {
    if (commandOf(io.env) === undefined) {
      io.stderr(`${ABOUT}\nCNI protocol versions supported: ${SUPPORTED_VERSIONS.join(', ')}\n${HELP_HINT}\n`);
      return 0;
    }
    let unreadable: unknown;
    try {
      stdin = io.readStdin();
    } catch (err) {
      unreadable = err;
    }
    const req = parseEnv(io.env);
    // VERSION answers whatever stdin holds; every other command needs a config it can read.
    if (unreadable !== undefined && req.command !== 'VERSION') throw unreadableStdin(unreadable);
    // Only commands that read a config load the schema and result code (zod): VERSION stays cheap.
    const out =
      req.command === 'VERSION'
        ? versionReply(stdin)
        : await (await import('./command.js')).runCommand(req, io, handlers, stdin, log);
    reply = out !== undefined ? `${out}\n` : '';
    log.done(undefined);
  } catch (err) {
    const e = asCniError(err);
    reply = `${JSON.stringify(e.toJSON(replyVersion(stdin)))}\n`;
    code = 1;
    const bug = e.code === Code.Internal ? bugOf(err) : undefined;
    const stack = bug === undefined ? undefined : ((bug as Error)?.stack ?? String(bug));
    log.done({ code: e.code, msg: e.message, details: e.details, stack });
  }
  // Outside the try: a stdout that cannot be written is the caller's to report (src/stdio.ts), not a plugin error.
  if (reply) io.stdout(reply);
  return code;
}
