// Runs only while the startup snapshot is being built: sends typical requests through the protocol layer with
// handlers that touch no kernel, so the functions every real call runs (env and CNI_ARGS parsing, the config
// schema with zod's generated fast paths, prevResult parsing, result conversion, error formatting) are compiled
// at build time and start compiled in every process. Nothing here keeps state: each request builds its own.
import { dispatch } from './cni/dispatch.js';
import type { Handlers } from './cni/context.js';
import type { Result } from './cni/result.js';

const RESULT: Result = {
  cniVersion: '1.1.0',
  interfaces: [
    { name: 'mgmt-br', mac: '02:00:00:00:00:01' },
    { name: 'veth1234abcd', mac: '02:00:00:00:00:02' },
    { name: 'net1', mac: '02:00:00:00:00:03', sandbox: '/run/netns/warmup', mtu: 1500 },
  ],
  ips: [{ address: '10.100.0.5/24', gateway: '10.100.0.1', interface: 2 }],
  routes: [{ dst: '0.0.0.0/0', gw: '10.100.0.1' }],
  dns: {},
};

const handlers: Handlers = {
  add: async () => structuredClone(RESULT),
  del: async () => {},
  check: async () => {},
  status: async () => {},
  gc: async () => {},
};

const CONFS: object[] = [
  {
    cniVersion: '1.0.0',
    name: 'vlan100',
    type: 'vlan-bridge',
    bridge: 'mgmt-br',
    vlan: 100,
    promiscMode: true,
    ipam: {},
  },
  {
    cniVersion: '0.3.1',
    name: 'untagged',
    type: 'bridge',
    bridge: 'mgmt-br',
    mtu: 1500,
    hairpinMode: false,
    ipam: { type: 'host-local', subnet: '10.1.0.0/24' },
    runtimeConfig: { mac: '02:00:00:00:00:03' },
  },
  {
    cniVersion: '1.1.0',
    name: 'trunk',
    type: 'vlan-bridge',
    bridge: 'mgmt-br',
    vlanTrunk: [{ id: 5 }, { minID: 100, maxID: 200 }],
    preserveDefaultVlan: false,
    ipam: {},
  },
  {
    cniVersion: '0.4.0',
    name: 'vlan100',
    type: 'vlan-bridge',
    bridge: 'mgmt-br',
    vlan: 100,
    isGateway: true,
    ipMasq: true,
    ipam: { type: 'host-local', subnet: '10.100.0.0/24' },
  },
];

const ENV = {
  CNI_CONTAINERID: '0123456789abcdef',
  CNI_NETNS: '/run/netns/warmup',
  CNI_IFNAME: 'net1',
  CNI_PATH: '/opt/cni/bin',
  CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=vm-0;MAC=02:00:00:00:00:03',
};

/** Each request with its exit code and output, so a test can tell the warm-up still walks the paths it means to. */
export async function warmUp(): Promise<Array<{ what: string; code: number; out: string }>> {
  const done: Array<{ what: string; code: number; out: string }> = [];
  const run = async (what: string, env: Record<string, string>, stdin: string) => {
    let out = '';
    const code = await dispatch({ env, readStdin: () => stdin, stdout: (s) => (out += s), stderr: () => {} }, handlers);
    done.push({ what, code, out });
  };
  for (const conf of CONFS) {
    const { name, cniVersion } = conf as { name: string; cniVersion: string };
    await run(`ADD ${name} ${cniVersion}`, { ...ENV, CNI_COMMAND: 'ADD' }, JSON.stringify(conf));
    await run(`DEL ${name} ${cniVersion}`, { ...ENV, CNI_COMMAND: 'DEL' }, JSON.stringify(conf));
    const prev = done[done.length - 2]!.out;
    if (cniVersion !== '0.3.1')
      await run(
        `CHECK ${name} ${cniVersion}`,
        { ...ENV, CNI_COMMAND: 'CHECK' },
        JSON.stringify({ ...conf, prevResult: JSON.parse(prev) }),
      );
  }
  await run('VERSION', { CNI_COMMAND: 'VERSION' }, '{"cniVersion":"1.0.0"}');
  // The error paths: an invalid config (code 7 with details) and a bad environment (code 4).
  await run(
    'ADD invalid config',
    { ...ENV, CNI_COMMAND: 'ADD' },
    JSON.stringify({ cniVersion: '1.0.0', name: 'bad', type: 'vlan-bridge', vlan: 5000, mtu: 9 }),
  );
  await run('ADD bad environment', { CNI_COMMAND: 'ADD' }, '{}');
  return done;
}
