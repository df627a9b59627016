// Boots the UML kernel and proves with packets that pods attached by the built plugin behave as Harvester needs
// (VLAN isolation, untagged and VLAN 1 traffic, trunks, DHCP per VLAN, jumbo frames, bond failover):
// test/uml/guest/traffic.guest.test.ts, on the node built by test/lab/harvester-node.ts.
import { it } from 'vitest';
import { expectGuestFilePasses } from '../lab/uml-vitest.js';

it('traffic through a Harvester-like node passes in the UML kernel', async () => {
  await expectGuestFilePasses('test/uml/guest/traffic.guest.test.ts', 16, 280_000);
}, 300_000);
