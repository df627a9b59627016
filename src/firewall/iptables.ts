// ipMasq with the iptables backend, in the reference's layout (pkg/ip/ipmasq_iptables_linux.go and pkg/utils/utils.go,
// read at v1.9.1 and v1.1.1, which agree): a chain `CNI-<hash>` per (network, container ID) in the nat table that
// accepts traffic to the pod's subnet and masquerades the rest (multicast excepted), jumped to from POSTROUTING for
// each of the pod's addresses; every rule carries the comment `name: "<network>" id: "<container ID>"`. So the
// reference's DEL removes what vlan-bridge made and the other way round. Teardown also removes the chains of
// vlan-bridge builds before this layout (`VB-<hash>`, comment `vlan-bridge <tag> <container> <ifname>`).
import { parseCidr, subnetOf } from '../ip.js';
import { CniError, Code } from '../cni/errors.js';
import { TEARDOWN_ATTEMPTS, installed, run } from './exec.js';
import {
  goQuote,
  isLegacyChain,
  masqChain,
  masqComment,
  parseLegacyComment,
  selectsLegacy,
  type Owner,
  type Selection,
} from './layout.js';

const MULTICAST = { 4: '224.0.0.0/4', 6: 'ff00::/8' } as const;
const FAMILIES = { 4: 'iptables', 6: 'ip6tables' } as const;

/** iptables-restore quoting for one argument: comments hold spaces and double quotes. */
const arg = (a: string) => (/^[\w./:!-]+$/.test(a) ? a : `"${a.replace(/["\\]/g, (c) => `\\${c}`)}"`);
const line = (args: string[]) => args.map(arg).join(' ');

/**
 * Masquerades the attachment's addresses. Per family, the chain (when new), its rules and the POSTROUTING jumps go
 * to the kernel in one `iptables-restore --noflush` transaction, so a plugin killed at any moment leaves either all
 * of it (found by DEL and GC through the comments) or none of it, never a chain without its jump. The chain is
 * shared by the container's other interfaces on this network (the reference's identity): when it exists, only the
 * rules it lacks are appended (the reference's `AppendUnique`), and `-N` in the same transaction makes a chain
 * that another ADD created meanwhile refuse the whole transaction, which is then retried. Throws CniError 106 when
 * a program fails.
 */
export function masqIptables(o: Owner, addresses: string[]): void {
  const chain = masqChain(o);
  const c = ['-m', 'comment', '--comment', masqComment(o)];
  for (const family of [4, 6] as const) {
    const mine = addresses.filter((a) => parseCidr(a).family === family);
    if (mine.length === 0) continue;
    const t = FAMILIES[family];
    const wanted: string[][] = [];
    for (const address of mine) wanted.push([chain, '-d', subnetOf(address), '-j', 'ACCEPT', ...c]);
    wanted.push([chain, '!', '-d', MULTICAST[family], '-j', 'MASQUERADE', ...c]);
    for (const address of mine) wanted.push(['POSTROUTING', '-s', parseCidr(address).ip, '-j', chain, ...c]);
    let refusal = '';
    for (let attempt = 1; attempt <= TEARDOWN_ATTEMPTS; attempt++) {
      const exists = run(t, ['-w', '-t', 'nat', '-S', chain]).status === 0;
      const missing = exists ? wanted.filter((r) => run(t, ['-w', '-t', 'nat', '-C', ...r]).status !== 0) : wanted;
      if (missing.length === 0) break;
      const text = ['*nat', ...(exists ? [] : [`-N ${chain}`]), ...missing.map((r) => line(['-A', ...r])), 'COMMIT'];
      const r = run(`${t}-restore`, ['-w', '--noflush'], `${text.join('\n')}\n`);
      if (r.status === 0) {
        refusal = '';
        break;
      }
      refusal = r.stderr || `exit ${r.status}`;
    }
    if (refusal) throw new CniError(Code.Firewall, `${t}-restore (masquerade ${mine.join(', ')}) failed`, refusal);
  }
}

/** `iptables -S` prints arguments with quoting (and `\"` inside): split them back. */
function tokens(text: string): string[] {
  return [...text.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)].map((m) =>
    m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]!,
  );
}

/** iptables keeps at most 255 bytes of a comment (XT_MAX_COMMENT_LEN) and cuts longer ones without a word. */
const stored = (comment: string): string => Buffer.from(comment).subarray(0, 255).toString();

/**
 * Whether a rule's comment, as iptables stored it, is one of the selected attachments' in the reference's layout:
 * for DEL the attachment's own (cut as iptables cuts it, so a long one is still found), for GC any of the network's
 * (`name: "<network>" id: "`, cut or whole) but the valid containers'.
 */
function ownedComment(sel: Selection, comment: string): boolean {
  if ('only' in sel)
    return comment === stored(masqComment({ network: sel.network, containerId: sel.only.containerId }));
  if (!comment.startsWith(`name: ${goQuote(sel.network)} id: "`)) return false;
  return !sel.keep.some((k) => comment === stored(masqComment({ network: sel.network, containerId: k.containerId })));
}

/**
 * What to remove for the selected attachments, from one `-S` listing: the POSTROUTING jumps (their rule specs), and
 * the chains no other jump leads to any more. The reference's chain is per (network, container), and sha512 of the
 * two without a separator may name one chain for two networks (`kA`+`1x`, `kA1`+`x`): a chain goes only with its
 * last jump, whoever's. DEL with the attachment's addresses (prevResult) removes the jumps of those addresses
 * only, so the container's other interfaces on the network keep theirs; without them, every jump of the container.
 */
function selected(listing: string, sel: Selection): { jumps: string[][]; chains: Set<string> } {
  const jumps: string[][] = [];
  const touched = new Set<string>();
  const jumpsTo = new Map<string, number>();
  const declared = new Set<string>();
  const addresses = 'only' in sel ? sel.addresses?.map((a) => a.split('/')[0]) : undefined;
  for (const text of listing.split('\n')) {
    const args = tokens(text);
    if (args[0] === '-N' && args[1]) declared.add(args[1]);
    if (args[0] !== '-A' || !args[1]) continue;
    const comment = args[args.indexOf('--comment') + 1] ?? '';
    const target = args[args.indexOf('-j') + 1] ?? '';
    const jump = args[1] === 'POSTROUTING';
    if (jump) jumpsTo.set(target, (jumpsTo.get(target) ?? 0) + 1);
    let chain: string | undefined;
    if (ownedComment(sel, comment)) chain = jump ? target : args[1];
    else {
      const old = parseLegacyComment(comment, sel.network);
      const c = jump ? target : args[1];
      if (old && selectsLegacy(sel, old) && isLegacyChain(c)) chain = c;
    }
    if (chain === undefined) continue;
    touched.add(chain);
    const source = args[args.indexOf('-s') + 1]?.split('/')[0];
    if (jump && (addresses === undefined || isLegacyChain(chain) || addresses.includes(source ?? ''))) {
      jumps.push(args.slice(2));
    }
  }
  // A chain of the attachment that DEL names, even without rules (a reference ADD killed right after `-N`).
  if ('only' in sel) {
    const own = masqChain({ network: sel.network, containerId: sel.only.containerId });
    if (declared.has(own)) touched.add(own);
  }
  const removed = new Map<string, number>();
  for (const j of jumps) {
    const target = j[j.indexOf('-j') + 1]!;
    removed.set(target, (removed.get(target) ?? 0) + 1);
  }
  const chains = new Set(
    [...touched].filter((c) => declared.has(c) && (jumpsTo.get(c) ?? 0) === (removed.get(c) ?? 0)),
  );
  return { jumps, chains };
}

/**
 * Removes the POSTROUTING jumps and chains of the selected attachments, found by their rules' comments, in both
 * layouts (see `selected` for which). Per family it is one
 * `iptables-restore --noflush` transaction, so a plugin killed at any moment leaves them whole or gone. A rule that
 * another DEL removed first is not a failure: the listing is read again and the transaction retried. Returns what
 * could not be removed, as text.
 */
export function unmasqIptables(sel: Selection): string[] {
  const failures: string[] = [];
  for (const t of Object.values(FAMILIES)) {
    if (!installed(t)) continue;
    for (let attempt = 1; ; attempt++) {
      const listed = run(t, ['-w', '-t', 'nat', '-S']);
      if (listed.status !== 0) break; // no nat table for this family: nothing of ours there
      const { jumps, chains } = selected(listed.stdout, sel);
      if (jumps.length === 0 && chains.size === 0) break;
      const text = [
        '*nat',
        ...jumps.map((j) => line(['-D', 'POSTROUTING', ...j])),
        ...[...chains].flatMap((c) => [`-F ${c}`, `-X ${c}`]),
        'COMMIT',
      ];
      const r = run(`${t}-restore`, ['-w', '--noflush'], `${text.join('\n')}\n`);
      if (r.status === 0) break;
      // Refused because a concurrent DEL, GC or rollback changed these rules first: list again and retry.
      if (attempt === TEARDOWN_ATTEMPTS) {
        failures.push(
          `${t}-restore (remove ${jumps.length} jumps, chains ${[...chains].join(' ')}): still refused after ${attempt} attempts: ${r.stderr}`,
        );
        break;
      }
    }
  }
  return failures;
}
