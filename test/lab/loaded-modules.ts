// Runs one CNI call from the sources under Bun as bin/vlan-bridge runs it (src/main.ts's CNI path: the dispatcher,
// handlers through a loader), then prints on stderr's last line `LOADED <json>`: every module file the call loaded
// (Bun's require.cache holds ES modules too), relative to the repository. Tests use it to prove that a command
// loads only what it needs (test/host/lazy-load.test.ts). Run: bun test/lab/loaded-modules.ts < conf.json
import path from 'node:path';
import { dispatch } from '../../src/cni/dispatch.js';
import { readAllStdin } from '../../src/stdio.js';

const root = path.resolve(import.meta.dir, '..', '..');
const code = await dispatch(
  {
    env: process.env,
    readStdin: readAllStdin,
    stdout: (s) => process.stdout.write(s),
    stderr: (s) => process.stderr.write(s),
  },
  () => import('../../src/plugin/handlers.js').then((m) => m.handlers),
);
const loaded = Object.keys(require.cache)
  .filter((k) => k.startsWith(root) && !k.includes('/test/lab/'))
  .map((k) => path.relative(root, k));
process.stderr.write(`\nLOADED ${JSON.stringify(loaded)}\n`);
process.exit(code);
