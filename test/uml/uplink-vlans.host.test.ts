// Boots the UML kernel (VLAN filtering, 802.1q and bonding, which the host kernel lacks) and runs the uplinkVlans
// tests there: test/uml/guest/uplink-vlans.guest.test.ts, against the built executable. 2 GiB: 32 plugin processes
// run at once.
import { it } from 'vitest';
import { expectGuestFilePasses } from '../lab/uml-vitest.js';

it('uplinkVlans keeps the bond in step with the pods in the UML kernel', async () => {
  await expectGuestFilePasses('test/uml/guest/uplink-vlans.guest.test.ts', 31, 1_700_000, 2048);
}, 1_800_000);
