// deploy/: every manifest parses; every NetworkAttachmentDefinition's config is one the plugin accepts, shaped and
// labelled as Harvester writes it; the DaemonSet installs through a hostPath with deploy/install.sh and no more
// privilege than that needs. The install script itself runs in test/process/deploy-install.test.ts.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { parseNetConf } from '../../src/cni/config.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const DEPLOY = path.join(ROOT, 'deploy');

type Obj = Record<string, unknown>;
interface Manifest {
  file: string;
  index: number;
  doc: Obj;
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) return yamlFiles(p);
      return /\.ya?ml$/.test(e.name) ? [p] : [];
    })
    .sort();
}

/** Every document of a multi-document YAML file; a parse error or warning fails the test. */
function load(file: string): Obj[] {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'));
  if (!Array.isArray(docs)) return [];
  return docs.flatMap((d, i) => {
    const problems = [...d.errors, ...d.warnings].map((e) => e.message);
    if (problems.length > 0) throw new Error(`${path.relative(ROOT, file)} document ${i}: ${problems.join('; ')}`);
    const js: unknown = d.toJS();
    return js === null || js === undefined ? [] : [js as Obj];
  });
}

const FILES = yamlFiles(DEPLOY);
const MANIFESTS: Manifest[] = FILES.flatMap((file) =>
  load(file).map((doc, index) => ({ file: path.relative(ROOT, file), index, doc })),
);

const meta = (doc: Obj) =>
  (doc.metadata ?? {}) as {
    name?: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
const ofKind = (kind: string) => MANIFESTS.filter((m) => m.doc.kind === kind);

describe('deploy/ manifests', () => {
  it('are there: a DaemonSet and the four kinds of network', () => {
    expect(FILES.map((f) => path.relative(ROOT, f))).toEqual(
      expect.arrayContaining([
        'deploy/daemonset.yaml',
        'deploy/nad-vlan100.yaml',
        'deploy/nad-untagged.yaml',
        'deploy/nad-trunk.yaml',
        'deploy/nad-storagenetwork.yaml',
      ]),
    );
  });

  it.each(FILES.map((f) => [path.relative(ROOT, f), f]))(
    '%s parses, and each document has apiVersion, kind and metadata.name',
    (_rel, file) => {
      const docs = load(file);
      expect(docs.length).toBeGreaterThan(0);
      for (const doc of docs) {
        expect(typeof doc.apiVersion, 'apiVersion').toBe('string');
        expect(typeof doc.kind, 'kind').toBe('string');
        expect(meta(doc).name, 'metadata.name').toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
      }
    },
  );

  it('reads every document of a multi-document file', () => {
    // The loader itself, so that a second document in any file above is not silently ignored.
    const docs = parseAllDocuments(
      'apiVersion: v1\nkind: A\nmetadata: {name: a}\n---\napiVersion: v1\nkind: B\nmetadata: {name: b}\n',
    );
    expect(Array.isArray(docs) && docs.map((d) => d.toJS().kind)).toEqual(['A', 'B']);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// NetworkAttachmentDefinitions

// The keys Harvester's network controller defines under network.harvesterhci.io/ (harvester/network-controller-
// harvester, pkg/utils/labels.go). A key outside this list would be one Harvester does not read.
const HARVESTER_KEYS = new Set([
  'network.harvesterhci.io/vlan-id',
  'network.harvesterhci.io/last-vlan-id',
  'network.harvesterhci.io/vlanconfig',
  'network.harvesterhci.io/clusternetwork',
  'network.harvesterhci.io/last-clusternetwork',
  'network.harvesterhci.io/node',
  'network.harvesterhci.io/type',
  'network.harvesterhci.io/ready',
  'network.harvesterhci.io/route',
  'network.harvesterhci.io/matched-nodes',
]);
const STORAGE_ANNOTATION = 'storage-network.settings.harvesterhci.io';

const NADS = ofKind('NetworkAttachmentDefinition');

/** The config as Multus hands it to the plugin: a missing `name` is filled in with the NAD's name. */
function delegateConfig(nad: Obj): Obj {
  const raw = JSON.parse((nad.spec as { config: string }).config) as Obj;
  return raw.name === undefined || raw.name === '' ? { ...raw, name: meta(nad).name } : raw;
}

/** The network type Harvester's controller derives from a bridge config (NetConf.GetNetworkType). */
function harvesterType(c: Obj): string {
  const trunk = Array.isArray(c.vlanTrunk) && c.vlanTrunk.length > 0;
  if (typeof c.vlan === 'number' && c.vlan !== 0) return 'L2VlanNetwork';
  return trunk ? 'L2VlanTrunkNetwork' : 'UntaggedNetwork';
}

describe('deploy/nad-*.yaml', () => {
  const byName = (name: string) => {
    const m = NADS.find((n) => meta(n.doc).name === name);
    if (!m) throw new Error(`no NetworkAttachmentDefinition named ${name}`);
    return m.doc;
  };

  it('every nad-*.yaml holds NetworkAttachmentDefinitions only', () => {
    const nadFiles = MANIFESTS.filter((m) => path.basename(m.file).startsWith('nad-'));
    expect(nadFiles.length).toBeGreaterThanOrEqual(4);
    for (const m of nadFiles) {
      expect(m.doc.apiVersion, m.file).toBe('k8s.cni.cncf.io/v1');
      expect(m.doc.kind, m.file).toBe('NetworkAttachmentDefinition');
    }
  });

  it.each(NADS.map((m) => [`${m.file}#${m.index}`, m.doc]))(
    '%s: spec.config passes parseNetConf and is shaped as Harvester writes it',
    (_id, nad) => {
      const spec = nad.spec as { config?: unknown };
      expect(typeof spec.config).toBe('string');
      const raw = JSON.parse(spec.config as string) as Obj;
      const conf = parseNetConf(delegateConfig(nad));
      expect(conf.type).toBe('vlan-bridge');
      expect(conf.bridge).toBe('mgmt-br');
      expect(raw.cniVersion).toBe('0.3.1');
      expect(raw.promiscMode).toBe(true);
      expect(raw).toHaveProperty('ipam');
      // Harvester's webhook patches `mtu` in; a config written by hand leaves it out (0: the bridge's MTU).
      expect(raw).not.toHaveProperty('mtu');
      if (raw.name !== undefined) expect(raw.name).toBe(meta(nad).name);
      if (!conf.hasIpam) expect(raw.ipam).toEqual({});
    },
  );

  it.each(NADS.map((m) => [`${m.file}#${m.index}`, m.doc]))(
    '%s: Harvester labels and annotations agree with the config',
    (_id, nad) => {
      const c = delegateConfig(nad);
      const { labels = {}, annotations = {} } = meta(nad);
      for (const key of [...Object.keys(labels), ...Object.keys(annotations)]) {
        if (key.startsWith('network.harvesterhci.io/')) expect(HARVESTER_KEYS, key).toContain(key);
      }
      expect(labels['network.harvesterhci.io/clusternetwork']).toBe(String(c.bridge).replace(/-br$/, ''));
      expect(labels['network.harvesterhci.io/type']).toBe(harvesterType(c));
      expect(['true', 'false']).toContain(labels['network.harvesterhci.io/ready']);
      if (harvesterType(c) === 'L2VlanNetwork') expect(labels['network.harvesterhci.io/vlan-id']).toBe(String(c.vlan));
      else expect(labels).not.toHaveProperty(['network.harvesterhci.io/vlan-id']);

      const route = annotations['network.harvesterhci.io/route'];
      if (route === undefined) return;
      // A route belongs to a VLAN network only (Harvester drops it when the VLAN goes to 0), and is checked by its
      // webhook as NewLayer3NetworkConf does: a known mode, and for manual a CIDR and a gateway address.
      expect(harvesterType(c)).toBe('L2VlanNetwork');
      const r = JSON.parse(route) as { mode?: string; cidr?: string; gateway?: string };
      expect(['auto', 'manual']).toContain(r.mode);
      if (r.mode === 'manual') {
        expect(r.cidr).toMatch(/^(\d{1,3}\.){3}\d{1,3}\/([1-9]|[12]\d|3[0-2])$/);
        expect(r.gateway).toMatch(/^(\d{1,3}\.){3}\d{1,3}$/);
      }
    },
  );

  it('vlan100: an access VLAN, L2 only', () => {
    const nad = byName('vlan100');
    const c = parseNetConf(delegateConfig(nad));
    expect({
      vlan: c.vlan,
      trunk: c.vlans.trunkRanges,
      hasIpam: c.hasIpam,
      preserveDefaultVlan: c.preserveDefaultVlan,
    }).toEqual({ vlan: 100, trunk: [], hasIpam: false, preserveDefaultVlan: false });
    expect(meta(nad).annotations).toHaveProperty(['network.harvesterhci.io/route']);
  });

  it('untagged: no VLAN at all, L2 only', () => {
    const nad = byName('untagged');
    const raw = JSON.parse((nad.spec as { config: string }).config) as Obj;
    expect(raw).not.toHaveProperty('vlan');
    expect(raw).not.toHaveProperty('vlanTrunk');
    const c = parseNetConf(delegateConfig(nad));
    expect({ vlan: c.vlan, trunk: c.vlans.trunkRanges, hasIpam: c.hasIpam }).toEqual({
      vlan: 0,
      trunk: [],
      hasIpam: false,
    });
  });

  it('trunk: vlan 0 and vlanTrunk ranges (the native VLAN of the port is then VID 1)', () => {
    const nad = byName('trunk');
    const raw = JSON.parse((nad.spec as { config: string }).config) as Obj;
    expect(raw.vlan).toBe(0);
    const c = parseNetConf(delegateConfig(nad));
    expect({
      vlan: c.vlan,
      trunk: c.vlans.trunkRanges,
      hasIpam: c.hasIpam,
      preserveDefaultVlan: c.preserveDefaultVlan,
    }).toEqual({
      vlan: 0,
      trunk: [
        [100, 200],
        [300, 300],
      ],
      hasIpam: false,
      preserveDefaultVlan: false,
    });
  });

  it('storage network: a VLAN with whereabouts IPAM, where and as Harvester creates it', () => {
    const nad = NADS.map((m) => m.doc).find((n) => meta(n).annotations?.[STORAGE_ANNOTATION] === 'true');
    if (!nad) throw new Error(`no NetworkAttachmentDefinition annotated ${STORAGE_ANNOTATION}`);
    // Harvester's IsStorageNetworkNad: namespace harvester-system, name prefix storagenetwork-.
    expect(meta(nad).namespace).toBe('harvester-system');
    expect(meta(nad).name).toMatch(/^storagenetwork-/);
    const raw = JSON.parse((nad.spec as { config: string }).config) as Obj;
    // Harvester's BridgeConfig has no name field: Multus supplies the NAD's name.
    expect(raw).not.toHaveProperty('name');
    expect(Object.keys(raw)).toEqual(['cniVersion', 'type', 'bridge', 'promiscMode', 'vlan', 'ipam']);
    const c = parseNetConf(delegateConfig(nad));
    expect(c.name).toBe(meta(nad).name);
    expect(c.vlan).toBe(300);
    expect(c.hasIpam).toBe(true);
    expect(c.ipam).toEqual({ type: 'whereabouts', range: '172.16.0.0/24', exclude: ['172.16.0.1/32'] });
  });
});

// ---------------------------------------------------------------------------------------------------------------
// The DaemonSet

interface Container {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: Obj;
  volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
}
interface PodSpec {
  hostNetwork?: boolean;
  hostPID?: boolean;
  automountServiceAccountToken?: boolean;
  nodeSelector?: Record<string, string>;
  tolerations?: Array<{ key?: string; operator?: string; effect?: string }>;
  initContainers?: Container[];
  containers: Container[];
  volumes?: Array<{ name: string; hostPath?: { path: string; type?: string } }>;
  securityContext?: Obj;
}

describe('deploy/daemonset.yaml', () => {
  const [ds] = ofKind('DaemonSet');
  if (!ds) throw new Error('deploy/ holds no DaemonSet');
  const text = readFileSync(path.join(ROOT, ds.file), 'utf8');
  const tpl = (ds.doc.spec as { template: { metadata: Obj; spec: PodSpec } }).template;
  const pod = tpl.spec;
  const all = [...(pod.initContainers ?? []), ...pod.containers];
  const hostPaths = (pod.volumes ?? []).filter((v) => v.hostPath);
  const cniBin = hostPaths.find((v) => v.hostPath!.path === '/opt/cni/bin');

  /** The container running deploy/install.sh, and its --src/--dest. */
  const installer = all.find((c) => [...(c.command ?? []), ...(c.args ?? [])].some((a) => a.endsWith('/install.sh')));
  const argv = installer ? [...(installer.command ?? []), ...(installer.args ?? [])] : [];
  const opt = (flag: string) => argv[argv.indexOf(flag) + 1];

  it('runs on every node: all taints tolerated, Linux nodes', () => {
    expect(pod.tolerations).toContainEqual({ operator: 'Exists' });
    expect(pod.nodeSelector).toEqual({ 'kubernetes.io/os': 'linux' });
    const sel = (ds.doc.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels;
    expect(tpl.metadata.labels).toMatchObject(sel);
  });

  it("mounts the node's /opt/cni/bin by hostPath, writable, in the container that runs deploy/install.sh", () => {
    expect(cniBin, 'a hostPath volume of /opt/cni/bin').toBeDefined();
    expect(hostPaths).toHaveLength(1);
    expect(installer, 'a container running install.sh').toBeDefined();
    const mount = installer!.volumeMounts?.find((m) => m.name === cniBin!.name);
    expect(mount).toBeDefined();
    expect(mount!.readOnly ?? false).toBe(false);
    expect(opt('--dest')).toBe(mount!.mountPath);
    // An init container: the pod is Ready only once the node has the plugin.
    expect(pod.initContainers ?? []).toContain(installer);
    // Nothing else sees the host.
    for (const c of all.filter((x) => x !== installer)) expect(c.volumeMounts ?? []).toEqual([]);
  });

  it('runs the image built by deploy/Containerfile, which holds the script and the executable where it says', () => {
    const containerfile = readFileSync(path.join(DEPLOY, 'Containerfile'), 'utf8');
    const copied = [...containerfile.matchAll(/^COPY\s+(?:--\S+\s+)*(\S+)\s+(\S+)\s*$/gm)].map((m) => [m[1], m[2]]);
    expect(copied).toContainEqual(['bin/vlan-bridge', opt('--src')]);
    expect(copied).toContainEqual(['deploy/install.sh', argv.find((a) => a.endsWith('/install.sh'))]);
    const images = new Set(all.map((c) => c.image));
    expect(images.size).toBe(1);
    const [image] = images;
    // The placeholder is documented in the file's header.
    expect(text).toContain(`IMAGE: \`${image}\``);
  });

  it('keeps the pod Running after the install, and stops at once on SIGTERM', () => {
    const main = pod.containers;
    expect(main).toHaveLength(1);
    const cmd = [...(main[0]!.command ?? []), ...(main[0]!.args ?? [])].join(' ');
    expect(cmd).toMatch(/sleep infinity/);
    expect(cmd).toMatch(/trap .*TERM/);
  });

  it('asks for no more than a hostPath write needs', () => {
    expect(pod.hostNetwork ?? false).toBe(false);
    expect(pod.hostPID ?? false).toBe(false);
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.securityContext).toMatchObject({ seccompProfile: { type: 'RuntimeDefault' } });
    for (const c of all) {
      expect(c.securityContext, c.name).toMatchObject({
        privileged: false,
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ['ALL'] },
      });
      expect((c.securityContext!.capabilities as Obj).add, c.name).toBeUndefined();
      // Only the installer is root (the directory is root's); the rest runs as nobody.
      if (c === installer) expect(c.securityContext!.runAsUser).toBe(0);
      else expect(c.securityContext).toMatchObject({ runAsNonRoot: true });
    }
  });

  it('gives every container resource requests and limits', () => {
    for (const c of all) {
      expect(Object.keys(c.resources?.requests ?? {}).sort(), c.name).toEqual(['cpu', 'memory']);
      expect(Object.keys(c.resources?.limits ?? {}).sort(), c.name).toEqual(['cpu', 'memory']);
    }
  });
});
