// Command-line options of the tools, read against each command's table of options (./commands.ts), so that parsing,
// the help text and the suggestions for a mistyped name come from one place. Every problem is a UsageError.
import { ipv4ToBytes } from '../ip.js';
import { UsageError } from './errors.js';

/** An argument quoted for a message, cut to 64 characters: a message never repeats a huge argument whole. */
export const quoteArg = (arg: string): string => JSON.stringify(arg.length > 64 ? `${arg.slice(0, 64)}...` : arg);

export interface OptionSpec {
  name: string;
  /** A string option takes a value (`--vlan 100` or `--vlan=100`); a boolean one does not. */
  type: 'string' | 'boolean';
  /** The value's placeholder in help texts, e.g. `<id>`. */
  value?: string;
  required?: boolean;
  /** What is used when the option is not given, as the help text says it. */
  default?: string;
  help: string;
}

export type Values = Record<string, string | boolean | undefined>;

/**
 * The edit distance between `a` and `b` (insertions, deletions, substitutions and swaps of two neighbours each
 * count 1): how far a mistyped name is from a real one.
 */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The candidate `input` most likely meant: the nearest within 2 edits (1 for names of 4 letters or fewer), else
 * the only one that starts with it; undefined when none is close.
 */
export function closest(input: string, candidates: readonly string[]): string | undefined {
  const scored = candidates
    .map((c) => ({ c, d: distance(input.toLowerCase(), c.toLowerCase()) }))
    .filter(({ c, d }) => d <= (Math.min(input.length, c.length) <= 4 ? 1 : 2))
    .sort((x, y) => x.d - y.d);
  if (scored.length > 0) return scored[0]!.c;
  const prefixed = input.length >= 2 ? candidates.filter((c) => c.startsWith(input)) : [];
  return prefixed.length === 1 ? prefixed[0] : undefined;
}

/** ` (did you mean X?)`, or '' when nothing is close. */
export function suggestion(input: string, candidates: readonly string[], show = (s: string) => s): string {
  const c = closest(input, candidates);
  return c === undefined ? '' : ` (did you mean ${show(c)}?)`;
}

/**
 * Reads `argv` against `options`: `--name value`, `--name=value`, `--flag`. Throws UsageError for an unknown
 * option (suggesting the nearest), a missing value, a value given to a flag, or a positional argument. A repeated
 * option keeps its last value. Returns the values given (absent options are undefined; defaults are the caller's).
 */
export function parseOptions(argv: string[], options: readonly OptionSpec[]): Values {
  const byName = new Map(options.map((o) => [o.name, o]));
  const values: Values = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      if (i + 1 < argv.length) throw new UsageError(`unexpected argument ${JSON.stringify(argv[i + 1])}`);
      break;
    }
    if (!arg.startsWith('--') || arg === '--') {
      const hint = /^-[a-zA-Z]/.test(arg) ? ' (options are spelt --name)' : '';
      throw new UsageError(`unexpected argument ${quoteArg(arg)}${hint}`);
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const spec = byName.get(name);
    if (!spec) {
      const names = options.map((o) => o.name);
      throw new UsageError(`unknown option ${quoteArg(`--${name}`)}${suggestion(name, names, (s) => `"--${s}"`)}`);
    }
    if (spec.type === 'boolean') {
      if (eq >= 0) throw new UsageError(`--${name} takes no value (got ${quoteArg(arg.slice(eq + 1))})`);
      values[name] = true;
      continue;
    }
    let value: string | undefined;
    if (eq >= 0) value = arg.slice(eq + 1);
    else if (i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) value = argv[++i];
    if (value === undefined) throw new UsageError(`--${name} needs a value${spec.value ? ` ${spec.value}` : ''}`);
    values[name] = value;
  }
  return values;
}

export function intOption(name: string, raw: string, min: number, max: number): number {
  if (!/^\d+$/.test(raw))
    throw new UsageError(`--${name} must be an integer from ${min} to ${max} (got ${JSON.stringify(raw)})`);
  const n = Number(raw);
  if (n < min || n > max) throw new UsageError(`--${name} must be an integer from ${min} to ${max} (got ${n})`);
  return n;
}

export function ipv4Option(name: string, raw: string): string {
  try {
    return Array.from(ipv4ToBytes(raw)).join('.');
  } catch {
    throw new UsageError(`--${name} must be an IPv4 address (got ${JSON.stringify(raw)})`);
  }
}
