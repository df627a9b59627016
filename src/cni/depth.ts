// Input nesting is bounded before anything walks it. JSON documents come from the runtime (the config, with
// `args`, `runtimeConfig`, `prevResult` and unknown keys of any shape) and from IPAM plugins; code that walks a
// value recursively (schema checks, null-dropping, quoting values in messages) would otherwise be driven by the
// input's depth into "Maximum call stack size exceeded". Both checks here are loops, not recursion.
import { CniError, Code, type CodeNumber } from './errors.js';

/**
 * The deepest nesting of arrays and objects accepted in a JSON document: far above any CNI document (a config
 * with prevResult is about 5 levels deep), far below what a recursive walk can take.
 */
export const MAX_JSON_DEPTH = 64;

/**
 * Whether JSON text nests arrays/objects deeper than `limit`. Scans the text once (brackets inside strings do not
 * count); malformed text is not judged here (JSON.parse says what is wrong with it).
 */
export function jsonTooDeep(text: string, limit = MAX_JSON_DEPTH): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 0x5c)
        i++; // backslash: skip the escaped character
      else if (ch === 0x22) inString = false;
      continue;
    }
    if (ch === 0x22) inString = true;
    else if (ch === 0x5b || ch === 0x7b) {
      if (++depth > limit) return true;
    } else if (ch === 0x5d || ch === 0x7d) depth--;
  }
  return false;
}

/**
 * Throws CniError `code` (default 6, decoding failure) when JSON text `what` nests deeper than MAX_JSON_DEPTH.
 * Call it before JSON.parse.
 */
export function checkJsonDepth(text: string, what: string, code: CodeNumber = Code.DecodeFailure): void {
  if (jsonTooDeep(text)) {
    throw new CniError(
      code,
      `${what} is nested too deeply`,
      `arrays and objects may nest at most ${MAX_JSON_DEPTH} levels deep`,
    );
  }
}

/** Whether an already-parsed value nests arrays/objects deeper than `limit` (an explicit stack, no recursion). */
export function valueTooDeep(value: unknown, limit = MAX_JSON_DEPTH): boolean {
  const stack: Array<[unknown, number]> = [[value, 0]];
  const seen = new Set<object>();
  while (stack.length > 0) {
    const [v, d] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (d + 1 > limit || seen.has(v)) return true; // a cycle is as unbounded as it gets
    seen.add(v);
    for (const x of Array.isArray(v) ? v : Object.values(v)) stack.push([x, d + 1]);
  }
  return false;
}
