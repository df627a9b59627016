// `make demo`: builds, then runs demo/scenario.ts where bridge VLAN filtering exists: on this kernel if it has
// it, else inside Debian's user-mode Linux kernel. Leaves nothing behind; says what it proved.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BIN, ROOT, ensureBuilt } from '../test/lab/binary.js';
import { removeUmlDir, runInUml } from '../test/lab/uml.js';

function hostHasVlanFiltering(): boolean {
  const ns = `demo-probe-${process.pid}`;
  spawnSync('ip', ['netns', 'add', ns]);
  try {
    return spawnSync('ip', ['-n', ns, 'link', 'add', 'probe', 'type', 'bridge', 'vlan_filtering', '1']).status === 0;
  } finally {
    spawnSync('ip', ['netns', 'del', ns]);
  }
}

ensureBuilt();
if (hostHasVlanFiltering()) {
  const { run } = await import('./scenario.js');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vb-demo-'));
  try {
    process.exitCode = run(dir) ? 0 : 1;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
} else {
  console.log('this kernel has no bridge VLAN filtering: running the demo inside the user-mode Linux kernel\n');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vb-demo-bin-'));
  const bin = path.join(dir, 'vlan-bridge');
  copyFileSync(BIN, bin);
  const r = await runInUml({
    script: `cd ${ROOT} && VB_PLUGIN_BIN=${bin} node_modules/@oven/bun-linux-x64/bin/bun demo/scenario.ts`,
    timeoutMs: 300_000,
  });
  process.stdout.write(r.output);
  if (r.exitCode !== 0)
    process.stdout.write(
      `\ndemo failed (exit ${r.exitCode}${r.timedOut ? ', timed out' : ''})\n${r.consoleLog.split('\n').slice(-10).join('\n')}\n`,
    );
  removeUmlDir(r.dir);
  rmSync(dir, { recursive: true, force: true });
  process.exitCode = r.exitCode === 0 ? 0 : 1;
}
