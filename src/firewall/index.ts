// Firewall steps of an attachment: ipMasq (iptables or nftables) and macspoofchk (nftables). Set up in ADD,
// removed in DEL (found by the attachment's comment, so a vanished netns does not matter) and in GC.
import { CniError, Code } from '../cni/errors.js';
import type { NetConf } from '../cni/config.js';
import { containerField, type AttachmentId } from '../plugin/attachment.js';
import { masqIptables, unmasqIptables } from './iptables.js';
import { MASQ, SPOOF, deleteNftRules, macSpoofCheck, masqNft } from './nft.js';

type Pick = (o: { containerId: string; ifname: string }) => boolean;

export function setupMasq(conf: NetConf, o: AttachmentId, addresses: string[]): void {
  if (conf.ipMasqBackend === 'nftables') masqNft(o, addresses);
  else masqIptables(o, addresses);
}

export function setupMacSpoofCheck(o: AttachmentId, hostVeth: string, mac: string): void {
  macSpoofCheck(o, hostVeth, mac);
}

/**
 * Removes what this config's firewall features put in place for the attachments `pick` selects (it sees container
 * IDs as containerField gives them); returns what could not be removed. Rules already gone are not failures.
 */
export function teardownFirewall(conf: NetConf, pick: Pick): string[] {
  const failures: string[] = [];
  if (conf.ipMasq) {
    failures.push(
      ...(conf.ipMasqBackend === 'nftables' ? deleteNftRules(MASQ, conf.name, pick) : unmasqIptables(conf.name, pick)),
    );
  }
  if (conf.macspoofchk) failures.push(...deleteNftRules(SPOOF, conf.name, pick));
  return failures;
}

/** Teardown for one attachment; throws code 106 listing what could not be removed. */
export function teardownAttachment(conf: NetConf, o: AttachmentId): void {
  const id = containerField(o.containerId);
  const failures = teardownFirewall(conf, (x) => x.containerId === id && x.ifname === o.ifname);
  if (failures.length > 0) throw new CniError(Code.Firewall, 'could not remove firewall rules', failures.join('; '));
}
