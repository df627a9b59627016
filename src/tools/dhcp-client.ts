// The DHCP client's socket: UDP port 68 inside the probe's namespace, and one exchange at a time (send, retransmit
// with backoff, take the first answer that is ours). Node creates a UDP socket only when bind() completes, a tick
// after the call, so the main thread stays inside the namespace (enterNetns) until the socket is listening.
import dgram from 'node:dgram';
import { enterNetns, type Netns } from '../kernel/index.js';
import {
  CLIENT_PORT,
  DhcpFormatError,
  SERVER_PORT,
  parsePacket,
  readAnswer,
  type Answer,
  type MessageTypeName,
} from './dhcp-packet.js';
import { Exit, ToolError, asToolError } from './errors.js';

/** Retransmission delays (RFC 2131 4.1 backs off exponentially; these start shorter, for an interactive tool). */
const BACKOFF_MS = [2000, 4000, 8000, 16000, 32000];

export interface Exchange {
  /** What is sent, built afresh for each (re)transmission with the seconds elapsed. */
  build(secs: number): Buffer;
  /** 255.255.255.255 or a server's address. */
  dest: string;
  xid: number;
  mac: string;
  /** The message types that end the exchange (a NAK always does, as an error). */
  accept: MessageTypeName[];
  /** Only answers from this server (option 54) count. */
  server?: string;
  /** Named in errors: "DHCPDISCOVER". */
  what: string;
}

export class DhcpClient {
  private constructor(
    private readonly sock: dgram.Socket,
    private readonly debug: (msg: string) => void,
  ) {}

  static async open(ns: Netns, debug: (msg: string) => void): Promise<DhcpClient> {
    const leave = enterNetns(ns);
    let sock: dgram.Socket | undefined;
    try {
      sock = dgram.createSocket({ type: 'udp4', reuseAddr: true });
      const s = sock;
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.bind({ port: CLIENT_PORT, address: '0.0.0.0' }, () => {
          s.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      sock?.close();
      throw asToolError(`bind UDP port ${CLIENT_PORT} in the discover namespace`, err);
    } finally {
      leave();
    }
    sock.setBroadcast(true);
    // A late error (e.g. ENETUNREACH from a send) must not crash the process: sends report their own errors.
    sock.on('error', (err) => debug(`DHCP socket: ${err.message}`));
    return new DhcpClient(sock, debug);
  }

  private send(buf: Buffer, dest: string): Promise<void> {
    return new Promise((resolve, reject) =>
      this.sock.send(buf, SERVER_PORT, dest, (err) => (err ? reject(err) : resolve())),
    );
  }

  /** Sends a message that gets no answer (a RELEASE); resolves once it left. */
  fire(buf: Buffer, dest: string): Promise<void> {
    return this.send(buf, dest);
  }

  /** Runs one exchange until an accepted answer, a NAK, the deadline or the signal. */
  exchange(x: Exchange, deadline: number, signal: AbortSignal): Promise<Answer> {
    const started = Date.now();
    return new Promise<Answer>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      let sent = 0;
      let done = false;
      const finish = (err: unknown, answer?: Answer) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.sock.off('message', onMessage);
        signal.removeEventListener('abort', onAbort);
        if (answer) resolve(answer);
        else reject(err);
      };
      const onAbort = () => finish(signal.reason);
      const onMessage = (msg: Buffer, from: dgram.RemoteInfo) => {
        let answer: Answer;
        try {
          const p = parsePacket(msg);
          if (p.op !== 2 || p.xid !== x.xid >>> 0 || p.chaddr !== x.mac.toLowerCase()) return; // someone else's
          answer = readAnswer(p);
        } catch (err) {
          if (err instanceof DhcpFormatError) {
            this.debug(`ignored a malformed DHCP packet from ${from.address}: ${err.message}`);
            return;
          }
          finish(err);
          return;
        }
        if (x.server && answer.server !== x.server) {
          this.debug(`ignored DHCP${answer.type} from ${answer.server ?? from.address}: not ${x.server}`);
          return;
        }
        this.debug(`DHCP${answer.type} from ${answer.server ?? from.address}`);
        if (answer.type === 'NAK') {
          finish(
            new ToolError(
              Exit.BadAnswer,
              `${answer.server ?? from.address} refused the ${x.what} (DHCPNAK${answer.message ? `: ${answer.message}` : ''})`,
            ),
          );
        } else if (x.accept.includes(answer.type)) {
          finish(undefined, answer);
        }
      };
      const transmit = () => {
        if (Date.now() >= deadline) {
          finish(
            new ToolError(
              Exit.NoAnswer,
              `no answer to ${sent} ${x.what}${sent === 1 ? '' : 's'} sent to ${x.dest} within ${((deadline - started) / 1000).toFixed(1)} s`,
            ),
          );
          return;
        }
        const secs = Math.floor((Date.now() - started) / 1000);
        sent++;
        this.debug(`send ${x.what} #${sent} to ${x.dest}`);
        this.send(x.build(secs), x.dest).catch((err: Error) => finish(asToolError(`send ${x.what} to ${x.dest}`, err)));
        const wait = BACKOFF_MS[Math.min(sent - 1, BACKOFF_MS.length - 1)]!;
        timer = setTimeout(transmit, Math.min(wait, Math.max(0, deadline - Date.now())));
      };
      if (signal.aborted) {
        reject(signal.reason);
        return;
      }
      signal.addEventListener('abort', onAbort, { once: true });
      this.sock.on('message', onMessage);
      transmit();
    });
  }

  close(): void {
    try {
      this.sock.close();
    } catch {
      // already closed
    }
  }
}
