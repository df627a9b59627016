// dhcp IPAM, as a node runs it: the reference `dhcp` daemon and a DHCP server (dnsmasq) on the bridge, both in a
// test node namespace. The pod gets its lease through the veth and the bridge; DEL releases it.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { cni, ok } from '../lab/cni.js';
import { deleteAllNetns, makeNetns, type TestNs } from './netns-fixture.js';
import { waitFor } from '../lab/wait.js';

let node: TestNs;
let pod: TestNs;
let tmp: string;
const procs: ChildProcess[] = [];

beforeEach(async () => {
  node = makeNetns('vbn');
  pod = makeNetns('vbp');
  tmp = mkdtempSync(path.join(tmpdir(), 'vb-dhcp-'));
  node.exec('ip', 'link', 'add', 'br-dhcp', 'type', 'bridge');
  node.exec('ip', 'addr', 'add', '10.90.0.1/24', 'dev', 'br-dhcp');
  node.exec('ip', 'link', 'set', 'br-dhcp', 'up');
  const leases = path.join(tmp, 'leases');
  procs.push(
    spawn(
      'ip',
      [
        'netns',
        'exec',
        node.name,
        'dnsmasq',
        '--no-daemon',
        '--conf-file=/dev/null',
        '--interface=br-dhcp',
        '--bind-interfaces',
        '--dhcp-range=10.90.0.50,10.90.0.99,255.255.255.0,1h',
        '--dhcp-option=option:router,10.90.0.1',
        `--dhcp-leasefile=${leases}`,
        '--port=0',
      ],
      { stdio: 'ignore' },
    ),
  );
  const sock = path.join(tmp, 'dhcp.sock');
  procs.push(
    spawn('ip', ['netns', 'exec', node.name, '/usr/lib/cni/dhcp', 'daemon', '-socketpath', sock], { stdio: 'ignore' }),
  );
  await waitFor(() => existsSync(sock), 'the dhcp daemon socket');
});

afterEach(async () => {
  for (const p of procs.splice(0)) p.kill('SIGKILL');
  await new Promise((r) => setTimeout(r, 100));
  deleteAllNetns();
});

it('gets a lease from the DHCP server on the bridge, and DEL releases it', async () => {
  const conf = {
    cniVersion: '1.0.0',
    name: 'dhcpnet',
    type: 'vlan-bridge',
    bridge: 'br-dhcp',
    ipam: { type: 'dhcp', daemonSocketPath: path.join(tmp, 'dhcp.sock') },
  };
  const res = ok(cni(node.name, { command: 'ADD', conf, netns: pod.path }));
  expect(res.ips).toHaveLength(1);
  expect(res.ips[0].address).toMatch(/^10\.90\.0\.(5\d|[6-9]\d)\/24$/);
  expect(res.ips[0].gateway).toBe('10.90.0.1');
  const addr = res.ips[0].address;
  expect(
    pod
      .ipj('addr', 'show', 'net1')[0]
      .addr_info.map((a: { local: string; prefixlen: number }) => `${a.local}/${a.prefixlen}`),
  ).toContain(addr);
  pod.exec('ping', '-c', '1', '-W', '2', '10.90.0.1');
  const leases = path.join(tmp, 'leases');
  await waitFor(() => readFileSync(leases, 'utf8').includes(addr.split('/')[0]!), 'the lease in dnsmasq');
  ok(cni(node.name, { command: 'CHECK', conf: { ...conf, prevResult: res }, netns: pod.path }));
  ok(cni(node.name, { command: 'DEL', conf, netns: pod.path }));
  await waitFor(() => !readFileSync(leases, 'utf8').includes(addr.split('/')[0]!), 'dnsmasq to see the release');
}, 60_000);
