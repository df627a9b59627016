// zod as the protocol layer uses it: zod/mini, the functional build of zod 4 on the same core (the same parsers,
// checks and issues as the classic API), with the English messages the classic build configures by itself.
// Configured once, before any schema is built: jitless, because each plugin process parses one config and perhaps
// one prevResult, and zod's compiled fast path for object schemas (code generated with new Function on first use)
// costs more to build than it saves on a single parse. Why mini: a plugin call loads zod once and parses once, and
// the classic build's module and its method-laden schema objects were most of a config's cost (issue 24: measured
// in bench/, about two thirds of the time and half the memory that loading zod took). The namespace import keeps
// the other locales out of the bundle (only English is imported).
import * as z from 'zod/mini';
import en from 'zod/v4/locales/en.js';

z.config({ jitless: true, ...en() });

export { z };
