// ipMasq (iptables and nftables backends) and macspoofchk, in a test node namespace: rules appear on ADD where the
// reference plugin puts them (v1.9.1's layout: src/firewall/layout.ts), carry its comments, are removed by DEL (also
// without a netns), by rollback and by GC; spoofed frames drop. test/host/takeover.test.ts runs the reference itself.
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cni, cniAsync, ok, type CniCall } from '../lab/cni.js';
import { deleteNetns, freshNodeAndPod, makeNetns, type TestNs } from './netns-fixture.js';

/** Deletes a pod's namespace as a dying container would. */
const cniGone = (p: TestNs) => deleteNetns(p);

let node: TestNs;
let pod: TestNs;
let tmp: string;

freshNodeAndPod('vb-fw-', (n, p, t) => {
  node = n;
  pod = p;
  tmp = t;
});

const conf = (extra: object = {}) => ({
  cniVersion: '1.0.0',
  name: 'fwnet',
  type: 'vlan-bridge',
  bridge: 'br-fw',
  isDefaultGateway: true,
  ipam: { type: 'host-local', subnet: '10.88.0.0/24', dataDir: path.join(tmp, 'ipam') },
  ...extra,
});
const run = (c: Omit<CniCall, 'netns'> & { netns?: string | null }) =>
  cni(node.name, { ...c, netns: c.netns === null ? undefined : (c.netns ?? pod.path) } as CniCall);
const natRules = () =>
  node
    .exec('iptables', '-w', '-t', 'nat', '-S')
    .split('\n')
    .filter((l) => l.includes('CNI-'));
/**
 * The comments of a table's rules, sorted, but for the three rules of the reference's shared `postrouting` base
 * chain of ipMasq (multicast returns, goto masq_checks), which its teardown leaves as well.
 */
const nftRules = (family: string, table: string) => {
  try {
    return (
      JSON.parse(node.exec('nft', '-j', 'list', 'table', family, table)).nftables as Array<{
        rule?: { chain: string; comment?: string };
      }>
    )
      .filter((i) => i.rule && !(table === 'cni_plugins_masquerade' && i.rule.chain === 'postrouting'))
      .map((i) => i.rule!.comment ?? `(no comment, chain ${i.rule!.chain})`)
      .sort();
  } catch {
    return [];
  }
};

describe('ipMasq, iptables backend', () => {
  it('adds the chain, the accept and masquerade rules and the POSTROUTING jump; DEL removes them', () => {
    const res = ok(run({ command: 'ADD', conf: conf({ ipMasq: true }) }));
    const ip = res.ips[0].address.split('/')[0];
    const rules = natRules();
    // The reference's chain: CNI- and sha512(network + container ID), 28 characters (pkg/utils/utils.go).
    const chain = `CNI-${createHash('sha512').update('fwnetc1').digest('hex')}`.slice(0, 28);
    const tag = 'name: \\"fwnet\\" id: \\"c1\\"';
    expect(rules).toEqual(
      expect.arrayContaining([
        `-N ${chain}`,
        `-A POSTROUTING -s ${ip}/32 -m comment --comment "${tag}" -j ${chain}`,
        `-A ${chain} -d 10.88.0.0/24 -m comment --comment "${tag}" -j ACCEPT`,
        `-A ${chain} ! -d 224.0.0.0/4 -m comment --comment "${tag}" -j MASQUERADE`,
      ]),
    );
    ok(run({ command: 'DEL', conf: conf({ ipMasq: true }) }));
    expect(natRules()).toEqual([]);
  });

  it('DEL removes the rules even when the netns is gone', () => {
    ok(run({ command: 'ADD', conf: conf({ ipMasq: true }) }));
    expect(natRules().length).toBeGreaterThan(0);
    // The container is gone before its DEL: only the comment can lead to its rules.
    cniGone(pod);
    ok(run({ command: 'DEL', conf: conf({ ipMasq: true }) }));
    expect(natRules()).toEqual([]);
  });

  it("a pod cannot keep its rules through DEL by pairing its interface with a decoy carrying another's alias", () => {
    ok(run({ command: 'ADD', conf: conf({ ipMasq: true }) }));
    expect(natRules().length).toBeGreaterThan(0);
    // Root in its own namespace, the pod renames its interface and makes a net1 whose peer, in a namespace of its
    // own, carries the alias of another attachment: that alias is the pod's word, not the host's.
    const far = makeNetns('vbf');
    pod.exec('ip', 'link', 'set', 'net1', 'name', 'keep');
    pod.exec('ip', 'link', 'add', 'net1', 'type', 'veth', 'peer', 'name', 'decoy', 'netns', far.name);
    far.exec('ip', 'link', 'set', 'decoy', 'alias', 'vlan-bridge:fwnet:someone-else:net1');
    ok(run({ command: 'DEL', conf: conf({ ipMasq: true }) }));
    expect(natRules()).toEqual([]);
  });

  it('GC removes the rules of attachments the runtime no longer lists and keeps the others', () => {
    const pod2 = makeNetns('vbp');
    ok(run({ command: 'ADD', conf: conf({ ipMasq: true }), containerId: 'keep' }));
    ok(run({ command: 'ADD', conf: conf({ ipMasq: true }), containerId: 'stale', netns: pod2.path }));
    expect(natRules().filter((l) => l.startsWith('-A POSTROUTING'))).toHaveLength(2);
    ok(
      run({
        command: 'GC',
        conf: {
          ...conf({ ipMasq: true }),
          cniVersion: '1.1.0',
          ipam: {},
          'cni.dev/valid-attachments': [{ containerID: 'keep', ifname: 'net1' }],
        },
        netns: null,
      }),
    );
    const left = natRules().filter((l) => l.startsWith('-A POSTROUTING'));
    expect(left).toHaveLength(1);
    expect(left[0]).toContain('id: \\"keep\\"');
  });
});

describe('ipMasq, nftables backend', () => {
  it("adds one masquerade rule per address in the reference's table; DEL removes it", () => {
    const res = ok(run({ command: 'ADD', conf: conf({ ipMasq: true, ipMasqBackend: 'nftables' }) }));
    const ip = res.ips[0].address.split('/')[0];
    const listing = node.exec('nft', 'list', 'table', 'inet', 'cni_plugins_masquerade');
    // pkg/ip/ipmasq_nftables_linux.go: hashForInstance = sha512(network)[:16] "-" sha512(ifname:containerID)[:16].
    const h = (x: string) => createHash('sha512').update(x).digest('hex').slice(0, 16);
    expect(listing).toContain(
      `ip saddr ${ip} ip daddr != 10.88.0.0/24 masquerade comment "${h('fwnet')}-${h('net1:c1')}, net: fwnet, if: net1, id: c1"`,
    );
    expect(listing).toMatch(/chain postrouting \{[^}]*ip daddr 224\.0\.0\.0\/4 return[^}]*goto masq_checks/s);
    expect(natRules()).toEqual([]);
    ok(run({ command: 'DEL', conf: conf({ ipMasq: true, ipMasqBackend: 'nftables' }) }));
    expect(nftRules('inet', 'cni_plugins_masquerade')).toEqual([]);
  });
});

describe('macspoofchk', () => {
  it("drops frames whose source MAC is not the pod's, and DEL removes the rule", () => {
    const pod2 = makeNetns('vbp');
    const c = conf({ macspoofchk: true, isDefaultGateway: false });
    const res = ok(run({ command: 'ADD', conf: c }));
    const peer = ok(run({ command: 'ADD', conf: c, containerId: 'c2', netns: pod2.path }));
    const target = peer.ips[0].address.split('/')[0];
    // pkg/link/spoofcheck.go: four rules per attachment, each with the comment macspoofchk-<container>-<ifname>.
    expect(nftRules('bridge', 'nat')).toEqual([
      ...Array(4).fill('macspoofchk-c1-net1'),
      ...Array(4).fill('macspoofchk-c2-net1'),
    ]);
    const listing = node.exec('nft', 'list', 'table', 'bridge', 'nat');
    expect(listing).toContain(`iifname "${res.interfaces[1].name}" jump cni-br-iface-c1-net1`);
    expect(listing).toMatch(
      /chain cni-br-iface-c1-net1-mac \{\s*ether saddr ([0-9a-f:]+) return comment "macspoofchk-c1-net1"\s*drop comment/,
    );
    expect(listing).toContain(`ether saddr ${res.interfaces[2].mac} return`);
    pod.exec('ping', '-c', '1', '-W', '2', target);
    pod.exec('ip', 'link', 'set', 'net1', 'address', '02:de:ad:be:ef:01');
    pod.exec('ip', 'neigh', 'flush', 'all');
    expect(() => pod.exec('ping', '-c', '1', '-W', '1', target)).toThrow();
    ok(run({ command: 'DEL', conf: c }));
    expect(nftRules('bridge', 'nat')).toEqual(Array(4).fill('macspoofchk-c2-net1'));
    expect(node.exec('nft', 'list', 'table', 'bridge', 'nat')).not.toContain('cni-br-iface-c1-net1');
  });
});

describe('long container IDs', () => {
  it('a 150-character container ID gets its macspoofchk and ipMasq rules (nft comments cut at 128 bytes), and DEL and GC remove them', () => {
    const id = `k${'0123456789'.repeat(15)}`.slice(0, 150);
    const c = conf({ macspoofchk: true, ipMasq: true, ipMasqBackend: 'nftables', isDefaultGateway: false });
    ok(run({ command: 'ADD', conf: c, containerId: id }));
    expect(nftRules('bridge', 'nat')).toEqual(Array(4).fill(`macspoofchk-${id}-net1`));
    expect(nftRules('inet', 'cni_plugins_masquerade')).toEqual([
      expect.stringMatching(/^[0-9a-f]{16}-[0-9a-f]{16}, net: fwnet, if: net1, id: k0123/),
    ]);
    expect(Buffer.byteLength(nftRules('inet', 'cni_plugins_masquerade')[0]!)).toBe(128);
    ok(run({ command: 'DEL', conf: c, containerId: id }));
    expect(nftRules('bridge', 'nat')).toEqual([]);
    expect(nftRules('inet', 'cni_plugins_masquerade')).toEqual([]);
    ok(run({ command: 'ADD', conf: c, containerId: id }));
    const gc = { ...c, cniVersion: '1.1.0', ipam: {} };
    ok(
      run({
        command: 'GC',
        conf: { ...gc, 'cni.dev/valid-attachments': [{ containerID: id, ifname: 'net1' }] },
        netns: null,
      }),
    );
    expect(nftRules('bridge', 'nat')).toHaveLength(4);
    ok(run({ command: 'GC', conf: { ...gc, 'cni.dev/valid-attachments': [] }, netns: null }));
    expect(nftRules('bridge', 'nat')).toEqual([]);
  });
});

describe('rollback', () => {
  it('a late ADD failure removes the macspoofchk rule it made before IPAM', () => {
    const c = conf({
      ipMasq: true,
      macspoofchk: true,
      ipam: {
        type: 'host-local',
        subnet: '10.88.0.0/24',
        dataDir: path.join(tmp, 'ipam'),
        routes: [{ dst: '10.9.0.0/16', gw: '10.99.99.1' }],
      },
      isDefaultGateway: false,
    });
    const r = run({ command: 'ADD', conf: c });
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).msg).toMatch(/^add route 10\.9\.0\.0\/16/);
    // The table and chain were made (so the rule existed); the rule itself is gone.
    expect(node.exec('nft', 'list', 'tables')).toContain('table bridge nat');
    expect(nftRules('bridge', 'nat')).toEqual([]);
    expect(natRules()).toEqual([]);
  });
});

describe('two DELs of one attachment at once', () => {
  // The other DEL wins the race deterministically: wrappers of iptables and nft remove every rule of ours right
  // after this DEL has listed them, so its deletes find nothing. Something already gone is success.
  const racer = (tool: string, listing: string, remove: string) => {
    const dir = mkdtempSync(path.join(tmp, 'race-'));
    writeFileSync(
      path.join(dir, tool),
      `#!/bin/sh
case "$*" in
  *"${listing}"*)
    /usr/sbin/${tool} "$@"; st=$?
    if [ ! -e "${dir}/raced" ]; then : > "${dir}/raced"; ${remove}; fi
    exit $st ;;
esac
exec /usr/sbin/${tool} "$@"
`,
      { mode: 0o755 },
    );
    return { PATH: `${dir}:/usr/sbin:/usr/bin:/sbin:/bin`, raced: path.join(dir, 'raced') };
  };

  it('iptables: the rules vanish between listing and delete; DEL succeeds', () => {
    ok(run({ command: 'ADD', conf: conf({ ipMasq: true }) }));
    const flushAll = `/usr/sbin/iptables -w -t nat -F POSTROUTING; for c in $(/usr/sbin/iptables -w -t nat -S | sed -n 's/^-N \\(CNI-[0-9a-f]*\\)$/\\1/p'); do /usr/sbin/iptables -w -t nat -F $c; /usr/sbin/iptables -w -t nat -X $c; done`;
    const race = racer('iptables', '-t nat -S', flushAll);
    ok(run({ command: 'DEL', conf: conf({ ipMasq: true }), env: { PATH: race.PATH } }));
    expect(existsSync(race.raced)).toBe(true);
    expect(natRules()).toEqual([]);
  });

  it('nftables (macspoofchk): the table vanishes between listing and delete; DEL succeeds', () => {
    const c = conf({ macspoofchk: true, isDefaultGateway: false });
    ok(run({ command: 'ADD', conf: c }));
    expect(nftRules('bridge', 'nat')).toHaveLength(4);
    const race = racer('nft', 'list table bridge nat', '/usr/sbin/nft delete table bridge nat');
    ok(run({ command: 'DEL', conf: c, env: { PATH: race.PATH } }));
    expect(existsSync(race.raced)).toBe(true);
    expect(nftRules('bridge', 'nat')).toEqual([]);
  });

  it('two real DELs at once both succeed', async () => {
    const c = conf({ ipMasq: true, macspoofchk: true });
    ok(run({ command: 'ADD', conf: c }));
    const [a, b] = await Promise.all(
      [0, 1].map(() => cniAsync(node.name, { command: 'DEL', conf: c, netns: pod.path })),
    );
    expect(a!.code, a!.stdout).toBe(0);
    expect(b!.code, b!.stdout).toBe(0);
    expect(natRules()).toEqual([]);
    expect(nftRules('bridge', 'nat')).toEqual([]);
  });
});

describe('GC while ADDs are under way (the runtime lists none of them as valid)', () => {
  it.each(['iptables', 'nftables'] as const)(
    '%s: no GC fails because an ADD or another GC changed the rules first',
    async (backend) => {
      const c = conf({ ipMasq: true, ipMasqBackend: backend, macspoofchk: true });
      const pods = Array.from({ length: 12 }, () => makeNetns('vbp'));
      const gc = { command: 'GC', conf: { ...c, cniVersion: '1.1.0', 'cni.dev/valid-attachments': [] } } as const;
      const adds = pods.map((p, i) =>
        cniAsync(node.name, { command: 'ADD', conf: c, containerId: `r${i}`, netns: p.path }),
      );
      const gcs = Array.from({ length: 4 }, () => cniAsync(node.name, gc));
      const replies = await Promise.all([...adds, ...gcs]);
      for (const r of replies.slice(pods.length)) expect(r.code, `GC: ${r.stdout}`).toBe(0);
      // ADDs may have lost their veth to a GC (then they fail and roll back): DEL each, then nothing is left.
      for (const [i, p] of pods.entries()) ok(run({ command: 'DEL', conf: c, containerId: `r${i}`, netns: p.path }));
      expect(natRules()).toEqual([]);
      expect([...nftRules('inet', 'cni_plugins_masquerade'), ...nftRules('bridge', 'nat')]).toEqual([]);
    },
    120_000,
  );
});

// Kinds of fault a fresh helper found by attacking the reference's layout: each teardown must still work where the
// reference's names are cut, shared or ambiguous.
describe("the reference's names where they are cut, shared or carry no network", () => {
  const allNat = () => node.exec('iptables', '-w', '-t', 'nat', '-S').split('\n');

  it('iptables cuts a comment over 255 bytes: DEL and GC still find the chain and its jump', () => {
    const name = `n${'x'.repeat(150)}`;
    const id = `c${'0'.repeat(120)}`;
    const c = conf({ name, ipMasq: true });
    ok(run({ command: 'ADD', conf: c, containerId: id }));
    expect(natRules().length).toBeGreaterThan(0);
    ok(run({ command: 'DEL', conf: c, containerId: id }));
    expect(natRules()).toEqual([]);
    ok(run({ command: 'ADD', conf: c, containerId: id }));
    ok(run({ command: 'DEL', conf: c, containerId: id, netns: null }));
    expect(natRules()).toEqual([]);
    const pod2 = makeNetns('vbp');
    ok(run({ command: 'ADD', conf: c, containerId: id, netns: pod2.path }));
    cniGone(pod2);
    const gc = { ...c, cniVersion: '1.1.0', 'cni.dev/valid-attachments': [] };
    ok(run({ command: 'GC', conf: gc, netns: null }));
    expect(natRules()).toEqual([]);
  });

  it('two networks whose chain names collide (sha512 of network + container, no separator) both DEL', () => {
    const pod2 = makeNetns('vbp');
    const a = conf({ name: 'kA', ipMasq: true });
    const b = conf({ name: 'kA1', ipMasq: true, bridge: 'br-fw2', ipam: { ...conf().ipam, subnet: '10.89.0.0/24' } });
    ok(run({ command: 'ADD', conf: a, containerId: '1x' }));
    ok(run({ command: 'ADD', conf: b, containerId: 'x', netns: pod2.path }));
    const chains = allNat().filter((l) => l.startsWith('-N CNI-'));
    expect(chains).toHaveLength(1);
    ok(run({ command: 'DEL', conf: a, containerId: '1x' }));
    // kA1's jump still leads to the chain, and the chain is still there.
    expect(allNat().filter((l) => l.includes('id: \\"x\\"') && l.startsWith('-A POSTROUTING'))).toHaveLength(1);
    expect(allNat().filter((l) => l.startsWith('-N CNI-'))).toEqual(chains);
    ok(run({ command: 'DEL', conf: b, containerId: 'x', netns: pod2.path }));
    expect(natRules()).toEqual([]);
  });

  it("DEL of one of a container's two interfaces on a network keeps the other's masquerading (prevResult)", () => {
    const c = conf({ ipMasq: true, isDefaultGateway: false, isGateway: true });
    const one = ok(run({ command: 'ADD', conf: c, ifname: 'net1' }));
    ok(run({ command: 'ADD', conf: c, ifname: 'net2' }));
    expect(natRules().filter((l) => l.startsWith('-A POSTROUTING'))).toHaveLength(2);
    ok(run({ command: 'DEL', conf: { ...c, prevResult: one }, ifname: 'net1' }));
    const left = natRules().filter((l) => l.startsWith('-A POSTROUTING'));
    expect(left).toHaveLength(1);
    expect(left[0]).not.toContain(one.ips[0].address.split('/')[0]);
    ok(run({ command: 'DEL', conf: c, ifname: 'net2' }));
    expect(natRules()).toEqual([]);
  });

  it("a DEL after an ADD refused for another network's interface of that name keeps that network's spoof check", () => {
    const b = conf({ name: 'netB', macspoofchk: true, isDefaultGateway: false, bridge: 'br-fw2' });
    const a = conf({ name: 'netA', macspoofchk: true, ipMasq: true, isDefaultGateway: false });
    ok(run({ command: 'ADD', conf: b, containerId: 'sp1' }));
    const refused = run({ command: 'ADD', conf: a, containerId: 'sp1' });
    expect(JSON.parse(refused.stdout).code).toBe(102);
    ok(run({ command: 'DEL', conf: a, containerId: 'sp1' }));
    expect(nftRules('bridge', 'nat')).toEqual(Array(4).fill('macspoofchk-sp1-net1'));
    ok(run({ command: 'DEL', conf: b, containerId: 'sp1' }));
    expect(nftRules('bridge', 'nat')).toEqual([]);
  });
});
