// Where JSON text stops being JSON, in our own words: JSON.parse's messages are the engine's (they differ between
// JavaScriptCore and V8, and between versions), and a CNI error should read the same whatever runs the plugin.
// jsonc-parser's scanner (Microsoft's, used by VS Code) finds the first error and its offset; it is loaded only
// when JSON.parse has already failed.
import type * as JsoncParser from 'jsonc-parser';

/** jsonc-parser's ParseErrorCode names, as a reader of a CNI error would want them said. */
const WHAT: Record<string, string> = {
  InvalidSymbol: 'unexpected character',
  InvalidNumberFormat: 'malformed number',
  PropertyNameExpected: 'expected a property name in double quotes',
  ValueExpected: 'expected a value',
  ColonExpected: "expected ':'",
  CommaExpected: "expected ',' or the end of the object or array",
  CloseBraceExpected: "expected '}'",
  CloseBracketExpected: "expected ']'",
  EndOfFileExpected: 'unexpected text after the JSON value',
  InvalidCommentToken: 'comments are not JSON',
  UnexpectedEndOfComment: 'comments are not JSON',
  UnexpectedEndOfString: 'unterminated string',
  UnexpectedEndOfNumber: 'malformed number',
  InvalidUnicode: 'malformed \\u escape',
  InvalidEscapeCharacter: 'invalid escape in a string',
  InvalidCharacter: 'control character in a string',
};

/**
 * Where `text` (which JSON.parse refused) first fails to be JSON, as 'line L column C: <what>' (1-based, columns
 * in UTF-16 code units), or 'empty' for blank text. Falls back to 'not valid JSON' when the scanner accepts what
 * JSON.parse refused (the two agree on RFC 8259; this is a safety net, not an expected path).
 */
export function jsonSyntaxError(text: string): string {
  if (text.trim() === '') return 'empty';
  // Its ES module build: the default (UMD) build requires its parts at run time, which a bundle cannot follow.
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded only on this error path, synchronously
  const jsonc = require('jsonc-parser/lib/esm/main.js') as typeof JsoncParser;
  const errors: JsoncParser.ParseError[] = [];
  jsonc.parse(text, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
  const first = errors[0];
  if (!first) return 'not valid JSON';
  const before = text.slice(0, first.offset);
  const line = before.split('\n').length;
  const column = first.offset - before.lastIndexOf('\n');
  return `line ${line} column ${column}: ${WHAT[jsonc.printParseErrorCode(first.error)] ?? 'not valid JSON'}`;
}
