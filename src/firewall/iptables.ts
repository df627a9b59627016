// ipMasq with the iptables backend, as the reference does it: a chain per attachment in the nat table that
// accepts traffic to the pod's own subnet and masquerades the rest (multicast excepted), jumped to from
// POSTROUTING for the pod's address. Rules carry the attachment's comment; chains are named from it.
import { Address4, Address6 } from 'ip-address';
import { parseCidr } from '../kernel/ip.js';
import { must, run } from './exec.js';
import { chainName, comment, parseComment, type Owner } from './ident.js';

const MULTICAST = { 4: '224.0.0.0/4', 6: 'ff00::/8' } as const;
const tool = (family: 4 | 6) => (family === 4 ? 'iptables' : 'ip6tables');

export function subnetOf(cidr: string): string {
  const { family, prefix } = parseCidr(cidr);
  const start = family === 4 ? new Address4(cidr).startAddress().address : new Address6(cidr).startAddress().correctForm();
  return `${start}/${prefix}`;
}

function appendUnique(t: string, chain: string, rule: string[]): void {
  if (run(t, ['-w', '-t', 'nat', '-C', chain, ...rule]).status === 0) return;
  must(t, ['-w', '-t', 'nat', '-A', chain, ...rule]);
}

export function masqIptables(o: Owner, addresses: string[]): void {
  const chain = chainName(o);
  const c = ['-m', 'comment', '--comment', comment(o)];
  for (const address of addresses) {
    const { ip, family } = parseCidr(address);
    const t = tool(family);
    const made = run(t, ['-w', '-t', 'nat', '-N', chain]);
    if (made.status !== 0 && !/exists/i.test(made.stderr)) must(t, ['-w', '-t', 'nat', '-N', chain]);
    appendUnique(t, chain, ['-d', subnetOf(address), '-j', 'ACCEPT', ...c]);
    appendUnique(t, chain, ['!', '-d', MULTICAST[family], '-j', 'MASQUERADE', ...c]);
    appendUnique(t, 'POSTROUTING', ['-s', ip, '-j', chain, ...c]);
  }
}

/** `iptables -S` prints arguments with quoting: split them back. */
function tokens(line: string): string[] {
  return [...line.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)].map((m) => m[1] ?? m[2]!);
}

/** Our POSTROUTING rules (as `-S` prints them, split into arguments) of this network that `pick` selects. */
function ourJumps(t: string, network: string, pick: (o: { containerId: string; ifname: string }) => boolean): string[][] | undefined {
  const listed = run(t, ['-w', '-t', 'nat', '-S', 'POSTROUTING']);
  if (listed.status !== 0) return undefined; // no nat table for this family: nothing of ours there
  return listed.stdout.split('\n').map(tokens).filter((args) => {
    if (args[0] !== '-A') return false;
    const ci = args.indexOf('--comment');
    const owner = ci > 0 ? parseComment(args[ci + 1] ?? '', network) : null;
    return owner !== null && pick(owner);
  });
}

/**
 * Removes the POSTROUTING jumps and chains of this network's attachments that `pick` selects; returns what could
 * not be removed. A rule or chain that is already gone (a concurrent DEL or GC removed it between our listing and
 * our delete) counts as removed: a failed delete is a failure only if the rule is still listed afterwards.
 */
export function unmasqIptables(network: string, pick: (o: { containerId: string; ifname: string }) => boolean): string[] {
  const failures: string[] = [];
  for (const t of ['iptables', 'ip6tables'] as const) {
    const jumps = ourJumps(t, network, pick);
    if (!jumps) continue;
    const failed: Array<[string, string]> = [];
    for (const args of jumps) {
      const chain = args[args.indexOf('-j') + 1];
      const del = run(t, ['-w', '-t', 'nat', '-D', ...args.slice(1)]);
      if (del.status !== 0) failed.push([args.join(' '), `${t} -D ${args.slice(1).join(' ')}: ${del.stderr}`]);
      if (chain?.startsWith('VB-')) {
        run(t, ['-w', '-t', 'nat', '-F', chain]);
        const x = run(t, ['-w', '-t', 'nat', '-X', chain]);
        if (x.status !== 0 && !/No chain|does not exist/i.test(x.stderr)) failures.push(`${t} -X ${chain}: ${x.stderr}`);
      }
    }
    if (failed.length === 0) continue;
    const still = new Set((ourJumps(t, network, pick) ?? []).map((a) => a.join(' ')));
    failures.push(...failed.filter(([line]) => still.has(line)).map(([, why]) => why));
  }
  return failures;
}
