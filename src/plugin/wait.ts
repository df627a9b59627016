// Bounded wait for the host port to forward (the reference polls the host veth for up to ~2.5 s).
import { CniError, Code } from '../cni/errors.js';
import type { Logger } from '../cni/log.js';
import { getLink, type NetlinkSocket } from '../kernel/index.js';
import { step } from './errors.js';

const LIMIT_MS = 3000;
const POLL_MS = 10;

export async function waitForwarding(host: NetlinkSocket, index: number, name: string, log: Logger): Promise<void> {
  const deadline = Date.now() + LIMIT_MS;
  for (;;) {
    const l = step(`look up "${name}"`, () => getLink(host, index));
    if (!l) throw new CniError(Code.Kernel, `host veth "${name}" vanished during ADD`);
    if (l.operstate === 'up' && (l.port?.state === 'forwarding' || l.port?.state === undefined)) return;
    if (Date.now() >= deadline) {
      if (l.operstate === 'up') {
        // STP on the bridge holds new ports in listening/learning for ~30 s: that is the operator's choice.
        log.warn(
          `bridge port "${name}" is ${l.port?.state ?? 'unknown'} after ${LIMIT_MS} ms (STP?); not waiting longer`,
        );
        return;
      }
      throw new CniError(
        Code.Kernel,
        `bridge port "${name}" did not come up within ${LIMIT_MS} ms`,
        `operstate ${l.operstate}`,
      );
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}
