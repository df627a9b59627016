// The plugin's log: one JSON object per line, never on stdout (stdout belongs to the CNI result).
//
// Where: the file named by the config's `logFile`, or by VLAN_BRIDGE_LOG_FILE, which wins (an operator can set
// neither easily for a plugin that containerd, CRI-O or Multus starts, hence the config key, as Multus's `logFile`
// and whereabouts' `log_file`); else stderr. A config's `logFile` lies inside the log directory
// (/var/log/vlan-bridge, VLAN_BRIDGE_LOG_DIR overrides it), which must be a directory only root can write to: a
// config is written by whoever may create a NetworkAttachmentDefinition, and a root process appending text it
// chose to a file it chose (/etc/profile.d/x.sh, /proc/sys/kernel/hostname) would be theirs to run as root. Every
// log file is opened without following a symlink and must be a regular file. A file that cannot be opened or
// written never fails the command: its lines go to stderr, after one line saying why.
// Which: `logLevel` or VLAN_BRIDGE_LOG_LEVEL (wins): error < warn < info < debug; VLAN_BRIDGE_DEBUG=1 is debug.
// Unset: info with a file, warn on stderr, since libcni (v1.0 to v1.3, pkg/invoke/raw_exec.go) copies a
// plugin's stderr into the runtime's own log after every successful call.
// What: at info, one line per command (command, network, container, ifname, outcome: ok, or the error's code and
// message, and ms since the process started); errors always, with their code; at debug also each kernel request
// and each program run (src/main.ts connects the kernel layer's trace hook).
import { ensurePrivateDir } from '../files.js';
import { appendLine } from './log-file.js';
import type { Env } from './env.js';

export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

type Fields = Record<string, unknown>;

export interface Logger {
  error(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  debug(msg: string, fields?: Fields): void;
  /** Whether lines of `level` are written: callers skip building what would be thrown away. */
  enabled(level: LogLevel): boolean;
}

/** How a command ended, for its one line: undefined is success. */
export type Outcome = { code: number; msg: string; details?: string; stack?: string } | undefined;

/** The logger of one CNI call: a Logger plus what the dispatcher tells it as the call proceeds. */
export interface CommandLog extends Logger {
  /**
   * Takes `logFile` and `logLevel` from the config where the environment sets neither. Values of the wrong shape
   * are ignored here (the schema refuses them with code 7, and that refusal is logged where the line would have
   * gone anyway).
   */
  configure(conf: { logFile?: unknown; logLevel?: unknown }): void;
  /** Fields added to every later line (the network's name, once the config is read). */
  context(fields: Fields): void;
  /** Writes the command's line: info when `outcome` is undefined, else error with its code and message. */
  done(outcome: Outcome): void;
}

/** A line longer than this (bytes) has its longest strings cut: a bound on what one call can add to the file. */
export const MAX_LINE_BYTES = 16 * 1024;

const rank = (l: LogLevel): number => LOG_LEVELS.indexOf(l);
const isLevel = (v: unknown): v is LogLevel => typeof v === 'string' && (LOG_LEVELS as readonly string[]).includes(v);
/** Where a config's `logFile` may lie (VLAN_BRIDGE_LOG_DIR overrides it). */
export const DEFAULT_LOG_DIR = '/var/log/vlan-bridge';

/** What VLAN_BRIDGE_LOG_FILE must be: an absolute path outside /proc, /sys and /dev, no NUL, no "..". */
export const isLogPath = (v: unknown): v is string =>
  typeof v === 'string' &&
  v.startsWith('/') &&
  !v.includes('\0') &&
  !v.split('/').includes('..') &&
  !/^\/+(proc|sys|dev)(\/|$)/.test(v);

/**
 * What a config's `logFile` must be: a name or path inside the log directory, relative to it or absolute under
 * /var/log/vlan-bridge; no NUL, no "." or ".." component, not a directory.
 */
export const isConfigLogPath = (v: unknown): v is string =>
  typeof v === 'string' &&
  v !== '' &&
  !v.includes('\0') &&
  !v.endsWith('/') &&
  !v
    .split('/')
    .slice(v.startsWith('/') ? 1 : 0)
    .some((c) => c === '..' || c === '.' || c === '') &&
  (!v.startsWith('/') || v.startsWith(`${DEFAULT_LOG_DIR}/`));

/**
 * The file a config's `logFile` names, in `dir`: a relative name is taken in `dir`; an absolute path keeps its
 * part under /var/log/vlan-bridge, taken in `dir` (the same file unless VLAN_BRIDGE_LOG_DIR moves the directory).
 */
function configLogFile(v: string, dir: string): string {
  return `${dir}/${v.startsWith('/') ? v.slice(DEFAULT_LOG_DIR.length + 1) : v}`;
}

/** The log directory, made or accepted only when it is root's alone (src/files.ts): logs go elsewhere otherwise. */
const ensureLogDir = (dir: string): void => ensurePrivateDir(dir, 0o755);

/** `obj` as one JSON line of at most MAX_LINE_BYTES: the longest strings are shortened until it fits. */
function toLine(obj: Fields): Buffer {
  let line = Buffer.from(`${JSON.stringify(obj)}\n`);
  for (let i = 0; i < 8 && line.length > MAX_LINE_BYTES; i++) {
    const [key, value] = Object.entries(obj)
      .filter((e): e is [string, string] => typeof e[1] === 'string')
      .sort((a, b) => b[1].length - a[1].length)[0] ?? [undefined, ''];
    if (key === undefined) break;
    const keep = Math.max(64, value.length - (line.length - MAX_LINE_BYTES) - 64);
    obj = { ...obj, [key]: `${value.slice(0, keep)}...`, truncated: true };
    line = Buffer.from(`${JSON.stringify(obj)}\n`);
  }
  return line;
}

export interface LogOptions {
  /** Appends one line to a file (tests replace it); throws when the file cannot be written. */
  append?: (file: string, line: Buffer) => void;
  /** Makes sure the log directory is usable before a config's logFile is written (default: ensureLogDir; tests
   * that replace `append` skip it unless they pass one). */
  prepareDir?: (dir: string) => void;
  /** Milliseconds since the process started (performance.now()). */
  now?: () => number;
}

/** Where one call's lines go and from which level, as the environment and then the config set them. */
interface LogTarget {
  /** The log file; undefined: stderr only. */
  file?: string;
  /** The file is a config's `logFile`, in `logDir` (made or checked before the first line). */
  inLogDir: boolean;
  dirChecked: boolean;
  /** A write failed: the rest goes to stderr. */
  fileFailed: boolean;
  level?: LogLevel;
  logDir: string;
  /** Set by the environment, which wins over the config. */
  fileFixed: boolean;
  levelFixed: boolean;
  /** Settings ignored, reported once the call is done. */
  notes: string[];
}

/** The target VLAN_BRIDGE_LOG_FILE, VLAN_BRIDGE_LOG_DIR, VLAN_BRIDGE_LOG_LEVEL and VLAN_BRIDGE_DEBUG give. */
function targetFromEnv(env: Env): LogTarget {
  const notes: string[] = [];
  const envFile = env.VLAN_BRIDGE_LOG_FILE || undefined;
  const logDir =
    env.VLAN_BRIDGE_LOG_DIR && isLogPath(env.VLAN_BRIDGE_LOG_DIR) ? env.VLAN_BRIDGE_LOG_DIR : DEFAULT_LOG_DIR;
  if (envFile !== undefined && !isLogPath(envFile))
    notes.push(`VLAN_BRIDGE_LOG_FILE must be an absolute path outside /proc, /sys and /dev, without ".."`);
  const envLevel = env.VLAN_BRIDGE_DEBUG === '1' ? 'debug' : env.VLAN_BRIDGE_LOG_LEVEL || undefined;
  if (envLevel !== undefined && !isLevel(envLevel))
    notes.push(`VLAN_BRIDGE_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}`);
  const level = isLevel(envLevel) ? envLevel : undefined;
  return {
    file: envFile !== undefined && isLogPath(envFile) ? envFile : undefined,
    inLogDir: false,
    dirChecked: false,
    fileFailed: false,
    level,
    logDir,
    fileFixed: envFile !== undefined,
    levelFixed: level !== undefined,
    notes,
  };
}

/**
 * Appends `line` to the target's file; false when there is none or it failed (then, once, a warning goes to stderr
 * and the target falls back to stderr for good).
 */
function toFile(
  t: LogTarget,
  line: Buffer,
  append: (file: string, line: Buffer) => void,
  prepareDir: (dir: string) => void,
  toStderr: (line: Buffer) => void,
): boolean {
  if (t.file === undefined || t.fileFailed) return false;
  try {
    if (t.inLogDir && !t.dirChecked) {
      prepareDir(t.logDir);
      t.dirChecked = true;
    }
    append(t.file, line);
    return true;
  } catch (err) {
    t.fileFailed = true;
    const e = err as NodeJS.ErrnoException;
    const why = { time: new Date().toISOString(), level: 'warn', pid: process.pid, msg: 'cannot write the log file' };
    toStderr(toLine({ ...why, file: t.file, error: e.code ?? e.message }));
    return false;
  }
}

/**
 * The logger of one call, reading VLAN_BRIDGE_LOG_FILE, VLAN_BRIDGE_LOG_LEVEL and VLAN_BRIDGE_DEBUG from `env`;
 * `stderr` receives the lines when there is no usable file. Never throws: a line that cannot be written anywhere
 * is dropped.
 */
export function makeLogger(env: Env, stderr: (s: string) => void, opts: LogOptions = {}): CommandLog {
  const append = opts.append ?? appendLine;
  const prepareDir = opts.prepareDir ?? (opts.append ? () => {} : ensureLogDir);
  const now = opts.now ?? (() => performance.now());
  const t = targetFromEnv(env);
  const ctx: Fields = {
    cmd: env.CNI_COMMAND || undefined,
    network: undefined,
    container: env.CNI_CONTAINERID || undefined,
    ifname: env.CNI_IFNAME || undefined,
  };

  const threshold = (): LogLevel => t.level ?? (t.file !== undefined && !t.fileFailed ? 'info' : 'warn');
  const toStderr = (line: Buffer) => {
    try {
      stderr(line.toString());
    } catch {
      // stderr closed: nowhere left to write
    }
  };
  const emit = (lvl: LogLevel, msg: string | undefined, fields: Fields = {}): void => {
    const obj: Fields = { time: new Date().toISOString(), level: lvl, pid: process.pid };
    for (const [k, v] of Object.entries(ctx)) if (v !== undefined) obj[k] = v;
    if (msg !== undefined) obj.msg = msg;
    Object.assign(obj, fields);
    const line = toLine(obj);
    if (!toFile(t, line, append, prepareDir, toStderr)) toStderr(line);
  };
  const log = (lvl: LogLevel) => (msg: string, fields?: Fields) => {
    if (rank(lvl) <= rank(threshold())) emit(lvl, msg, fields);
  };
  const flushNotes = () => {
    for (const n of t.notes.splice(0)) emit('warn', `${n}: ignored`);
  };

  return {
    error: log('error'),
    warn: log('warn'),
    info: log('info'),
    debug: log('debug'),
    enabled: (lvl) => rank(lvl) <= rank(threshold()),
    configure(conf) {
      if (!t.fileFixed && conf.logFile !== undefined) {
        if (isConfigLogPath(conf.logFile)) {
          t.file = configLogFile(conf.logFile, t.logDir);
          t.inLogDir = true;
        } else t.notes.push(`logFile must be a file name or path inside ${DEFAULT_LOG_DIR}`);
      }
      if (!t.levelFixed && conf.logLevel !== undefined) {
        if (isLevel(conf.logLevel)) t.level = conf.logLevel;
        else t.notes.push(`logLevel must be one of ${LOG_LEVELS.join(', ')}`);
      }
    },
    context(fields) {
      Object.assign(ctx, fields);
    },
    done(outcome) {
      flushNotes();
      const ms = Math.round(now() * 10) / 10;
      if (outcome === undefined) {
        if (rank('info') <= rank(threshold())) emit('info', undefined, { outcome: 'ok', ms });
        return;
      }
      const { code, msg, details, stack } = outcome;
      emit('error', undefined, { outcome: 'error', code, msg, details: details || undefined, ms, stack });
    },
  };
}
