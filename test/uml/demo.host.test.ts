// `make demo` is one of the two commands a newcomer runs: its scenario must keep proving what it says.
import { spawnSync } from 'node:child_process';
import { expect, it } from 'vitest';
import { ROOT, ensureBuilt } from '../lab/binary.js';

it('the demo attaches pods on VLAN 100, VLAN 200 and untagged, proves the ping matrix, CHECK and DEL', () => {
  ensureBuilt();
  const r = spawnSync('node_modules/@oven/bun-linux-x64/bin/bun', ['demo/demo.ts'], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 280_000,
  });
  expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
  expect(r.stdout).toMatch(/DHCP vm-a: 10\.100\.0\.\d+ from 10\.100\.0\.1/);
  expect(r.stdout).toMatch(/DHCP vm-c: 10\.200\.0\.\d+ from 10\.200\.0\.1/);
  expect(r.stdout).toMatch(/veth[0-9a-f]{11}\s+100 PVID Egress Untagged/);
  expect(r.stdout).toContain('matrix: every pod reaches its own network and nothing else');
  expect(r.stdout).toContain('CHECK: all 4 attachments match their configs');
  expect(r.stdout).toContain('DEL: every pod port removed');
  // uplinkVlans: the bond gains VLAN 300 for vm-e and loses it with vm-e.
  expect(r.stdout).toMatch(/bond mgmt-bo before: (?!.*\b300\b).*\n.*after ADD vm-e: .*\b300\b/);
  expect(r.stdout).toContain("vm-e (10.30.0.10) reaches the switch's VLAN 300 host 10.30.0.1: yes");
  expect(r.stdout).toMatch(/after DEL vm-e: +1 PVID Egress Untagged, 100, 200 \(300 gone with its last pod\)/);
  expect(r.stdout).toContain('proved:');
  // It says where it departs from conf-examples/ (they are at 0.3.1, as Harvester writes them; CHECK needs 0.4.0+).
  expect(r.stdout).toContain(
    'ADD vm-a on vlan100 (conf-examples/vlan100.json, cniVersion 0.3.1 changed to 1.0.0 for CHECK): net1 ',
  );
}, 300_000);
