// Boots the UML kernel and runs the plugin's VLAN behaviour tests there (the host kernel has no VLAN filtering and
// no bonding): test/uml/guest/plugin-vlan.guest.test.ts. The binary is built here, on the host, and the guest gets a
// private copy (VB_PLUGIN_BIN) so it never builds and a concurrent rebuild of bin/ cannot change it mid-run.
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { BIN, ensureBuilt } from '../lab/binary.js';
import { expectGuestPassed, runGuestVitest } from '../lab/uml-vitest.js';

const GUEST_FILE = 'test/uml/guest/plugin-vlan.guest.test.ts';
// The number of tests the guest file defines; every one of them must pass.
const GUEST_TESTS = 72;

const tmp = mkdtempSync(path.join(os.tmpdir(), 'vb-plugin-vlan-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

it('plugin VLAN behaviour passes in the UML kernel', async () => {
  ensureBuilt();
  const bin = path.join(tmp, 'vlan-bridge');
  copyFileSync(BIN, bin);
  const report = await runGuestVitest([GUEST_FILE], { timeoutMs: 560_000, env: { VB_PLUGIN_BIN: bin } });
  expectGuestPassed(report);
  expect(report.tests.every((t) => t.file === GUEST_FILE)).toBe(true);
  expect(report.tests.filter((t) => t.status === 'passed').length).toBeGreaterThanOrEqual(GUEST_TESTS);
}, 600_000);
