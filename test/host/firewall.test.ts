// ipMasq (iptables and nftables backends) and macspoofchk, in a test node namespace: rules appear on ADD, carry
// the attachment's comment, are removed by DEL (also without a netns), by rollback and by GC; spoofed frames drop.
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
    .filter((l) => l.includes('VB-'));
const nftRules = (family: string, table: string) => {
  try {
    return (
      JSON.parse(node.exec('nft', '-j', 'list', 'table', family, table)).nftables as Array<{
        rule?: { comment?: string };
      }>
    )
      .filter((i) => i.rule)
      .map((i) => i.rule!.comment);
  } catch {
    return [];
  }
};

describe('ipMasq, iptables backend', () => {
  it('adds the chain, the accept and masquerade rules and the POSTROUTING jump; DEL removes them', () => {
    const res = ok(run({ command: 'ADD', conf: conf({ ipMasq: true }) }));
    const ip = res.ips[0].address.split('/')[0];
    const rules = natRules();
    const chain = /-N (VB-[0-9A-F]{24})/.exec(rules.join('\n'))?.[1];
    expect(chain).toBeDefined();
    const tag = /--comment "(vlan-bridge [0-9a-f]{12} c1 net1)"/.exec(rules.join('\n'))?.[1];
    expect(tag).toBeDefined();
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
    expect(left[0]).toContain(' keep net1"');
  });
});

describe('ipMasq, nftables backend', () => {
  it('adds one masquerade rule per address in its own table; DEL removes it', () => {
    const res = ok(run({ command: 'ADD', conf: conf({ ipMasq: true, ipMasqBackend: 'nftables' }) }));
    const ip = res.ips[0].address.split('/')[0];
    const listing = node.exec('nft', 'list', 'table', 'inet', 'vlan_bridge_masq');
    expect(listing).toMatch(
      new RegExp(
        `ip saddr ${ip.replace(/\./g, '\\.')} ip daddr != 10\\.88\\.0\\.0/24 ip daddr != 224\\.0\\.0\\.0/4 masquerade comment "vlan-bridge [0-9a-f]{12} c1 net1"`,
      ),
    );
    expect(natRules()).toEqual([]);
    ok(run({ command: 'DEL', conf: conf({ ipMasq: true, ipMasqBackend: 'nftables' }) }));
    expect(nftRules('inet', 'vlan_bridge_masq')).toEqual([]);
  });
});

describe('macspoofchk', () => {
  it("drops frames whose source MAC is not the pod's, and DEL removes the rule", () => {
    const pod2 = makeNetns('vbp');
    const c = conf({ macspoofchk: true, isDefaultGateway: false });
    const res = ok(run({ command: 'ADD', conf: c }));
    const peer = ok(run({ command: 'ADD', conf: c, containerId: 'c2', netns: pod2.path }));
    const target = peer.ips[0].address.split('/')[0];
    expect(nftRules('bridge', 'vlan_bridge_macspoof')).toEqual([
      expect.stringMatching(/^vlan-bridge [0-9a-f]{12} c1 net1$/),
      expect.stringMatching(/ c2 net1$/),
    ]);
    expect(node.exec('nft', 'list', 'table', 'bridge', 'vlan_bridge_macspoof')).toContain(
      `iifname "${res.interfaces[1].name}" ether saddr != ${res.interfaces[2].mac} drop`,
    );
    pod.exec('ping', '-c', '1', '-W', '2', target);
    pod.exec('ip', 'link', 'set', 'net1', 'address', '02:de:ad:be:ef:01');
    pod.exec('ip', 'neigh', 'flush', 'all');
    expect(() => pod.exec('ping', '-c', '1', '-W', '1', target)).toThrow();
    ok(run({ command: 'DEL', conf: c }));
    expect(nftRules('bridge', 'vlan_bridge_macspoof')).toEqual([expect.stringMatching(/ c2 net1$/)]);
  });
});

describe('long container IDs', () => {
  it('a 150-character container ID gets its macspoofchk and ipMasq rules (nft comments hold 128 bytes), and DEL and GC remove them', () => {
    const id = `k${'0123456789'.repeat(15)}`.slice(0, 150);
    const c = conf({ macspoofchk: true, ipMasq: true, ipMasqBackend: 'nftables', isDefaultGateway: false });
    ok(run({ command: 'ADD', conf: c, containerId: id }));
    expect(nftRules('bridge', 'vlan_bridge_macspoof')).toEqual([
      expect.stringMatching(/^vlan-bridge [0-9a-f]{12} #[0-9a-f]{24} net1$/),
    ]);
    expect(nftRules('inet', 'vlan_bridge_masq')).toHaveLength(1);
    ok(run({ command: 'DEL', conf: c, containerId: id }));
    expect(nftRules('bridge', 'vlan_bridge_macspoof')).toEqual([]);
    expect(nftRules('inet', 'vlan_bridge_masq')).toEqual([]);
    ok(run({ command: 'ADD', conf: c, containerId: id }));
    const gc = { ...c, cniVersion: '1.1.0', ipam: {} };
    ok(
      run({
        command: 'GC',
        conf: { ...gc, 'cni.dev/valid-attachments': [{ containerID: id, ifname: 'net1' }] },
        netns: null,
      }),
    );
    expect(nftRules('bridge', 'vlan_bridge_macspoof')).toHaveLength(1);
    ok(run({ command: 'GC', conf: { ...gc, 'cni.dev/valid-attachments': [] }, netns: null }));
    expect(nftRules('bridge', 'vlan_bridge_macspoof')).toEqual([]);
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
    expect(node.exec('nft', 'list', 'tables')).toContain('vlan_bridge_macspoof');
    expect(nftRules('bridge', 'vlan_bridge_macspoof')).toEqual([]);
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
    const flushAll = `/usr/sbin/iptables -w -t nat -F POSTROUTING; for c in $(/usr/sbin/iptables -w -t nat -S | sed -n 's/^-N \\(VB-[0-9A-F]*\\)$/\\1/p'); do /usr/sbin/iptables -w -t nat -F $c; /usr/sbin/iptables -w -t nat -X $c; done`;
    const race = racer('iptables', '-t nat -S', flushAll);
    ok(run({ command: 'DEL', conf: conf({ ipMasq: true }), env: { PATH: race.PATH } }));
    expect(existsSync(race.raced)).toBe(true);
    expect(natRules()).toEqual([]);
  });

  it('nftables (macspoofchk): the table vanishes between listing and delete; DEL succeeds', () => {
    const c = conf({ macspoofchk: true, isDefaultGateway: false });
    ok(run({ command: 'ADD', conf: c }));
    expect(nftRules('bridge', 'vlan_bridge_macspoof')).toHaveLength(1);
    const race = racer(
      'nft',
      'list table bridge vlan_bridge_macspoof',
      '/usr/sbin/nft delete table bridge vlan_bridge_macspoof',
    );
    ok(run({ command: 'DEL', conf: c, env: { PATH: race.PATH } }));
    expect(existsSync(race.raced)).toBe(true);
    expect(nftRules('bridge', 'vlan_bridge_macspoof')).toEqual([]);
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
    expect(nftRules('bridge', 'vlan_bridge_macspoof')).toEqual([]);
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
      expect([...nftRules('inet', 'vlan_bridge_masq'), ...nftRules('bridge', 'vlan_bridge_macspoof')]).toEqual([]);
    },
    120_000,
  );
});
