// Harvester's VLAN networks (access VLAN, trunk, untagged) through Multus, in the UML kernel: this machine's kernel
// has no bridge VLAN filtering, so kubernetes.test.ts can only show a VLAN NAD refused. Boots the kernel and runs
// test/k8s/guest/multus-vlans.guest.test.ts there, with Multus (static, build/k8s/multus) and a copy of the built
// vlan-bridge.
import { beforeAll, it } from 'vitest';
import { expectGuestFilePasses } from '../lab/uml-vitest.js';
import { BUILD_WAIT_MS, buildK8sParts } from './lab.js';

beforeAll(buildK8sParts, BUILD_WAIT_MS);

it("Multus attaches Harvester's VLAN NADs through vlan-bridge in the UML kernel: ports, leases, the ping matrix, DEL", async () => {
  await expectGuestFilePasses('test/k8s/guest/multus-vlans.guest.test.ts', 6, 400_000);
}, 420_000);
