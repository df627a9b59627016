// nftables: ipMasq with the nftables backend (a nat postrouting chain in our own inet table) and macspoofchk
// (a bridge-family prerouting chain that drops frames from the pod's port whose source MAC is not the pod's).
// Every rule carries the attachment's comment and is deleted by handle when its attachment goes.
import { parseCidr, subnetOf } from '../ip.js';
import { TEARDOWN_ATTEMPTS, must, run } from './exec.js';
import { comment, parseComment, type AttachmentId } from '../plugin/attachment.js';

export const MASQ = { family: 'inet', table: 'vlan_bridge_masq', chain: 'postrouting' } as const;
export const SPOOF = { family: 'bridge', table: 'vlan_bridge_macspoof', chain: 'prerouting' } as const;

const quote = (s: string) => `"${s.replace(/["\\]/g, '')}"`;

export function masqNft(o: AttachmentId, addresses: string[]): void {
  const lines = [
    `add table ${MASQ.family} ${MASQ.table}`,
    `add chain ${MASQ.family} ${MASQ.table} ${MASQ.chain} { type nat hook postrouting priority srcnat; policy accept; }`,
  ];
  for (const address of addresses) {
    const { ip, family } = parseCidr(address);
    const f = family === 4 ? 'ip' : 'ip6';
    const mcast = family === 4 ? '224.0.0.0/4' : 'ff00::/8';
    lines.push(
      `add rule ${MASQ.family} ${MASQ.table} ${MASQ.chain} ${f} saddr ${ip} ${f} daddr != ${subnetOf(address)} ${f} daddr != ${mcast} masquerade comment ${quote(comment(o))}`,
    );
  }
  must('nft', ['-f', '-'], `${lines.join('\n')}\n`);
}

export function macSpoofCheck(o: AttachmentId, hostVeth: string, mac: string): void {
  const lines = [
    `add table ${SPOOF.family} ${SPOOF.table}`,
    `add chain ${SPOOF.family} ${SPOOF.table} ${SPOOF.chain} { type filter hook prerouting priority -300; policy accept; }`,
    `add rule ${SPOOF.family} ${SPOOF.table} ${SPOOF.chain} iifname ${quote(hostVeth)} ether saddr != ${mac} drop comment ${quote(comment(o))}`,
  ];
  must('nft', ['-f', '-'], `${lines.join('\n')}\n`);
}

interface NftRule {
  rule?: { chain: string; handle: number; comment?: string };
}

type Pick = (o: { containerId: string; ifname: string }) => boolean;

/** Handles (with their chains) of this network's rules that `pick` selects; undefined when the table is gone. */
function ourRules(
  where: { family: string; table: string },
  network: string,
  pick: Pick,
): Array<{ chain: string; handle: number }> | string {
  const listed = run('nft', ['-j', '-a', 'list', 'table', where.family, where.table]);
  if (listed.status !== 0) return []; // no such table: nothing of ours there
  let items: NftRule[];
  try {
    items = (JSON.parse(listed.stdout) as { nftables: NftRule[] }).nftables;
  } catch {
    return `nft list table ${where.family} ${where.table}: unreadable JSON`;
  }
  return items.flatMap((i) => {
    const o = i.rule?.comment !== undefined ? parseComment(i.rule.comment, network) : null;
    return o !== null && pick(o) ? [{ chain: i.rule!.chain, handle: i.rule!.handle }] : [];
  });
}

/**
 * Deletes the rules of this network's attachments that `pick` selects from one of our tables; returns what could
 * not be deleted. One nft batch first; when it fails (it is all or nothing, and fails whole when a concurrent DEL
 * or GC removed one of its rules first), the rules still listed are deleted one by one, and only a rule that is
 * still there afterwards is a failure: a rule already gone counts as deleted.
 */
export function deleteNftRules(where: { family: string; table: string }, network: string, pick: Pick): string[] {
  const del = (r: { chain: string; handle: number }) =>
    `delete rule ${where.family} ${where.table} ${r.chain} handle ${r.handle}`;
  // One transaction per attempt: when a concurrent DEL, GC or rollback removed one of the rules first, the whole
  // batch is refused; list again and retry with what is still there.
  let lastError = '';
  for (let attempt = 1; attempt <= TEARDOWN_ATTEMPTS; attempt++) {
    const rules = ourRules(where, network, pick);
    if (typeof rules === 'string') return [rules];
    if (rules.length === 0) return [];
    const r = run('nft', ['-f', '-'], `${rules.map(del).join('\n')}\n`);
    if (r.status === 0) return [];
    lastError = r.stderr;
  }
  const still = ourRules(where, network, pick);
  if (typeof still === 'string') return [still];
  return still.map((r) => `nft ${del(r)}: still there after ${TEARDOWN_ATTEMPTS} attempts (${lastError})`);
}
