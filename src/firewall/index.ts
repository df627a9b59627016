// Firewall steps of an attachment: ipMasq (iptables or nftables) and macspoofchk (nftables), in the reference
// plugin's layout (layout.ts). Set up in ADD; removed in DEL (found by name and comment, so a vanished netns does
// not matter; both ipMasq backends, as the reference's DEL) and in GC, whoever made them: the reference, vlan-bridge,
// or a vlan-bridge build from before this layout.
import { CniError, Code, listed } from '../cni/errors.js';
import type { NetConf } from '../cni/config.js';
import { installed } from './exec.js';
import { masqIptables, unmasqIptables } from './iptables.js';
import { macSpoofCheck, masqNft, teardownNft } from './nft.js';
import type { Named, Owner, Selection } from './layout.js';

export type { Named, Owner } from './layout.js';

/**
 * Masquerades `addresses` (CIDRs) of attachment `o` with the config's `ipMasqBackend`; without one, iptables unless
 * only nft is installed, as the reference picks it (pkg/ip/ipmasq_linux.go, v1.9.1: `SupportsIPTables`,
 * `SupportsNFTables`). Throws CniError 106 when a program fails.
 */
export function setupMasq(conf: NetConf, o: Owner, addresses: string[]): void {
  const backend = conf.ipMasqBackend ?? (!installed('iptables') && installed('nft') ? 'nftables' : 'iptables');
  if (backend === 'nftables') masqNft(o, addresses);
  else masqIptables(o, addresses);
}

/** Drops frames from `hostVeth` whose source MAC is not `mac`; throws CniError 106 when nft fails. */
export function setupMacSpoofCheck(o: Owner, hostVeth: string, mac: string): void {
  macSpoofCheck(o, hostVeth, mac);
}

/**
 * Removes what this config's firewall features put in place for the selected attachments. Returns what could not
 * be removed (objects already gone are not failures) and the attachments whose objects were removed where the
 * objects name both container ID and ifname (nftables; the reference's iptables chains name no ifname).
 * `portGone(name)` says whether a host port no longer exists (GC removes another network's stale spoof checks only
 * then: nft.ts).
 */
export function teardownFirewall(
  conf: NetConf,
  sel: Selection,
  portGone: (name: string) => boolean,
): { failures: string[]; named: Named[] } {
  const failures: string[] = [];
  const named: Named[] = [];
  if (conf.ipMasq) failures.push(...unmasqIptables(sel));
  if (conf.ipMasq || conf.macspoofchk) {
    const nft = teardownNft(sel, { masq: conf.ipMasq, spoof: conf.macspoofchk }, portGone);
    failures.push(...nft.failures);
    named.push(...nft.named);
  }
  return { failures, named };
}

/**
 * Teardown for one attachment (DEL, rollback), `addresses` its CIDRs when known (prevResult, the ADD's result);
 * throws code 106 listing what could not be removed.
 */
export function teardownAttachment(conf: NetConf, o: Owner, addresses?: string[]): void {
  const { failures } = teardownFirewall(conf, { network: o.network, only: o, addresses }, () => false);
  if (failures.length > 0) throw new CniError(Code.Firewall, 'could not remove firewall rules', listed(failures));
}
