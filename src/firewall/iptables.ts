// ipMasq with the iptables backend, as the reference does it: a chain per attachment in the nat table that
// accepts traffic to the pod's own subnet and masquerades the rest (multicast excepted), jumped to from
// POSTROUTING for the pod's address. Rules carry the attachment's comment; chains are named from it.
import { parseCidr, subnetOf } from '../ip.js';
import { TEARDOWN_ATTEMPTS, must, run } from './exec.js';
import { chainName, comment, parseComment, type AttachmentId } from '../plugin/attachment.js';

const MULTICAST = { 4: '224.0.0.0/4', 6: 'ff00::/8' } as const;
const tool = (family: 4 | 6) => (family === 4 ? 'iptables' : 'ip6tables');

/** iptables-restore quoting for one argument (comments contain spaces). */
const arg = (a: string) => (/^[\w./:!-]+$/.test(a) ? a : `"${a.replace(/["\\]/g, '')}"`);

/**
 * Masquerades the attachment's addresses: per family, the chain with its rules and the POSTROUTING jumps go to the
 * kernel in one `iptables-restore --noflush` transaction, so a plugin killed at any moment leaves either all of it
 * (found by DEL and GC through the jump's comment) or none of it, never a chain without its jump. Declaring the
 * chain flushes it, so a repeated ADD rewrites the same rules; a jump that is already there is not added twice.
 * Throws CniError 106 when a program fails.
 */
export function masqIptables(o: AttachmentId, addresses: string[]): void {
  const chain = chainName(o);
  const c = ['-m', 'comment', '--comment', comment(o)];
  for (const family of [4, 6] as const) {
    const mine = addresses.filter((a) => parseCidr(a).family === family);
    if (mine.length === 0) continue;
    const rules: string[][] = [];
    for (const address of mine) {
      rules.push(['-A', chain, '-d', subnetOf(address), '-j', 'ACCEPT', ...c]);
      rules.push(['-A', chain, '!', '-d', MULTICAST[family], '-j', 'MASQUERADE', ...c]);
    }
    for (const address of mine) {
      const jump = ['-s', parseCidr(address).ip, '-j', chain, ...c];
      if (run(tool(family), ['-w', '-t', 'nat', '-C', 'POSTROUTING', ...jump]).status !== 0)
        rules.push(['-A', 'POSTROUTING', ...jump]);
    }
    const text = ['*nat', `:${chain} - [0:0]`, ...rules.map((r) => r.map(arg).join(' ')), 'COMMIT', ''].join('\n');
    must(`${tool(family)}-restore`, ['-w', '--noflush'], text);
  }
}

/** `iptables -S` prints arguments with quoting: split them back. */
function tokens(line: string): string[] {
  return [...line.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)].map((m) => m[1] ?? m[2]!);
}

/**
 * Removes the POSTROUTING jumps and chains of this network's attachments that `pick` selects, found by their rules'
 * comments (a chain by its own rules too, should a jump be gone). Per family it is one `iptables-restore --noflush`
 * transaction, so a plugin killed at any moment leaves the attachment's rules whole or gone, and a later DEL or GC
 * finds them. A rule that another DEL removed first is not a failure: the listing is read again and the
 * transaction retried. Returns what could not be removed, as text.
 */
export function unmasqIptables(
  network: string,
  pick: (o: { containerId: string; ifname: string }) => boolean,
): string[] {
  const failures: string[] = [];
  for (const t of ['iptables', 'ip6tables'] as const) {
    for (let attempt = 1; ; attempt++) {
      const listed = run(t, ['-w', '-t', 'nat', '-S']);
      if (listed.status !== 0) break; // no nat table for this family: nothing of ours there
      const jumps: string[][] = [];
      const chains = new Set<string>();
      for (const line of listed.stdout.split('\n')) {
        const args = tokens(line);
        if (args[0] !== '-A') continue;
        const ci = args.indexOf('--comment');
        const owner = ci > 0 ? parseComment(args[ci + 1] ?? '', network) : null;
        if (!owner || !pick(owner)) continue;
        if (args[1] === 'POSTROUTING') {
          jumps.push(args.slice(2));
          const target = args[args.indexOf('-j') + 1];
          if (target?.startsWith('VB-')) chains.add(target);
        } else if (args[1]?.startsWith('VB-')) chains.add(args[1]);
      }
      if (jumps.length === 0 && chains.size === 0) break;
      const text = [
        '*nat',
        ...jumps.map((j) => ['-D', 'POSTROUTING', ...j].map(arg).join(' ')),
        ...[...chains].flatMap((c) => [`-F ${c}`, `-X ${c}`]),
        'COMMIT',
        '',
      ].join('\n');
      const r = run(`${t}-restore`, ['-w', '--noflush'], text);
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
