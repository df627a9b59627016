// Runs inside user-mode Linux (test/lab/uml-vitest.ts): proves the guest kernel has what the host kernel lacks.
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';

const sh = (cmd: string, ...args: string[]): string => execFileSync(cmd, args, { encoding: 'utf8' });
const ipJson = <T>(...args: string[]): T => JSON.parse(sh('ip', '-j', ...args)) as T;

interface Link {
  ifname: string;
  master?: string;
  linkinfo?: { info_kind?: string; info_data?: Record<string, unknown> };
}
interface VlanPort {
  ifname: string;
  vlans: { vlan: number; flags?: string[] }[];
}

describe('UML guest kernel', () => {
  it('runs inside the UML guest', () => {
    expect(process.env.UML_GUEST).toBe('1');
    // The kernel the runner booted: the one whose modules it linked into the work dir (build/uml-kernel/VERSION).
    const modules = readdirSync(`${process.env.UML_WORK_DIR}/lib/modules`);
    expect(modules).toHaveLength(1);
    expect(sh('uname', '-r').trim()).toBe(modules[0]);
  });

  it('creates a bridge with vlan_filtering set', () => {
    sh('ip', 'link', 'add', 'labbr0', 'type', 'bridge', 'vlan_filtering', '1');
    const [br] = ipJson<Link[]>('-d', 'link', 'show', 'labbr0');
    expect(br?.linkinfo?.info_kind).toBe('bridge');
    expect(br?.linkinfo?.info_data?.vlan_filtering).toBe(1);
  });

  it('gives a new bridge port VID 1 as PVID untagged', () => {
    sh('ip', 'link', 'add', 'labve0', 'type', 'veth', 'peer', 'name', 'labve1');
    sh('ip', 'link', 'set', 'labve0', 'master', 'labbr0');
    const ports = JSON.parse(sh('bridge', '-j', 'vlan', 'show', 'dev', 'labve0')) as VlanPort[];
    const port = ports.find((p) => p.ifname === 'labve0');
    expect(port?.vlans).toEqual([{ vlan: 1, flags: ['PVID', 'Egress Untagged'] }]);
    sh('bridge', 'vlan', 'add', 'dev', 'labve0', 'vid', '100');
    const after = JSON.parse(sh('bridge', '-j', 'vlan', 'show', 'dev', 'labve0')) as VlanPort[];
    expect(after[0]?.vlans.map((v) => v.vlan)).toEqual([1, 100]);
  });

  it('creates an 802.1q device', () => {
    sh('ip', 'link', 'add', 'labdm0', 'type', 'dummy');
    sh('ip', 'link', 'add', 'link', 'labdm0', 'name', 'labdm0.42', 'type', 'vlan', 'id', '42');
    const [v] = ipJson<Link[]>('-d', 'link', 'show', 'labdm0.42');
    expect(v?.linkinfo?.info_kind).toBe('vlan');
    expect(v?.linkinfo?.info_data?.id).toBe(42);
  });

  afterAll(() => {
    for (const l of ['labbr0', 'labve0', 'labdm0']) {
      try {
        sh('ip', 'link', 'del', l);
      } catch {
        // not created
      }
    }
  });
});
