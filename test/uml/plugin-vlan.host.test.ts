// Boots the UML kernel and runs the plugin's VLAN behaviour tests there (the host kernel has no VLAN filtering and
// no bonding): test/uml/guest/plugin-vlan.guest.test.ts, against the built executable.
import { it } from 'vitest';
import { expectGuestFilePasses } from '../lab/uml-vitest.js';

it('plugin VLAN behaviour passes in the UML kernel', async () => {
  await expectGuestFilePasses('test/uml/guest/plugin-vlan.guest.test.ts', 81, 560_000);
}, 600_000);
