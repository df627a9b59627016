// nftables, in the reference's layout (read at v1.9.1): ipMasq with the nftables backend (pkg/ip/
// ipmasq_nftables_linux.go: table `inet cni_plugins_masquerade`, one rule per address in chain `masq_checks`, jumped
// to from a `postrouting` nat chain that returns for multicast) and macspoofchk (pkg/link/spoofcheck.go, the same
// in v1.1.1: table `bridge nat`, a PREROUTING jump per pod port to `cni-br-iface-<container>-<ifname>`, which jumps
// to `...-mac`: the pod's MAC returns, everything else drops). Requests go to nft as JSON (`nft -j -f -`), so no name
// or comment needs quoting; each ADD and each teardown is one nft transaction. Teardown also removes the rules of
// vlan-bridge builds before this layout (tables `inet vlan_bridge_masq` and `bridge vlan_bridge_macspoof`).
import { parseCidr, subnetOf } from '../ip.js';
import { CniError, Code } from '../cni/errors.js';
import { TEARDOWN_ATTEMPTS, installed, must, run } from './exec.js';
import {
  LEGACY_NFT_MASQ,
  LEGACY_NFT_SPOOF,
  NFT_MASQ,
  NFT_MASQ_BASE,
  SPOOF,
  nftMasqComment,
  nftMasqInstancePrefix,
  nftMasqNetworkPrefix,
  parseLegacyComment,
  selectsLegacy,
  spoofComment,
  spoofIfaceChain,
  spoofMacChain,
  spoofRefId,
  type Named,
  type Owner,
  type Selection,
} from './layout.js';

type Command = Record<string, unknown>;
type Expr = Record<string, unknown>;

const table = (t: { family: string; table: string }) => ({ family: t.family, table: t.table });
const add = (kind: string, o: object): Command => ({ add: { [kind]: o } });
const match = (op: '==' | '!=', left: Expr, right: unknown): Expr => ({ match: { op, left, right } });
const payload = (protocol: string, field: string): Expr => ({ payload: { protocol, field } });
const prefix = (cidr: string): Expr => {
  const { ip, prefix: len } = parseCidr(cidr);
  return { prefix: { addr: ip, len } };
};

/** Sends one transaction; throws CniError 106 with nft's error when it is refused. */
function apply(commands: Command[]): void {
  must('nft', ['-j', '-f', '-'], JSON.stringify({ nftables: commands }));
}

interface NftRule {
  family: string;
  table: string;
  chain: string;
  handle: number;
  comment?: string;
  expr?: Expr[];
}

/** The rules of a table (null when it does not exist); throws CniError 106 on output nft should never print. */
function listRules(t: { family: string; table: string }): NftRule[] | null {
  const listed = run('nft', ['-j', '-a', 'list', 'table', t.family, t.table]);
  if (listed.status !== 0) return null;
  try {
    const items = (JSON.parse(listed.stdout) as { nftables: Array<{ rule?: NftRule }> }).nftables;
    return items.flatMap((i) => (i.rule ? [i.rule] : []));
  } catch {
    throw new CniError(Code.Firewall, `nft list table ${t.family} ${t.table}: unreadable JSON`);
  }
}

const deleteRule = (r: NftRule): Command => ({
  delete: { rule: { family: r.family, table: r.table, chain: r.chain, handle: r.handle } },
});

// ---- ipMasq ----

/**
 * Masquerades the attachment's addresses as the reference's nftables backend does: the table, `masq_checks` and the
 * `postrouting` chain (flushed and refilled: multicast returns, the rest goes to `masq_checks`), this attachment's
 * earlier rules deleted and one rule per address added, in one transaction (retried when a concurrent teardown
 * deleted one of those earlier rules first). Throws CniError 106 when nft refuses.
 */
export function masqNft(o: Owner, addresses: string[]): void {
  const t = table(NFT_MASQ);
  const mine = nftMasqInstancePrefix(o);
  for (let attempt = 1; ; attempt++) {
    const listed = listRules(NFT_MASQ);
    // The table and masq_checks with the comments knftables gives them in the reference
    // (pkg/ip/ipmasq_nftables_linux.go, v1.9.1). nft 1.0.6 drops table and chain comments given as JSON, so this
    // goes as text, before the attachment's transaction and only when the table is new: shared objects that hold
    // nothing of an attachment, so a plugin killed between the two leaves nothing to clean up.
    if (listed === null) {
      const text = [
        `add table ${t.family} ${t.table} { comment "Masquerading for plugins from github.com/containernetworking/plugins" ; }`,
        `add chain ${t.family} ${t.table} ${NFT_MASQ.chain} { comment "Masquerade traffic from certain IPs to any (non-multicast) IP outside their subnet" ; }`,
      ];
      must('nft', ['-f', '-'], `${text.join('\n')}\n`);
    }
    const stale = (listed ?? []).filter((r) => r.chain === NFT_MASQ.chain && r.comment?.startsWith(mine));
    const commands: Command[] = [
      add('table', { family: t.family, name: t.table }),
      add('chain', { ...t, name: NFT_MASQ.chain }),
      add('chain', { ...t, name: NFT_MASQ_BASE, type: 'nat', hook: 'postrouting', prio: 100, policy: 'accept' }),
      { flush: { chain: { ...t, name: NFT_MASQ_BASE } } },
      add('rule', {
        ...t,
        chain: NFT_MASQ_BASE,
        expr: [match('==', payload('ip', 'daddr'), prefix('224.0.0.0/4')), { return: null }],
      }),
      add('rule', {
        ...t,
        chain: NFT_MASQ_BASE,
        expr: [match('==', payload('ip6', 'daddr'), prefix('ff00::/8')), { return: null }],
      }),
      add('rule', { ...t, chain: NFT_MASQ_BASE, expr: [{ goto: { target: NFT_MASQ.chain } }] }),
      ...stale.map(deleteRule),
      ...addresses.map((address) => {
        const { ip, family } = parseCidr(address);
        const p = family === 4 ? 'ip' : 'ip6';
        const expr = [
          match('==', payload(p, 'saddr'), ip),
          match('!=', payload(p, 'daddr'), prefix(subnetOf(address))),
          { masquerade: null },
        ];
        return add('rule', { ...t, chain: NFT_MASQ.chain, expr, comment: nftMasqComment(o) });
      }),
    ];
    try {
      apply(commands);
      return;
    } catch (err) {
      if (stale.length === 0 || attempt === TEARDOWN_ATTEMPTS) throw err;
    }
  }
}

/** The selected attachments' nftables ipMasq rules (comments as `commentForInstance` writes them). */
function selectedMasq(rules: NftRule[], sel: Selection): NftRule[] {
  const ours = rules.filter((r) => r.chain === NFT_MASQ.chain && r.comment !== undefined);
  if ('only' in sel) {
    const mine = nftMasqInstancePrefix(sel.only);
    return ours.filter((r) => r.comment!.startsWith(mine));
  }
  const keep = new Set(sel.keep.map((k) => nftMasqComment({ ...k, network: sel.network })));
  const net = nftMasqNetworkPrefix(sel.network);
  return ours.filter((r) => r.comment!.startsWith(net) && !keep.has(r.comment!));
}

// ---- macspoofchk ----

/**
 * Drops frames from the pod's port (`hostVeth`) whose source MAC is not `mac`, as the reference's SpoofChecker: the
 * table and base chain (priority -300), this attachment's two chains (flushed, so a repeated ADD rewrites them), and
 * their rules, in one transaction. Throws CniError 106 when nft refuses.
 */
export function macSpoofCheck(o: Owner, hostVeth: string, mac: string): void {
  const t = table(SPOOF);
  const id = spoofRefId(o);
  const [iface, macChain, comment] = [spoofIfaceChain(id), spoofMacChain(id), spoofComment(id)];
  apply([
    add('table', { family: t.family, name: t.table }),
    add('chain', { ...t, name: SPOOF.chain, type: 'filter', hook: 'prerouting', prio: -300, policy: 'accept' }),
    add('chain', { ...t, name: iface }),
    add('chain', { ...t, name: macChain }),
    { flush: { chain: { ...t, name: iface } } },
    { flush: { chain: { ...t, name: macChain } } },
    add('rule', {
      ...t,
      chain: SPOOF.chain,
      expr: [match('==', { meta: { key: 'iifname' } }, hostVeth), { jump: { target: iface } }],
      comment,
    }),
    add('rule', { ...t, chain: iface, expr: [{ jump: { target: macChain } }], comment }),
    add('rule', {
      ...t,
      chain: macChain,
      expr: [match('==', payload('ether', 'saddr'), mac), { return: null }],
      comment,
    }),
    add('rule', { ...t, chain: macChain, expr: [{ drop: null }], comment }),
  ]);
}

/** The interface a PREROUTING jump rule matches (`iifname == <name>`), from its JSON expression. */
function iifnameOf(r: NftRule): string | undefined {
  for (const e of r.expr ?? []) {
    const m = (e as { match?: { left?: { meta?: { key?: string } }; right?: unknown } }).match;
    if (m?.left?.meta?.key === 'iifname' && typeof m.right === 'string') return m.right;
  }
  return undefined;
}

/**
 * The selected attachments' spoof-check jumps and chains. For DEL, the attachment's own. For GC, whose valid list
 * names attachments of one network while the reference's names carry none: a jump whose attachment is not listed
 * and whose port no longer exists (`portGone`; GC deletes its stale ports first), so another network's pods on the
 * same table are never touched.
 */
function selectedSpoof(
  rules: NftRule[],
  sel: Selection,
  portGone: (name: string) => boolean,
): { jumps: NftRule[]; chains: string[] } {
  const prefix = spoofComment('');
  let jumps = rules.filter((r) => r.chain === SPOOF.chain && r.comment?.startsWith(prefix));
  if ('only' in sel) jumps = jumps.filter((r) => r.comment === spoofComment(spoofRefId(sel.only)));
  else {
    const keep = new Set(sel.keep.map((k) => spoofComment(spoofRefId(k))));
    jumps = jumps.filter((r) => !keep.has(r.comment!) && portGone(iifnameOf(r) ?? ''));
  }
  const ids = new Set(jumps.map((r) => r.comment!.slice(prefix.length)));
  if ('only' in sel) ids.add(spoofRefId(sel.only));
  const chains = new Set(rules.map((r) => r.chain));
  return {
    jumps,
    chains: [...ids].flatMap((id) => [spoofIfaceChain(id), spoofMacChain(id)]).filter((c) => chains.has(c)),
  };
}

// ---- teardown ----

/**
 * Removes the selected attachments' nftables objects: ipMasq rules (`masq`) and spoof-check jumps and chains
 * (`spoof`), in the reference's tables and in those of earlier vlan-bridge builds. One transaction per table and
 * attempt: when a concurrent DEL, GC or rollback removed one of its objects first, nft refuses it whole and it is
 * retried on a fresh listing; only what is still there after TEARDOWN_ATTEMPTS is a failure. The reference's shared
 * objects (tables, base chains, `masq_checks`) stay, as the reference's teardown leaves them. Without nft installed
 * there is nothing to remove. Returns what could not be removed, as text, and the attachments whose objects were
 * removed, as far as the names tell them (GC releases their addresses).
 */
export function teardownNft(
  sel: Selection,
  what: { masq: boolean; spoof: boolean },
  portGone: (name: string) => boolean,
): { failures: string[]; named: Named[] } {
  if (!installed('nft')) return { failures: [], named: [] };
  type Plan = (rules: NftRule[]) => { commands: Command[]; named: Named[] };
  const plans: Array<{ where: { family: string; table: string }; plan: Plan }> = [];
  const unnamed = (commands: Command[]) => ({ commands, named: [] });
  if (what.masq) {
    plans.push({
      where: NFT_MASQ,
      plan: (rules) => {
        const gone = selectedMasq(rules, sel);
        return { commands: gone.map(deleteRule), named: gone.flatMap((r) => masqOwner(r.comment!, sel.network)) };
      },
    });
    plans.push({ where: LEGACY_NFT_MASQ, plan: (rules) => unnamed(legacy(rules, sel, LEGACY_NFT_MASQ)) });
  }
  if (what.spoof) {
    plans.push({
      where: SPOOF,
      plan: (rules) => {
        const { jumps, chains } = selectedSpoof(rules, sel, portGone);
        const t = table(SPOOF);
        const commands = [
          ...jumps.map(deleteRule),
          ...chains.map((name) => ({ flush: { chain: { ...t, name } } })),
          ...chains.map((name) => ({ delete: { chain: { ...t, name } } })),
        ];
        return { commands, named: jumps.flatMap((r) => spoofOwners(r.comment!.slice(spoofComment('').length))) };
      },
    });
    plans.push({ where: LEGACY_NFT_SPOOF, plan: (rules) => unnamed(legacy(rules, sel, LEGACY_NFT_SPOOF)) });
  }
  const failures: string[] = [];
  const named: Named[] = [];
  for (const { where, plan } of plans) {
    let refusal = '';
    for (let attempt = 1; attempt <= TEARDOWN_ATTEMPTS; attempt++) {
      const rules = listRules(where);
      const p = rules ? plan(rules) : { commands: [], named: [] };
      if (p.commands.length === 0) {
        refusal = '';
        break;
      }
      const r = run('nft', ['-j', '-f', '-'], JSON.stringify({ nftables: p.commands }));
      if (r.status === 0) {
        refusal = '';
        named.push(...p.named);
        break;
      }
      refusal = `nft: ${p.commands.length} deletions in table ${where.family} ${where.table} still refused after ${attempt} attempts: ${r.stderr}`;
    }
    if (refusal) failures.push(refusal);
  }
  return { failures, named };
}

/** The attachment an nftables ipMasq comment names in full (null when knftables cut it at 128 bytes). */
function masqOwner(comment: string, network: string): Named[] {
  const m = /, net: .*, if: (.*), id: (.*)$/.exec(comment);
  if (!m) return [];
  const o = { network, ifname: m[1]!, containerId: m[2]! };
  return nftMasqComment(o) === comment ? [{ containerId: o.containerId, ifname: o.ifname }] : [];
}

/**
 * The attachments a spoof check's id (`<container ID>-<ifname>`) may stand for: both may hold '-', so every split
 * into a container ID (libcni's rule) and an ifname of at most 15 bytes. GC releases the addresses of all of them
 * but the valid ones: an address of another attachment than the one meant is released only if that attachment is
 * not valid either.
 */
function spoofOwners(refId: string): Named[] {
  const out: Named[] = [];
  for (let i = refId.indexOf('-'); i > 0; i = refId.indexOf('-', i + 1)) {
    const containerId = refId.slice(0, i);
    const ifname = refId.slice(i + 1);
    if (/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(containerId) && ifname && Buffer.byteLength(ifname) <= 15)
      out.push({ containerId, ifname });
  }
  return out;
}

/**
 * The deletions of the selected rules of an earlier vlan-bridge build's table (comment `vlan-bridge ...`), and of
 * the table itself once they were its last rules: the current build never adds to it, so nothing of it is left.
 */
function legacy(rules: NftRule[], sel: Selection, where: { family: string; table: string }): Command[] {
  const gone = rules.filter((r) => {
    const o = r.comment !== undefined ? parseLegacyComment(r.comment, sel.network) : null;
    return o !== null && selectsLegacy(sel, o);
  });
  if (gone.length === 0) return [];
  if (gone.length < rules.length) return gone.map(deleteRule);
  return [{ delete: { table: { family: where.family, name: where.table } } }];
}
