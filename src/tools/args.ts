// Command-line options of the tools: node's parseArgs, strict, every problem a UsageError.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ipv4ToBytes } from '../ip.js';
import { UsageError } from './errors.js';

type Options = NonNullable<ParseArgsConfig['options']>;

export type Values = Record<string, string | boolean | undefined>;

export function parseOptions(argv: string[], options: Options): Values {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values as Values;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
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
