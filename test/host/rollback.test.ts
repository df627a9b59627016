// ADD's rollback step by step, in-process (test/lab/step-failure.ts): an L3 ADD with host-local, isGateway and
// isDefaultGateway (a gateway address this ADD puts on the bridge), ipMasq and macspoofchk, with its n-th kernel
// step failing, for every n: nothing is left (no veth, no pod interface, no reservation, no gateway address the ADD
// added, no firewall rule). The VLAN gateway `<bridge>.<vlan>` is covered in the UML tier.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envOf } from '../lab/cni.js';
import { callInProcess, failEachStep } from '../lab/step-failure.js';
import { attachmentState, deleteAllNetns, makeNetns, type TestNs } from './netns-fixture.js';

let node: TestNs;
let pod: TestNs;
const tmp = mkdtempSync(path.join(tmpdir(), 'vb-rollback-'));

beforeAll(() => {
  node = makeNetns('vbn');
  pod = makeNetns('vbp');
});
afterAll(deleteAllNetns);

describe.each(['iptables', 'nftables'] as const)('a failed ADD undoes every step (ipMasq with %s)', (backend) => {
  const conf = {
    cniVersion: '1.0.0',
    name: `rb-${backend}`,
    type: 'vlan-bridge',
    bridge: 'br-rb',
    isGateway: true,
    isDefaultGateway: true,
    ipMasq: true,
    ipMasqBackend: backend,
    macspoofchk: true,
    ipam: { type: 'host-local', subnet: '10.84.0.0/24', dataDir: path.join(tmp, 'ipam') },
  };
  const env = (command: string) => envOf({ command, conf, netns: pod.path });
  const leftovers = () =>
    attachmentState(node, pod, { ipamDir: path.join(tmp, 'ipam', conf.name), bridge: 'br-rb', marker: /vlan-bridge/ });

  it('for every kernel step of the ADD', async () => {
    const { steps, failed } = await failEachStep({
      run: () => callInProcess(node.path, env('ADD'), conf),
      undo: async () => {
        const r = await callInProcess(node.path, env('DEL'), conf);
        expect(r.code, r.stdout).toBe(0);
        // DEL leaves the shared gateway address (as the reference); take it away so that each ADD below adds it.
        node.exec('ip', 'addr', 'flush', 'dev', 'br-rb');
      },
      leftovers,
      clean: { veths: [], pod: ['lo'], reservations: [], bridgeAddresses: [], rules: [] },
    });
    expect(steps).toBeGreaterThan(10);
    // Only the best-effort steps may fail without failing the ADD (the announcement, the bridge MAC's re-read).
    expect(failed).toBeGreaterThanOrEqual(steps - 4);
  }, 300_000);
});
