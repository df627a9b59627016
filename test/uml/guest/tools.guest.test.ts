// Runs inside the UML kernel: the operator tools of the built executable against real nodes.
//
// discover: on a Harvester-like node (test/lab/harvester-node.ts: mgmt-br over an active-backup bond to a switch
// namespace with dnsmasq on the untagged side and on 802.1q VLANs 100 and 200), plus VLAN 300 whose dnsmasq also
// offers MTU, DNS, a domain and a router that does not exist, and VLAN 400 that the bond carries but where no server
// answers. Every run must leave the node as it found it: same links, same namespace ids.
// doctor: the same node with pods attached by the plugin (clean), then a node built by hand with one problem per
// bridge.
//
// Like plugin-vlan.guest.test.ts, this file never builds: the host test (test/uml/tools.host.test.ts) hands over a
// private copy of the binary in VB_PLUGIN_BIN.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN } from '../../lab/binary.js';
import { CNI_PATH } from '../../lab/cni.js';
import { BOND, BRIDGE, SWITCH_BRIDGE, buildHarvesterNode, type HarvesterNode } from '../../lab/harvester-node.js';
import { deleteAllNetns, makeNetns, type TestNs } from '../../host/netns-fixture.js';
import { sleep, waitFor } from '../../lab/wait.js';

const PLUGIN = process.env.VB_PLUGIN_BIN || BIN;
const CONF_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../conf-examples');
const WORK = mkdtempSync(path.join(process.env.UML_WORK_DIR ?? os.tmpdir(), 'tools-'));
const PATH_ENV = '/usr/sbin:/usr/bin:/sbin:/bin';

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  json: any;
  ms: number;
}

/** Runs `vlan-bridge <args>` in namespace `ns`, as an operator would (no CNI_* variables). */
function tool(ns: TestNs, args: string[], timeout = 60_000): Run {
  const t0 = Date.now();
  const r = spawnSync('ip', ['netns', 'exec', ns.name, PLUGIN, ...args], {
    encoding: 'utf8',
    timeout,
    env: { PATH: PATH_ENV },
  });
  let json: any;
  try {
    json = r.stdout.trim() ? JSON.parse(r.stdout) : undefined;
  } catch {
    json = undefined;
  }
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr, json, ms: Date.now() - t0 };
}

const why = (r: Run) =>
  `exit ${r.code} (${r.signal ?? 'no signal'}) in ${r.ms} ms\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;

/** What must be back to how it was after every discover: the node's links and the namespace ids it knows. */
function nodeState(ns: TestNs): { links: string[]; nsids: number[] } {
  const links = (ns.ipj<Array<{ ifname: string }>>('link', 'show') ?? []).map((l) => l.ifname).sort();
  const nsids = (JSON.parse(ns.exec('ip', '-j', 'netns', 'list-id') || '[]') as Array<{ nsid: number }>)
    .map((n) => n.nsid)
    .sort((a, b) => a - b);
  return { links, nsids };
}

/** The probe's veth is deleted before discover exits; its namespace goes when the kernel's cleanup has run. */
async function expectNothingLeft(ns: TestNs, before: { links: string[]; nsids: number[] }): Promise<void> {
  expect(nodeState(ns).links).toEqual(before.links);
  await waitFor(
    () => JSON.stringify(nodeState(ns).nsids) === JSON.stringify(before.nsids),
    'the probe namespace to be gone',
    5000,
  );
}

let hn: HarvesterNode;
let baseline: { links: string[]; nsids: number[] };
const extra: ChildProcess[] = [];
const V300 = {
  dev: `${SWITCH_BRIDGE}.300`,
  gateway: '10.30.0.1',
  log: path.join(WORK, 'vlan300.log'),
  pid: path.join(WORK, 'vlan300.pid'),
  leases: path.join(WORK, 'vlan300.leases'),
};
const V500 = {
  dev: `${SWITCH_BRIDGE}.500`,
  pid: path.join(WORK, 'vlan500.pid'),
  leases: path.join(WORK, 'vlan500.leases'),
};

beforeAll(() => {
  for (const [tool, pkg] of [
    ['dnsmasq', 'dnsmasq-base'],
    ['ip', 'iproute2'],
  ]) {
    expect(
      spawnSync('sh', ['-c', `command -v ${tool}`]).status,
      `${tool} (Debian package ${pkg}) is missing: run make deps`,
    ).toBe(0);
  }
  hn = buildHarvesterNode(makeNetns('vbn'), makeNetns('vbs'), { workDir: mkdtempSync(path.join(WORK, 'node-')) });
  // VLAN 300: a server that offers MTU 1400, DNS, a domain, a 10-minute lease and a router nobody answers for.
  // VLAN 400: carried by the bond, no server anywhere.
  // VLAN 500: a server whose subnet mask (option 1) is not contiguous.
  hn.node.exec(
    'sh',
    '-ec',
    `bridge vlan add dev ${BOND} vid 300 master; bridge vlan add dev ${BOND} vid 400 master; bridge vlan add dev ${BOND} vid 500 master`,
  );
  hn.sw.exec(
    'sh',
    '-ec',
    `
    ip link add link ${SWITCH_BRIDGE} name ${V300.dev} type vlan id 300
    ip addr add ${V300.gateway}/24 dev ${V300.dev}
    ip link set ${V300.dev} up
    dnsmasq --conf-file=/dev/null --port=0 --bind-interfaces --except-interface=lo --interface=${V300.dev} \\
      --dhcp-range=10.30.0.50,10.30.0.99,255.255.255.0,10m --dhcp-option=option:router,10.30.0.254 \\
      --dhcp-option=option:mtu,1400 --dhcp-option=option:dns-server,10.30.0.53,10.30.0.54 --dhcp-option=15,lab.example \\
      --no-ping --dhcp-authoritative --dhcp-leasefile=${V300.leases} --pid-file=${V300.pid} \\
      --log-dhcp --log-facility=${V300.log} --user=root --group=root
    ip link add link ${SWITCH_BRIDGE} name ${V500.dev} type vlan id 500
    ip addr add 10.50.0.1/24 dev ${V500.dev}
    ip link set ${V500.dev} up
    dnsmasq --conf-file=/dev/null --port=0 --bind-interfaces --except-interface=lo --interface=${V500.dev} \\
      --dhcp-range=10.50.0.50,10.50.0.99,255.255.255.0,1h --dhcp-option=option:router,10.50.0.1 \\
      --dhcp-option=option:netmask,255.255.0.255 --no-ping --dhcp-authoritative --dhcp-leasefile=${V500.leases} \\
      --pid-file=${V500.pid} --user=root --group=root`,
  );
  baseline = nodeState(hn.node);
}, 60_000);

afterAll(() => {
  for (const p of extra) p.kill('SIGKILL');
  hn?.cleanup();
  for (const pid of [V300.pid, V500.pid]) if (existsSync(pid)) spawnSync('sh', ['-c', `kill $(cat ${pid})`]);
  deleteAllNetns();
});

describe('discover', () => {
  it.each([
    ['vlan100', 100, '10.100.0'],
    ['vlan200', 200, '10.200.0'],
  ] as const)(
    'finds the CIDR and gateway of %s from its own server only, takes no lease, leaves nothing behind',
    async (net, vid, prefix) => {
      const other = net === 'vlan100' ? 'vlan200' : 'vlan100';
      const otherLog = hn.dhcpLog(other);
      const r = tool(hn.node, ['discover', '--bridge', BRIDGE, '--vlan', String(vid), '--timeout', '10']);
      expect(r.code, why(r)).toBe(0);
      expect(r.json).toEqual({
        bridge: BRIDGE,
        vlan: vid,
        method: 'discover',
        cidr: `${prefix}.0/24`,
        gateway: `${prefix}.1`,
        server: `${prefix}.1`,
        leaseTime: 3600,
        dns: [],
        address: expect.stringMatching(new RegExp(`^${prefix.replace(/\./g, '\\.')}\\.([5-9]\\d)$`)),
      });
      expect(r.stderr).toBe('');
      // Its own server saw the DISCOVER, the other VLAN's did not (the probe sits on that VLAN only).
      expect(hn.dhcpLog(net)).toMatch(
        new RegExp(`DHCPOFFER\\(${hn.nets[net].dev.replace('.', '\\.')}\\) ${r.json.address.replace(/\./g, '\\.')}`),
      );
      expect(hn.dhcpLog(other)).toBe(otherLog);
      expect(readFileSync(hn.nets[net].leaseFile, 'utf8')).not.toContain(r.json.address);
      await expectNothingLeft(hn.node, baseline);
    },
  );

  it('on the untagged network (--vlan 0) the probe keeps the default PVID and asks the untagged server', async () => {
    const r = tool(hn.node, ['discover', '--bridge', BRIDGE, '--vlan', '0', '--timeout', '10']);
    expect(r.code, why(r)).toBe(0);
    expect(r.json).toMatchObject({ vlan: 0, cidr: '10.1.0.0/24', gateway: '10.1.0.1', server: '10.1.0.1' });
    await expectNothingLeft(hn.node, baseline);
  });

  it('reports lease time, DNS, domain and MTU (option 26) when the server offers them', async () => {
    const r = tool(hn.node, ['discover', '--bridge', BRIDGE, '--vlan', '300', '--timeout', '10']);
    expect(r.code, why(r)).toBe(0);
    expect(r.json).toMatchObject({
      vlan: 300,
      cidr: '10.30.0.0/24',
      gateway: '10.30.0.254',
      server: '10.30.0.1',
      leaseTime: 600,
      dns: ['10.30.0.53', '10.30.0.54'],
      domain: 'lab.example',
      mtu: 1400,
    });
    await expectNothingLeft(hn.node, baseline);
  });

  it('--ping: leases an address, pings the gateway, releases the lease', async () => {
    const r = tool(hn.node, ['discover', '--bridge', BRIDGE, '--vlan', '100', '--ping', '--timeout', '10']);
    expect(r.code, why(r)).toBe(0);
    expect(r.json).toMatchObject({
      cidr: '10.100.0.0/24',
      gateway: '10.100.0.1',
      ping: { gateway: '10.100.0.1', reachable: true },
    });
    const log = hn.dhcpLog('vlan100');
    for (const m of ['DHCPREQUEST', 'DHCPACK', 'DHCPRELEASE'])
      expect(log).toContain(`${m}(${hn.nets.vlan100.dev}) ${r.json.address}`);
    await waitFor(
      () => !readFileSync(hn.nets.vlan100.leaseFile, 'utf8').includes(r.json.address),
      'the lease to be released',
    );
    await expectNothingLeft(hn.node, baseline);
  });

  it('--ping: a gateway that does not answer is exit 7, with the JSON printed', async () => {
    const r = tool(hn.node, ['discover', '--bridge', BRIDGE, '--vlan', '300', '--ping', '--timeout', '10']);
    expect(r.code, why(r)).toBe(7);
    expect(r.json).toMatchObject({ gateway: '10.30.0.254', ping: { gateway: '10.30.0.254', reachable: false } });
    expect(r.stderr).toMatch(/gateway 10\.30\.0\.254 did not answer/);
    await expectNothingLeft(hn.node, baseline);
  });

  it('--server: a DHCPINFORM unicast to that server, from a leased address or from --address', async () => {
    const a = tool(hn.node, [
      'discover',
      '--bridge',
      BRIDGE,
      '--vlan',
      '200',
      '--server',
      '10.200.0.1',
      '--timeout',
      '10',
    ]);
    expect(a.code, why(a)).toBe(0);
    expect(a.json).toMatchObject({
      method: 'inform',
      cidr: '10.200.0.0/24',
      gateway: '10.200.0.1',
      server: '10.200.0.1',
      leaseTime: 3600,
    });
    expect(hn.dhcpLog('vlan200')).toContain(`DHCPINFORM(${hn.nets.vlan200.dev}) ${a.json.address}`);
    const b = tool(hn.node, [
      'discover',
      '--bridge',
      BRIDGE,
      '--vlan',
      '200',
      '--server',
      '10.200.0.1',
      '--address',
      '10.200.0.9/24',
      '--timeout',
      '10',
    ]);
    expect(b.code, why(b)).toBe(0);
    expect(b.json).toMatchObject({
      method: 'inform',
      cidr: '10.200.0.0/24',
      gateway: '10.200.0.1',
      leaseTime: null,
      address: '10.200.0.9',
    });
    expect(hn.dhcpLog('vlan200')).toContain(`DHCPINFORM(${hn.nets.vlan200.dev}) 10.200.0.9`);
    await expectNothingLeft(hn.node, baseline);
  });

  it('--server behind a router: from --address, the INFORM goes through --gateway', async () => {
    // Made to answer ARP only for addresses of the asking interface, as a router does, the switch leaves 10.100.0.1
    // unreachable from VLAN 200 but through 10.200.0.1.
    const arpIgnore = `/proc/sys/net/ipv4/conf/${hn.nets.vlan200.dev}/arp_ignore`;
    hn.sw.exec('sh', '-ec', `echo 1 > ${arpIgnore}`);
    try {
      const r = tool(hn.node, [
        'discover',
        '--bridge',
        BRIDGE,
        '--vlan',
        '200',
        '--server',
        '10.100.0.1',
        '--address',
        '10.200.0.9/24',
        '--gateway',
        '10.200.0.1',
        '--timeout',
        '5',
      ]);
      expect(r.code, why(r)).toBe(0);
      expect(r.json).toMatchObject({
        method: 'inform',
        address: '10.200.0.9',
        cidr: '10.200.0.0/24',
        gateway: '10.200.0.1',
      });
      const refused = tool(hn.node, [
        'discover',
        '--bridge',
        BRIDGE,
        '--vlan',
        '200',
        '--server',
        '10.100.0.1',
        '--address',
        '10.200.0.9/24',
      ]);
      expect(refused.code, why(refused)).toBe(2);
      expect(refused.stderr).toMatch(/give --gateway/);
    } finally {
      hn.sw.exec('sh', '-ec', `echo 0 > ${arpIgnore}`);
    }
    await expectNothingLeft(hn.node, baseline);
  });

  it('times out cleanly where no server answers: exit 5, a clear message, nothing left behind', async () => {
    const r = tool(hn.node, ['discover', '--bridge', BRIDGE, '--vlan', '400', '--timeout', '2']);
    expect(r.code, why(r)).toBe(5);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(
      /^vlan-bridge discover: no answer to 1 DHCPDISCOVER sent to 255\.255\.255\.255 within 2\.0 s\n$/,
    );
    expect(r.ms).toBeLessThan(10_000);
    await expectNothingLeft(hn.node, baseline);
  });

  it('refuses a bridge that does not exist (exit 4) and bad options (exit 2), creating nothing', async () => {
    const r = tool(hn.node, ['discover', '--bridge', 'nope-br', '--vlan', '100']);
    expect(r.code, why(r)).toBe(4);
    expect(r.stderr).toMatch(/bridge "nope-br" does not exist/);
    const u = tool(hn.node, ['discover', '--bridge', BRIDGE, '--vlan', '5000']);
    expect(u.code, why(u)).toBe(2);
    expect(u.stderr).toMatch(/--vlan must be an integer from 0 to 4094[\s\S]*Run 'vlan-bridge discover --help'/);
    await expectNothingLeft(hn.node, baseline);
  });

  it.each([
    ['SIGTERM', 143],
    ['SIGINT', 130],
    ['SIGHUP', 129],
  ] as const)('killed with %s mid-discovery: removes its probe and exits %i', async (signal, code) => {
    const p = spawn(
      'ip',
      ['netns', 'exec', hn.node.name, PLUGIN, 'discover', '--bridge', BRIDGE, '--vlan', '400', '--timeout', '60'],
      { env: { PATH: PATH_ENV } },
    );
    extra.push(p);
    let stderr = '';
    p.stderr!.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => p.once('exit', (c) => resolve(c)));
    // Mid-discovery: the probe is a port of the bridge, on VLAN 400, sending DHCPDISCOVERs.
    await waitFor(() => nodeState(hn.node).links.some((l) => l.startsWith('vbdisc')), 'the probe veth');
    const probe = nodeState(hn.node).links.find((l) => l.startsWith('vbdisc'))!;
    const [port] = hn.node.bridgej<any[]>('vlan', 'show', 'dev', probe);
    expect(port.vlans).toEqual([{ vlan: 400, flags: ['PVID', 'Egress Untagged'] }]);
    expect(hn.node.ipj<any[]>('link', 'show', probe)[0].ifalias).toBe(`vlan-bridge-discover:${p.pid}`);
    await sleep(300);
    p.kill(signal);
    expect(await exited).toBe(code);
    expect(stderr).toMatch(new RegExp(`interrupted by ${signal}`));
    await expectNothingLeft(hn.node, baseline);
  });

  /**
   * Starts `discover --vlan 300 --ping` with VLAN_BRIDGE_DEBUG=1, interrupts it with SIGINT once the server has
   * written the lease and `ready(stderr)` holds, and checks that the lease is given back and nothing is left.
   * Returns discover's stderr.
   */
  async function interruptWithLease(ready: (stderr: string) => boolean): Promise<string> {
    const p = spawn(
      'ip',
      [
        'netns',
        'exec',
        hn.node.name,
        PLUGIN,
        'discover',
        '--bridge',
        BRIDGE,
        '--vlan',
        '300',
        '--ping',
        '--timeout',
        '10',
      ],
      { env: { PATH: PATH_ENV, VLAN_BRIDGE_DEBUG: '1' }, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    extra.push(p);
    let stderr = '';
    p.stderr!.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => p.once('exit', (c) => resolve(c)));
    const leased = () => /10\.30\.0\.\d+/.exec(existsSync(V300.leases) ? readFileSync(V300.leases, 'utf8') : '')?.[0];
    // dnsmasq writes the lease when it sends its DHCPACK.
    await waitFor(() => leased() !== undefined && ready(stderr), 'the lease in the VLAN 300 server');
    const ip = leased()!;
    p.kill('SIGINT');
    expect(await exited, stderr).toBe(130);
    await waitFor(
      () => !readFileSync(V300.leases, 'utf8').includes(`${ip} `),
      `the lease of ${ip} to be released`,
      // dnsmasq handles the DHCPRELEASE when it is scheduled: seconds on a loaded 2-core machine.
      20_000,
    );
    expect(stderr).toMatch(new RegExp(`released ${ip.replaceAll('.', '\\.')} to ${V300.gateway}`));
    await expectNothingLeft(hn.node, baseline);
    return stderr;
  }

  it('interrupted while holding a lease (--ping to a silent gateway): releases the lease, removes the probe', async () => {
    // The DHCPACK is in: the ping to 10.30.0.254 then waits up to 3 s for an answer that never comes.
    const stderr = await interruptWithLease((e) => /DHCPACK from/.test(e));
    expect(stderr).not.toMatch(/had not arrived/);
  });

  it('interrupted after the server committed the lease but before its DHCPACK arrived: releases it all the same', async () => {
    // The server's answers (and its ARP replies) leave 2 s late: SIGINT lands while the DHCPREQUEST waits.
    hn.sw.exec('tc', 'qdisc', 'add', 'dev', V300.dev, 'root', 'netem', 'delay', '2000ms');
    try {
      const stderr = await interruptWithLease(() => true);
      expect(stderr).not.toMatch(/DHCPACK from/);
      expect(stderr).toMatch(/\(its DHCPACK had not arrived\)/);
    } finally {
      hn.sw.exec('tc', 'qdisc', 'del', 'dev', V300.dev, 'root');
    }
  });

  it('a subnet mask that is not contiguous is exit 6, and the lease taken for --ping is given back', async () => {
    const r = tool(hn.node, ['discover', '--bridge', BRIDGE, '--vlan', '500', '--ping', '--timeout', '10']);
    expect(r.code, why(r)).toBe(6);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/subnet mask 255\.255\.0\.255 is not contiguous/);
    await waitFor(
      () => !/10\.50\.0\.\d+/.test(readFileSync(V500.leases, 'utf8')),
      'the VLAN 500 lease to be released',
      5000,
    );
    await expectNothingLeft(hn.node, baseline);
  });

  it('waits out STP listening and learning on a new port before asking (forward_delay 2 s)', async () => {
    hn.node.exec('ip', 'link', 'set', BRIDGE, 'type', 'bridge', 'forward_delay', '200', 'stp_state', '1');
    try {
      // The uplink goes through listening and learning too: wait until it forwards again.
      await waitFor(
        () => hn.node.ipj<any[]>('link', 'show', BOND)[0].linkinfo?.info_slave_data?.state === 'forwarding',
        'the bond to forward',
        15_000,
      );
      const r = tool(hn.node, ['discover', '--bridge', BRIDGE, '--vlan', '100', '--timeout', '3']);
      expect(r.code, why(r)).toBe(0);
      expect(r.json).toMatchObject({ cidr: '10.100.0.0/24', gateway: '10.100.0.1' });
      // 2 x forward_delay before the port forwarded, and --timeout (3 s) counted only after that.
      expect(r.ms).toBeGreaterThan(3500);
    } finally {
      hn.node.exec('ip', 'link', 'set', BRIDGE, 'type', 'bridge', 'stp_state', '0');
    }
    await expectNothingLeft(hn.node, baseline);
  });

  it('killed with SIGKILL: the kernel removes the probe with its namespace (nothing can be left)', async () => {
    const p = spawn(
      'ip',
      ['netns', 'exec', hn.node.name, PLUGIN, 'discover', '--bridge', BRIDGE, '--vlan', '400', '--timeout', '60'],
      { env: { PATH: PATH_ENV }, stdio: 'ignore' },
    );
    extra.push(p);
    const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()));
    await waitFor(() => nodeState(hn.node).links.some((l) => l.startsWith('vbdisc')), 'the probe veth');
    p.kill('SIGKILL');
    await exited;
    await waitFor(
      () => !nodeState(hn.node).links.some((l) => l.startsWith('vbdisc')),
      'the kernel to remove the probe',
      5000,
    );
    await expectNothingLeft(hn.node, baseline);
  });
});

describe('doctor', () => {
  /** Attaches a pod with the plugin (ADD), as the runtime would, with a config from conf-examples/. */
  function attach(node: TestNs, name: string, containerId: string): TestNs {
    const pod = makeNetns('vbp');
    const conf = readFileSync(path.join(CONF_DIR, `${name}.json`), 'utf8');
    const env = {
      CNI_COMMAND: 'ADD',
      CNI_CONTAINERID: containerId,
      CNI_NETNS: pod.path,
      CNI_IFNAME: 'net1',
      CNI_PATH,
      PATH: PATH_ENV,
    };
    const r = spawnSync('ip', ['netns', 'exec', node.name, PLUGIN], {
      input: conf,
      env,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.status, `ADD ${name}: ${r.stdout}${r.stderr}`).toBe(0);
    return pod;
  }

  it('reports the Harvester-like node with pods attached by the plugin as clean (exit 0), as JSON and as a table', () => {
    attach(hn.node, 'vlan100', 'doc-a');
    attach(hn.node, 'vlan200', 'doc-b');
    attach(hn.node, 'untagged', 'doc-c');
    const r = tool(hn.node, ['doctor', '--json']);
    expect(r.code, why(r)).toBe(0);
    expect(r.json.findings).toEqual([]);
    expect(r.json.notes).toEqual([]);
    expect(r.json.summary).toEqual({ errors: 0, warnings: 0 });
    const [br] = r.json.bridges;
    expect(br).toMatchObject({ name: BRIDGE, vlanFiltering: true, defaultPvid: 1, mtu: 1500, up: true });
    expect(br.uplinks).toEqual([
      {
        name: BOND,
        kind: 'bond',
        mtu: 1500,
        up: true,
        carrier: true,
        vlans: [
          { min: 1, max: 1, pvid: true, untagged: true },
          { min: 100, max: 100, pvid: false, untagged: false },
          { min: 200, max: 200, pvid: false, untagged: false },
          { min: 300, max: 300, pvid: false, untagged: false },
          { min: 400, max: 400, pvid: false, untagged: false },
          { min: 500, max: 500, pvid: false, untagged: false },
        ],
      },
    ]);
    const pods = br.pods.map((p: any) => [
      p.network,
      p.containerId,
      p.ifname,
      p.vlans.map((v: any) => `${v.min}${v.pvid ? 'P' : ''}${v.untagged ? 'U' : ''}`).join(','),
      p.namespace,
      p.mtu,
    ]);
    expect(pods.sort()).toEqual([
      ['untagged', 'doc-c', 'net1', '1PU', 'alive', 1500],
      ['vlan100', 'doc-a', 'net1', '100PU', 'alive', 1500],
      ['vlan200', 'doc-b', 'net1', '200PU', 'alive', 1500],
    ]);
    const t = tool(hn.node, ['doctor', '--bridge', BRIDGE]);
    expect(t.code, why(t)).toBe(0);
    expect(t.stdout).toMatch(
      /^BRIDGE\s+MTU\s+STATE\s+VLAN-FILTERING\s+DEFAULT-PVID\s+UPLINKS\nmgmt-br\s+1500\s+up\s+on\s+1\s+mgmt-bo \(bond\)\n/,
    );
    expect(t.stdout).toMatch(/veth[0-9a-f]{11}\s+pod\s+1500\s+up\s+100 PVID untagged\s+vlan100\/doc-a\/net1/);
    expect(t.stdout).toMatch(/no problems found\n$/);
  });

  describe('on a node built with one problem per bridge', () => {
    let sick: TestNs;
    let holder: ChildProcess;
    let report: Run;
    const pods: TestNs[] = [];

    /** A bridge with VLAN filtering and a dummy uplink; `uplinkVlans` replaces the uplink's default VLAN 1. */
    const bridgeScript = (
      br: string,
      uplink: string,
      uplinkVlans: string,
      o: { mtu?: number; filtering?: 0 | 1 } = {},
    ) => `
      ip link add ${br} type bridge vlan_filtering ${o.filtering ?? 1}
      ip link add ${uplink} ${o.mtu ? `mtu ${o.mtu}` : ''} type dummy
      ip link set ${uplink} master ${br}
      ${uplinkVlans}
      ip link set ${uplink} up; ip link set ${br} up`;

    /** A pod namespace and a host veth with the plugin's alias on `br`; `vlans` replaces the port's default VLAN 1. */
    const podScript = (
      pod: TestNs,
      veth: string,
      br: string,
      network: string,
      vlans: string,
      o: { mtu?: number; podDown?: boolean } = {},
    ) => `
      ip link add ${veth} ${o.mtu ? `mtu ${o.mtu}` : ''} type veth peer name net1 netns ${pod.name} ${o.mtu ? `mtu ${o.mtu}` : ''}
      ip link set ${veth} master ${br}
      ip link set ${veth} alias vlan-bridge:${network}:ctr-${veth}:net1
      ${vlans}
      ip link set ${veth} up
      ${o.podDown ? '' : `ip -n ${pod.name} link set net1 up`}`;

    beforeAll(async () => {
      sick = makeNetns('vbsick');
      const pod = () => {
        const p = makeNetns('vbp');
        pods.push(p);
        return p;
      };
      const [leak, novlan, untag, big, small, gone, down, nofilter] = [
        pod(),
        pod(),
        pod(),
        pod(),
        pod(),
        pod(),
        pod(),
        pod(),
      ];
      sick.exec(
        'sh',
        '-ec',
        [
          // VLAN 1 leaking onto a VLAN 100 port.
          bridgeScript('br-leak', 'up-leak', 'bridge vlan add dev up-leak vid 100 master'),
          podScript(leak!, 'vleak', 'br-leak', 'vlan100', 'bridge vlan add dev vleak vid 100 pvid untagged master'),
          // A pod on VLAN 300, which the uplink does not carry.
          bridgeScript('br-novlan', 'up-novlan', 'bridge vlan add dev up-novlan vid 100 master'),
          podScript(
            novlan!,
            'vnovlan',
            'br-novlan',
            'vlan300',
            'bridge vlan del dev vnovlan vid 1 master; bridge vlan add dev vnovlan vid 300 pvid untagged master',
          ),
          // An untagged pod; the uplink carries VLAN 100 tagged and no untagged VLAN.
          bridgeScript(
            'br-untag',
            'up-untag',
            'bridge vlan del dev up-untag vid 1 master; bridge vlan add dev up-untag vid 100 master',
          ),
          podScript(untag!, 'vuntag', 'br-untag', 'untagged', ''),
          // MTU: uplink 1500, one pod above it, one below.
          bridgeScript('br-mtu', 'up-mtu', 'bridge vlan add dev up-mtu vid 100 master', { mtu: 1500 }),
          podScript(
            big!,
            'vbig',
            'br-mtu',
            'vlan100',
            'bridge vlan del dev vbig vid 1 master; bridge vlan add dev vbig vid 100 pvid untagged master',
            { mtu: 9000 },
          ),
          podScript(
            small!,
            'vsmall',
            'br-mtu',
            'vlan100',
            'bridge vlan del dev vsmall vid 1 master; bridge vlan add dev vsmall vid 100 pvid untagged master',
            { mtu: 1400 },
          ),
          // GC candidates: a pod whose namespace will be gone, a pod whose side is down, a probe of a dead discover.
          bridgeScript('br-gc', 'up-gc', 'bridge vlan add dev up-gc vid 100 master'),
          podScript(
            gone!,
            'vgone',
            'br-gc',
            'vlan100',
            'bridge vlan del dev vgone vid 1 master; bridge vlan add dev vgone vid 100 pvid untagged master',
          ),
          podScript(
            down!,
            'vdown',
            'br-gc',
            'vlan100',
            'bridge vlan del dev vdown vid 1 master; bridge vlan add dev vdown vid 100 pvid untagged master',
            { podDown: true },
          ),
          'ip link add vbdiscdead type veth peer name vbdiscpeer',
          'ip link set vbdiscdead master br-gc; ip link set vbdiscdead alias vlan-bridge-discover:999999; ip link set vbdiscdead up; ip link set vbdiscpeer up',
          // VLAN entries on a bridge that does not filter.
          bridgeScript('br-nofilter', 'up-nofilter', '', { filtering: 0 }),
          podScript(
            nofilter!,
            'vnofilter',
            'br-nofilter',
            'vlan100',
            'bridge vlan del dev vnofilter vid 1 master; bridge vlan add dev vnofilter vid 100 pvid untagged master',
          ),
        ].join('\n'),
      );
      // vgone's namespace: nothing lives in it and its mount point goes; only a leaked fd keeps it (and the veth).
      holder = spawn('sh', ['-c', `exec 9<${gone!.path}; echo held; exec sleep 600`], {
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      extra.push(holder);
      await new Promise<void>((resolve) => holder.stdout!.once('data', () => resolve()));
      spawnSync('ip', ['netns', 'del', gone!.name]);
      expect(existsSync(gone!.path)).toBe(false);
      report = tool(sick, ['doctor', '--json']);
    }, 60_000);

    afterAll(() => holder?.kill('SIGKILL'));

    const findings = (bridge: string) =>
      report.json.findings
        .filter((f: any) => f.bridge === bridge)
        .map((f: any) => `${f.severity} ${f.code} ${f.port ?? ''}`.trim());

    it('exits 9 (errors) and reports every bridge', () => {
      expect(report.code, why(report)).toBe(9);
      expect(report.json.bridges.map((b: any) => b.name)).toEqual([
        'br-gc',
        'br-leak',
        'br-mtu',
        'br-nofilter',
        'br-novlan',
        'br-untag',
      ]);
    });

    it('flags VLAN 1 leaking onto a VLAN port', () => {
      expect(findings('br-leak')).toEqual(['warning vlan1-leak vleak']);
    });

    it('flags a VLAN on a pod port that no uplink carries', () => {
      expect(findings('br-novlan')).toEqual(['error vlan-not-on-uplink vnovlan']);
      expect(report.json.findings.find((f: any) => f.port === 'vnovlan').message).toMatch(
        /VLAN 300, which no uplink of br-novlan carries/,
      );
    });

    it('flags untagged pods on a bridge whose uplink has no untagged VLAN', () => {
      expect(findings('br-untag')).toEqual(['error untagged-no-native']);
    });

    it('flags MTU mismatches between uplink, bridge and veths', () => {
      // The bridge follows its smallest port (1400), below the uplink's 1500; vbig (9000) is above it.
      expect(findings('br-mtu')).toEqual([
        'error mtu-mismatch vbig',
        'warning mtu-mismatch',
        'warning mtu-mismatch vsmall',
      ]);
    });

    it('flags host veths whose namespace is gone, whose pod side is down, and a leftover discover probe', () => {
      expect(findings('br-gc')).toEqual([
        'warning carrier-down vdown',
        'warning namespace-gone vgone',
        'warning stale-probe vbdiscdead',
      ]);
      const gc = report.json.bridges.find((b: any) => b.name === 'br-gc');
      expect(gc.pods.find((p: any) => p.name === 'vgone').namespace).toBe('gone');
      expect(gc.pods.find((p: any) => p.name === 'vdown').namespace).toBe('alive');
      // Only warnings on this bridge: exit 8.
      const r = tool(sick, ['doctor', '--bridge', 'br-gc']);
      expect(r.code, why(r)).toBe(8);
      expect(r.stdout).toMatch(/warning\s+namespace-gone\s+br-gc\/vgone\s+vgone \(vlan100\/ctr-vgone\/net1\)/);
      expect(r.stdout).toMatch(/0 errors, 3 warnings\n$/);
    });

    it('flags VLANs on a bridge without VLAN filtering', () => {
      expect(findings('br-nofilter')).toEqual(['error vlan-filtering-off']);
    });

    it('--bridge on something that is not a bridge is exit 4', () => {
      const r = tool(sick, ['doctor', '--bridge', 'up-leak']);
      expect(r.code, why(r)).toBe(4);
      expect(r.stderr).toMatch(/"up-leak" is not a bridge/);
    });
  });
});
