// Boots the UML kernel and runs the operator tools (discover, doctor) of the built executable there, on a
// Harvester-like node with DHCP servers per VLAN and on nodes built to be wrong: test/uml/guest/tools.guest.test.ts.
import { it } from 'vitest';
import { expectGuestFilePasses } from '../lab/uml-vitest.js';

it('discover and doctor pass in the UML kernel', async () => {
  await expectGuestFilePasses('test/uml/guest/tools.guest.test.ts', 27, 280_000);
}, 300_000);
