// A real caller: libcni (the library Multus, containerd and CRI-O call plugins with), through a small Go driver
// built offline from Debian's sources (test/callers). Config lists with our plugin followed by the reference
// `tuning` plugin (chaining, prevResult), Multus-style CNI_ARGS with repeated keys, runtimeConfig (mac, ips) for
// declared capabilities only, libcni's result cache, ADD / CHECK / DEL at 0.3.1, 0.4.0 and 1.0.0, DEL after a
// failed ADD, and libcni's VERSION handshake. The driver runs inside a test "node" namespace; pods are namespaces.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BIN, ROOT, ensureBuilt } from '../lab/binary.js';
import { deleteAllNetns, makeNetns, type TestNs } from './netns-fixture.js';

const DRIVER = path.join(ROOT, 'build', 'libcni-driver');
const BUILD_SCRIPT = path.join(ROOT, 'test', 'callers', 'build-driver.sh');
const VERSIONS = ['0.3.1', '0.4.0', '1.0.0'];
const OUR_VERSIONS = ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'];
const NET = 'libcni-net';
const BRIDGE = 'br-libcni';

let pluginDir: string;
let node: TestNs;
let pod: TestNs;
let tmp: string;

beforeAll(() => {
  const t0 = performance.now();
  const r = spawnSync('bash', [BUILD_SCRIPT], { encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) throw new Error(`${BUILD_SCRIPT} failed (${r.status ?? r.signal}):\n${r.stdout}${r.stderr}`);
  console.info(`libcni driver ready in ${Math.round(performance.now() - t0)} ms (${r.stderr.trim()})`);
  ensureBuilt();
  // CNI_PATH as on a node: our executable named by its type next to Debian's reference plugins.
  pluginDir = mkdtempSync(path.join(tmpdir(), 'vb-libcni-bin-'));
  symlinkSync(BIN, path.join(pluginDir, 'vlan-bridge'));
  for (const p of ['tuning', 'host-local', 'static']) symlinkSync(`/usr/lib/cni/${p}`, path.join(pluginDir, p));
}, 360_000);
afterAll(() => {
  if (pluginDir) rmSync(pluginDir, { recursive: true, force: true });
});

beforeEach(() => {
  node = makeNetns('vbln');
  pod = makeNetns('vblp');
  tmp = mkdtempSync(path.join(tmpdir(), 'vb-libcni-'));
});
afterEach(() => {
  deleteAllNetns();
  rmSync(tmp, { recursive: true, force: true });
});

interface DriverCall {
  command: 'ADD' | 'CHECK' | 'DEL' | 'VERSION' | 'CACHED';
  conflist?: object;
  containerId?: string;
  ifname?: string;
  /** CNI_ARGS as libcni RuntimeConf.Args pairs, in order (repeated keys kept). */
  args?: Array<[string, string]>;
  /** CapabilityArgs (libcni injects only the keys a plugin declares in `capabilities`). */
  capabilityArgs?: object;
  /** Pass the conflist on stdin (libcni.ConfListFromBytes) instead of a file (ConfListFromFile). */
  stdin?: boolean;
  plugins?: string[];
}
interface DriverReply {
  code: number | null;
  stdout: string;
  stderr: string;
  json: any;
  /** The plugin's CNI error as libcni decoded it, when the failure came from a plugin. */
  pluginError?: { code: number; msg: string; details: string };
}

function driver(c: DriverCall): DriverReply {
  const argv = ['-command', c.command, '-cni-path', pluginDir];
  let input: string | undefined;
  if (c.conflist) {
    const text = JSON.stringify(c.conflist);
    if (c.stdin) {
      argv.push('-conflist', '-');
      input = text;
    } else {
      const f = path.join(tmp, 'net.conflist');
      writeFileSync(f, text);
      argv.push('-conflist', f);
    }
  }
  if (c.command !== 'VERSION') {
    argv.push(
      '-container-id',
      c.containerId ?? 'c1',
      '-netns',
      pod.path,
      '-ifname',
      c.ifname ?? 'net1',
      '-cache-dir',
      path.join(tmp, 'cache'),
    );
  }
  if (c.args) {
    const f = path.join(tmp, 'args.json');
    writeFileSync(f, JSON.stringify(c.args));
    argv.push('-args-file', f);
  }
  if (c.capabilityArgs) argv.push('-capability-args', JSON.stringify(c.capabilityArgs));
  for (const p of c.plugins ?? []) argv.push('-plugin', p);
  const r = spawnSync('ip', ['netns', 'exec', node.name, DRIVER, ...argv], {
    input,
    encoding: 'utf8',
    timeout: 60_000,
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
  });
  const text = r.stdout.trim();
  const pe = /^libcni-driver: plugin error: (.*)$/m.exec(r.stderr);
  return {
    code: r.status,
    stdout: r.stdout,
    stderr: r.stderr,
    json: text ? JSON.parse(text) : undefined,
    pluginError: pe ? JSON.parse(pe[1]!) : undefined,
  };
}

function ok(r: DriverReply): any {
  if (r.code !== 0) throw new Error(`libcni driver failed (exit ${r.code}):\n${r.stderr}${r.stdout}`);
  return r.json;
}
function failed(r: DriverReply): DriverReply {
  expect(r.code, `expected a failure, got: ${r.stdout}`).toBe(1);
  return r;
}

type Link = {
  ifname: string;
  address: string;
  mtu: number;
  master?: string;
  ifalias?: string;
  flags: string[];
  linkinfo?: any;
  addr_info?: any[];
};
const links = (ns: TestNs) => ns.ipj<Link[]>('link', 'show');
const vethsOf = (ns: TestNs) => links(ns).filter((l) => l.linkinfo?.info_kind === 'veth');
const sysctl = (ns: TestNs, key: string) => ns.exec('cat', `/proc/sys/${key.replaceAll('.', '/')}`).trim();
const cacheFile = (cid: string, ifname: string) => path.join(tmp, 'cache', 'results', `${NET}-${cid}-${ifname}`);
const conflist = (v: string, plugins: object[]) => ({ cniVersion: v, name: NET, plugins });
const ours = (extra: object = {}) => ({ type: 'vlan-bridge', bridge: BRIDGE, ipam: {}, ...extra });
/** libcni itself refuses CHECK below 0.4.0 without calling any plugin. */
const checkAllowed = (v: string) => v !== '0.3.1';

// Everything our attachment made is gone: no veth in the node, only lo in the pod, libcni's cache entry removed.
function expectNothingLeft(cid = 'c1', ifname = 'net1') {
  expect(vethsOf(node)).toEqual([]);
  expect(links(pod).map((l) => l.ifname)).toEqual(['lo']);
  expect(existsSync(cacheFile(cid, ifname))).toBe(false);
}

describe.each(VERSIONS)('libcni at cniVersion %s', (v) => {
  it('[vlan-bridge, tuning]: ADD chains our result into tuning, CHECK passes, DEL removes everything', () => {
    const tunedMac = '02:7a:00:00:00:01';
    const list = conflist(v, [
      ours(),
      { type: 'tuning', sysctl: { 'net.ipv4.conf.net1.arp_ignore': '1' }, mac: tunedMac },
    ]);
    const res = ok(driver({ command: 'ADD', conflist: list }));

    // The chain's final result: tuning received our prevResult and rewrote the container interface's MAC in it.
    expect(res.cniVersion).toBe(v);
    expect(res.interfaces.map((i: { name: string }) => i.name)).toEqual([
      BRIDGE,
      expect.stringMatching(/^veth[0-9a-f]{11}$/),
      'net1',
    ]);
    expect(res.interfaces[2]).toMatchObject({ name: 'net1', mac: tunedMac, sandbox: pod.path });
    expect(res.ips).toBeUndefined();
    const [c] = pod.ipj<Link[]>('link', 'show', 'net1');
    expect(c!.address).toBe(tunedMac);
    expect(c!.flags).toContain('UP');
    expect(sysctl(pod, 'net.ipv4.conf.net1.arp_ignore')).toBe('1');
    const hostVeth = links(node).find((l) => l.ifname === res.interfaces[1].name)!;
    expect(hostVeth).toMatchObject({ master: BRIDGE, ifalias: `vlan-bridge:${NET}:c1:net1` });

    // libcni cached what it printed (the prevResult CHECK and DEL get, as under /var/lib/cni/results on a node).
    const cached = JSON.parse(readFileSync(cacheFile('c1', 'net1'), 'utf8'));
    expect(cached).toMatchObject({
      kind: 'cniCacheV1',
      containerId: 'c1',
      ifName: 'net1',
      networkName: NET,
      result: res,
    });
    expect(ok(driver({ command: 'CACHED', conflist: list }))).toEqual(res);

    if (checkAllowed(v)) ok(driver({ command: 'CHECK', conflist: list }));
    else
      expect(failed(driver({ command: 'CHECK', conflist: list })).stderr).toContain(
        `configuration version "${v}" does not support the CHECK command`,
      );

    ok(driver({ command: 'DEL', conflist: list }));
    expectNothingLeft();
    expect(links(node).map((l) => l.ifname)).toContain(BRIDGE); // DEL never deletes the bridge
    ok(driver({ command: 'DEL', conflist: list })); // again, with no cached result: still success
  });

  it('Multus-style CNI_ARGS (repeated keys, MAC=) and runtimeConfig mac: runtimeConfig wins', () => {
    const argsMac = '02:00:00:00:0a:01';
    const rcMac = '02:00:00:00:0c:01';
    const cid = '3f2a9c0d8e7b6a5f4e3d2c1b0a998877';
    const ifname = 'pod1a2b3c4d5e6'; // KubeVirt's interface naming
    // What Multus sends to a delegate: IgnoreUnknown first, pod identity, keys repeated when cni-args merge in.
    const args: Array<[string, string]> = [
      ['IgnoreUnknown', 'true'],
      ['K8S_POD_NAMESPACE', 'default'],
      ['K8S_POD_NAME', 'virt-launcher-vm1-x7k2p'],
      ['K8S_POD_INFRA_CONTAINER_ID', cid],
      ['K8S_POD_UID', '6c0f2bd1-5a7e-4c4b-9a43-0c1d2e3f4a5b'],
      ['IgnoreUnknown', 'true'],
      ['K8S_POD_NAMESPACE', 'default'],
      ['MAC', argsMac],
    ];
    const capabilityArgs = { mac: rcMac, ips: ['10.1.2.3/24'], portMappings: [] };
    // Both plugins declare "mac" (tuning also reads CNI_ARGS MAC=; its runtimeConfig mac wins there too).
    const list = conflist(v, [
      ours({ capabilities: { mac: true } }),
      { type: 'tuning', capabilities: { mac: true }, sysctl: { [`net.ipv4.conf.${ifname}.arp_ignore`]: '1' } },
    ]);
    const call = { conflist: list, containerId: cid, ifname, args, capabilityArgs, stdin: true } as const;
    const res = ok(driver({ command: 'ADD', ...call }));
    expect(res.interfaces[2]).toMatchObject({ name: ifname, mac: rcMac, sandbox: pod.path });
    expect(pod.ipj<Link[]>('link', 'show', ifname)[0]!.address).toBe(rcMac);
    expect(sysctl(pod, `net.ipv4.conf.${ifname}.arp_ignore`)).toBe('1');
    // libcni kept the pairs as given (repeats included) and only the capabilities someone declared.
    const cached = JSON.parse(readFileSync(cacheFile(cid, ifname), 'utf8'));
    expect(cached.cniArgs).toEqual(args);
    expect(cached.capabilityArgs).toEqual(capabilityArgs);

    if (checkAllowed(v)) ok(driver({ command: 'CHECK', ...call }));
    ok(driver({ command: 'DEL', ...call }));
    expectNothingLeft(cid, ifname);
  });

  it('runtimeConfig mac reaches us only when we declare the capability; CNI_ARGS MAC= otherwise', () => {
    const argsMac = '02:00:00:00:0a:02';
    const rcMac = '02:00:00:00:0c:02';
    const args: Array<[string, string]> = [
      ['IgnoreUnknown', 'true'],
      ['K8S_POD_NAMESPACE', 'default'],
      ['K8S_POD_NAME', 'vm2'],
      ['IgnoreUnknown', 'true'],
      ['MAC', argsMac],
    ];
    const declared = conflist(v, [ours({ capabilities: { mac: true } })]);
    const undeclared = conflist(v, [ours()]);
    const a = ok(
      driver({
        command: 'ADD',
        conflist: declared,
        containerId: 'ca',
        ifname: 'net1',
        args,
        capabilityArgs: { mac: rcMac },
      }),
    );
    const b = ok(
      driver({
        command: 'ADD',
        conflist: undeclared,
        containerId: 'cb',
        ifname: 'net2',
        args,
        capabilityArgs: { mac: rcMac },
      }),
    );
    expect(a.interfaces[2].mac).toBe(rcMac);
    expect(b.interfaces[2].mac).toBe(argsMac);
    expect(pod.ipj<Link[]>('link', 'show', 'net1')[0]!.address).toBe(rcMac);
    expect(pod.ipj<Link[]>('link', 'show', 'net2')[0]!.address).toBe(argsMac);
    if (checkAllowed(v)) {
      ok(
        driver({
          command: 'CHECK',
          conflist: declared,
          containerId: 'ca',
          ifname: 'net1',
          args,
          capabilityArgs: { mac: rcMac },
        }),
      );
      ok(
        driver({
          command: 'CHECK',
          conflist: undeclared,
          containerId: 'cb',
          ifname: 'net2',
          args,
          capabilityArgs: { mac: rcMac },
        }),
      );
    }
    ok(
      driver({
        command: 'DEL',
        conflist: declared,
        containerId: 'ca',
        ifname: 'net1',
        args,
        capabilityArgs: { mac: rcMac },
      }),
    );
    ok(
      driver({
        command: 'DEL',
        conflist: undeclared,
        containerId: 'cb',
        ifname: 'net2',
        args,
        capabilityArgs: { mac: rcMac },
      }),
    );
    expectNothingLeft('ca', 'net1');
    expect(existsSync(cacheFile('cb', 'net2'))).toBe(false);
  });

  it('runtimeConfig ips with static IPAM: the address is on the pod interface', () => {
    const list = conflist(v, [
      ours({ capabilities: { ips: true }, ipam: { type: 'static' } }),
      { type: 'tuning', sysctl: { 'net.ipv4.conf.net1.arp_ignore': '1' } },
    ]);
    const call = { conflist: list, capabilityArgs: { ips: ['10.99.0.5/24'] } };
    const res = ok(driver({ command: 'ADD', ...call }));
    expect(res.ips).toEqual([
      { ...(v.startsWith('0.') ? { version: '4' } : {}), interface: 2, address: '10.99.0.5/24' },
    ]);
    const addrs = pod
      .ipj<Link[]>('addr', 'show', 'net1')[0]!
      .addr_info!.filter((a: { family: string }) => a.family === 'inet');
    expect(addrs.map((a: { local: string; prefixlen: number }) => `${a.local}/${a.prefixlen}`)).toEqual([
      '10.99.0.5/24',
    ]);
    if (checkAllowed(v)) ok(driver({ command: 'CHECK', ...call }));
    ok(driver({ command: 'DEL', ...call }));
    expectNothingLeft();
  });

  it('DEL after ADD failed in the second plugin (libcni does not roll back; DEL without a cached result cleans up)', () => {
    const list = conflist(v, [ours(), { type: 'tuning', sysctl: { 'net.ipv4.conf.net1.no_such_knob': '1' } }]);
    const r = failed(driver({ command: 'ADD', conflist: list }));
    expect(r.stderr).toContain('plugin type="tuning" failed (add)');
    expect(vethsOf(node)).toHaveLength(1); // ours succeeded and stays until the runtime's DEL
    expect(existsSync(cacheFile('c1', 'net1'))).toBe(false);
    ok(driver({ command: 'DEL', conflist: list }));
    expectNothingLeft();
  });

  it('DEL after our ADD refused an existing ifname: nothing of ours is left', () => {
    pod.exec('ip', 'link', 'add', 'net1', 'type', 'veth', 'peer', 'name', 'other0');
    const list = conflist(v, [ours(), { type: 'tuning', sysctl: { 'net.ipv4.conf.net1.arp_ignore': '1' } }]);
    const r = failed(driver({ command: 'ADD', conflist: list }));
    expect(r.stderr).toContain('plugin type="vlan-bridge" failed (add)');
    expect(r.pluginError).toMatchObject({ code: 102, msg: `interface "net1" already exists in ${pod.path}` });
    expect(vethsOf(node)).toEqual([]);
    ok(driver({ command: 'DEL', conflist: list }));
    expect(vethsOf(node)).toEqual([]);
    // Unlike the reference, DEL leaves an interface that is not this attachment's (here: the one that made
    // ADD fail, as another Multus network with the same interface name would).
    expect(
      links(pod)
        .map((l) => l.ifname)
        .sort(),
    ).toEqual(['lo', 'net1', 'other0']);
  });

  it('libcni validates the config list against our VERSION answer', () => {
    const list = conflist(v, [ours({ capabilities: { mac: true, ips: true } }), { type: 'tuning' }]);
    const out = ok(driver({ command: 'VERSION', conflist: list }));
    expect(out.validate).toEqual({ capabilities: ['ips', 'mac'] });
    expect(out.versionInfo['vlan-bridge'].supportedVersions).toEqual(OUR_VERSIONS);
  });
});

describe('libcni VERSION handshake', () => {
  it('GetVersionInfo lists every version we speak, answered in the version libcni asked with', () => {
    const out = ok(driver({ command: 'VERSION', plugins: ['vlan-bridge', 'tuning'] }));
    // libcni 1.1.2 sends {"cniVersion":"1.0.0"} (its newest) with CNI_NETNS/CNI_IFNAME/CNI_PATH set to "dummy".
    expect(out.versionInfo['vlan-bridge']).toEqual({ cniVersion: '1.0.0', supportedVersions: OUR_VERSIONS });
    expect(out.versionInfo.tuning.supportedVersions).toContain('1.0.0');
  });

  it('ValidateNetworkList refuses a version we do not speak', () => {
    const out = ok(driver({ command: 'VERSION', conflist: conflist('0.5.0', [ours()]) }));
    expect(out.validate.error).toContain('plugin vlan-bridge does not support config version "0.5.0"');
  });
});

// CHECK gets the chain's final result as prevResult (libcni's cache): changes made on purpose by a later
// plugin (tuning's MAC or MTU) must not fail it. Found through libcni; the reference checks the MAC against
// prevResult only and does not check the MTU.
describe.each(['0.4.0', '1.0.0'])('CHECK after later chained plugins at %s', (v) => {
  it('CHECK tolerates tuning changing the MAC we were asked for (runtimeConfig mac, then tuning mac)', () => {
    const list = conflist(v, [ours({ capabilities: { mac: true } }), { type: 'tuning', mac: '02:7a:00:00:00:02' }]);
    const call = { conflist: list, capabilityArgs: { mac: '02:00:00:00:0c:03' } };
    expect(ok(driver({ command: 'ADD', ...call })).interfaces[2].mac).toBe('02:7a:00:00:00:02');
    ok(driver({ command: 'CHECK', ...call }));
  });

  it('CHECK tolerates tuning changing the MTU', () => {
    const list = conflist(v, [ours(), { type: 'tuning', mtu: 1400 }]);
    ok(driver({ command: 'ADD', conflist: list }));
    expect(pod.ipj<Link[]>('link', 'show', 'net1')[0]!.mtu).toBe(1400);
    ok(driver({ command: 'CHECK', conflist: list }));
  });
});
