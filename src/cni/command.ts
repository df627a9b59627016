// The commands that read a network configuration: decode, version gate, schema, prevResult, handler, result.
// Imported by the dispatcher only for those commands, so VERSION never builds the zod schemas.
import { CniError, Code } from './errors.js';
import type { Request } from './env.js';
import { asGoDecodes, parseNetConf } from './config.js';
import { checkJsonDepth } from './depth.js';
import { jsonSyntaxError } from './json-syntax.js';
import { compareVersions, effectiveVersion, requireCommandSupported } from './versions.js';
import { convertResult, parseResult } from './result.js';
import type { CommandLog } from './log.js';
import { parseValidAttachments } from './valid-attachments.js';
import type { Ctx, HandlersLoader, Io } from './context.js';

function decode(stdin: string): Record<string, unknown> {
  if (stdin.trim() === '') throw new CniError(Code.DecodeFailure, 'no network configuration on stdin');
  // Before anything walks it: every later step (schema, prevResult, GC's list) is then bounded in depth.
  checkJsonDepth(stdin, 'network configuration');
  let value: unknown;
  try {
    value = JSON.parse(stdin);
  } catch {
    throw new CniError(Code.DecodeFailure, 'network configuration is not valid JSON', jsonSyntaxError(stdin));
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CniError(Code.DecodeFailure, 'network configuration must be a JSON object');
  }
  // Keys as the reference (and libcni) find them: Go's encoding/json matching (config.ts).
  return asGoDecodes(value);
}

export async function runCommand(
  req: Exclude<Request, { command: 'VERSION' }>,
  io: Io,
  handlers: HandlersLoader,
  stdin: string,
  log: CommandLog,
): Promise<string | undefined> {
  const raw = decode(stdin);
  // Before anything can refuse the config: its own logFile and logLevel then apply to that refusal too.
  log.configure(raw);
  if (typeof raw.name === 'string') log.context({ network: raw.name });
  const version = effectiveVersion(
    typeof raw.cniVersion === 'string'
      ? raw.cniVersion
      : raw.cniVersion === undefined
        ? undefined
        : String(raw.cniVersion),
  );
  requireCommandSupported(req.command, version);
  // Rules relating keys guard what ADD builds (and CHECK verifies); DEL, GC and STATUS must work regardless.
  const conf = parseNetConf(raw, { crossField: req.command === 'ADD' || req.command === 'CHECK' });
  const mac = conf.runtimeConfig?.mac ?? conf.args?.cni?.mac ?? req.args.mac;
  const ctx: Ctx = { conf, mac, rawConfig: stdin, env: io.env, log };
  if (raw.prevResult !== undefined) {
    try {
      ctx.prevResult = parseResult(raw.prevResult, {
        code: Code.InvalidConfig,
        root: 'prevResult',
        fallbackVersion: version,
      });
    } catch (err) {
      // CHECK needs it; DEL only uses it to recognise a host veth, and must not fail on it (a wedged teardown).
      if (req.command === 'CHECK' || req.command === 'ADD') throw err;
      log.warn(`prevResult ignored: ${(err as Error).message}`);
    }
  }
  // The plugin's commands (and the kernel layer) load only for a request that passed every check above.
  const h = typeof handlers === 'function' ? await handlers(log) : handlers;

  switch (req.command) {
    case 'ADD': {
      // 0.1.0/0.2.0 results need an IP: refuse an L2 config before anything is created (libcni's wording).
      if (!conf.hasIpam && compareVersions(version, '0.3.0') < 0) {
        throw new CniError(
          Code.ResultConversion,
          'cannot convert: no valid IP addresses',
          `cniVersion ${version} results carry no interfaces; an L2 network (no ipam.type) needs 0.3.0 or later`,
        );
      }
      const result = await h.add(req, ctx);
      try {
        return JSON.stringify(convertResult(result, version));
      } catch (err) {
        // The attachment exists but cannot be reported: undo it rather than leave it unknown to the runtime.
        await h
          .del({ ...req, command: 'DEL' }, ctx)
          .catch((e: unknown) => log.warn(`DEL after unprintable ADD result failed: ${String(e)}`));
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
      await h.gc(req, ctx, parseValidAttachments(raw));
      return undefined;
  }
}
