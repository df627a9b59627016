// What the protocol layer hands the plugin's commands: the process's I/O, one command's context, the handlers.
import type { NetConf } from './config.js';
import type { AddRequest, CheckRequest, DelRequest, Env, GcRequest, StatusRequest } from './env.js';
import type { Logger } from './log.js';
import type { Result } from './result.js';
import type { Attachment } from './valid-attachments.js';

export interface Io {
  env: Env;
  /** The whole of stdin; '' when there is none. May throw a CniError (bytes that are not UTF-8: code 6). */
  readStdin(): string;
  stdout(s: string): void;
  stderr(s: string): void;
}

export interface Ctx {
  conf: NetConf;
  /**
   * The MAC the runtime asks for the pod's interface, by precedence runtimeConfig.mac > args.cni.mac > CNI_ARGS
   * MAC (the reference's loadNetConf, bridge.go v1.9.1), normalized; undefined when none asks.
   */
  mac?: string;
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

/**
 * The handlers, or a loader of them called once a request has passed every check (so refused requests never load
 * the kernel layer). The loader gets the call's logger, to connect what it loads (the kernel layer's trace hook).
 */
export type HandlersLoader = Handlers | ((log: Logger) => Promise<Handlers>);
