// Boots the UML kernel and runs the operator tools (discover, doctor) of the built executable there, on a
// Harvester-like node with DHCP servers per VLAN and on nodes built to be wrong: test/uml/guest/tools.guest.test.ts.
// As in plugin-vlan.host.test.ts, the binary is built here and the guest gets a private copy in VB_PLUGIN_BIN.
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { BIN, ensureBuilt } from '../lab/binary.js';
import { expectGuestPassed, runGuestVitest } from '../lab/uml-vitest.js';

const GUEST_FILE = 'test/uml/guest/tools.guest.test.ts';
// The number of tests the guest file defines; every one of them must run and pass.
const GUEST_TESTS = 21;

const tmp = mkdtempSync(path.join(os.tmpdir(), 'vb-tools-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

it('discover and doctor pass in the UML kernel', async () => {
  ensureBuilt();
  const bin = path.join(tmp, 'vlan-bridge');
  copyFileSync(BIN, bin);
  const report = await runGuestVitest([GUEST_FILE], { timeoutMs: 280_000, env: { VB_PLUGIN_BIN: bin } });
  expectGuestPassed(report);
  expect(report.tests.every((t) => t.file === GUEST_FILE)).toBe(true);
  expect(report.tests.map((t) => `${t.status} ${t.fullName}`).filter((s) => !s.startsWith('passed '))).toEqual([]);
  expect(report.passed).toBe(GUEST_TESTS);
}, 300_000);
