// Boots the UML kernel and runs the VLAN/bond kernel-verb tests there (the host kernel has no VLAN filtering).
import { expect, it } from 'vitest';
import { expectGuestPassed, runGuestVitest } from '../lab/uml-vitest.js';

it('kernel VLAN verbs pass in the UML kernel', async () => {
  const report = await runGuestVitest(['test/uml/guest/kernel-vlan.guest.test.ts']);
  expectGuestPassed(report);
  expect(report.tests.filter((t) => t.status === 'passed').length).toBeGreaterThanOrEqual(8);
});
