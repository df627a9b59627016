// What a namespace's firewall holds, as lists of items that compare across plugins and across time (before ADD,
// after ADD, after DEL): the nat table as iptables-save prints it, and the nftables ruleset as `nft list ruleset`
// prints it, one item per table, chain and rule. The tables that iptables-nft keeps (ip/ip6 nat, filter, ...) are
// read through iptables-save only, so a rule is never counted twice.
import type { TestNs } from '../host/netns-fixture.js';

const BUILTIN_NAT_CHAINS = new Set(['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING']);
const IPTABLES_NFT_TABLE = /^(ip|ip6) (nat|filter|mangle|raw|security)$/;

export interface FirewallState {
  /** `chain <name>` for each chain iptables' nat table has besides the built-in ones, then each `-A` rule. */
  nat: string[];
  /** `table <family> <name> {comment}`, `<table> chain <name> {type, hook, policy}`, `<table> <chain>: <rule>`. */
  nft: string[];
}

/** iptables-save's nat table, counters and policies left out. */
export function natItems(text: string): string[] {
  const items: string[] = [];
  for (const line of text.split('\n')) {
    const chain = /^:(\S+) /.exec(line);
    if (chain && !BUILTIN_NAT_CHAINS.has(chain[1]!)) items.push(`chain ${chain[1]}`);
    else if (line.startsWith('-A ')) items.push(line.trim());
  }
  return items;
}

/** `nft list ruleset` as items; a table's or chain's own lines (type, hook, policy, comment) go into its item. */
export function nftItems(text: string): string[] {
  const items: string[] = [];
  let table: string | undefined;
  let skip = false;
  let block: string | undefined;
  let head = -1; // index of the item that the current table's or block's own lines extend
  for (const raw of text.split('\n')) {
    const line = raw.trim().replace(/\s+/g, ' ');
    if (!line) continue;
    const t = /^table (\S+ \S+) \{$/.exec(line);
    if (t) {
      table = t[1]!;
      skip = IPTABLES_NFT_TABLE.test(table);
      if (!skip) head = items.push(`table ${table}`) - 1;
      continue;
    }
    if (line === '}') {
      if (block !== undefined) block = undefined;
      else table = undefined;
      continue;
    }
    if (skip || table === undefined) continue;
    const b = /^(chain|set|map|flowtable) (\S+) \{$/.exec(line);
    if (b) {
      block = `${b[1]} ${b[2]}`;
      head = items.push(`${table} ${block}`) - 1;
      continue;
    }
    const own = /^(type |policy |comment "|flags |elements = )/.test(line);
    if (own || block === undefined || !block.startsWith('chain ')) {
      items[head] = items[head]!.endsWith('}') ? `${items[head]!.slice(0, -1)} ${line}}` : `${items[head]} {${line}}`;
    } else items.push(`${table} ${block.slice('chain '.length)}: ${line}`);
  }
  return items;
}

export function firewallState(ns: TestNs): FirewallState {
  return { nat: natItems(ns.exec('iptables-save', '-t', 'nat')), nft: nftItems(ns.exec('nft', 'list', 'ruleset')) };
}

/** Items of `now` that `before` lacks, as one field value. */
export function added(now: string[], before: string[]): string {
  const fresh = now.filter((i) => !before.includes(i));
  return fresh.length ? fresh.join(' ; ') : 'none';
}
