// zod as the protocol layer uses it. Configured once, before any schema is built: jitless, because each plugin
// process parses one config and perhaps one prevResult, and zod's compiled fast path for object schemas (code
// generated with new Function on first use) costs more to build than it saves on a single parse. The namespace
// re-export keeps zod's locales out of the bundle (only English is imported).
import * as z from 'zod';

z.config({ jitless: true });

export { z };
