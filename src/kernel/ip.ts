// IP helpers moved to src/ip.ts, the one IP module (src/cni uses it too, and must not import src/kernel). This
// re-export remains only for importers outside issue 14 item 3's change (src/plugin/check.ts, src/firewall/nft.ts);
// delete it once they import '../ip.js'.
export * from '../ip.js';
