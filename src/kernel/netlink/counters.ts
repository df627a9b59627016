// What this process asked of the kernel over netlink and what it got back, counted in the socket layer
// (socket.ts) for every NETLINK_ROUTE socket the process opens. A command's netlink traffic is the figure that must
// not grow with the node (issue 24): the host tier reads it through VLAN_BRIDGE_NETLINK_COUNTS (src/main.ts), which
// prints these counters to stderr when the process exits. Counting costs an addition per datagram.

/** Totals since the process started. */
export interface NetlinkCounters {
  /** Requests sent (each dump and each acknowledged request is one), retries of interrupted dumps included. */
  requests: number;
  /** Of those, dumps (NLM_F_DUMP). */
  dumps: number;
  /** Bytes the kernel sent back: every datagram recv(2) returned, headers, ACKs and DONE included. */
  rxBytes: number;
  /** Netlink messages in those datagrams, ACKs and DONE included. */
  rxMessages: number;
}

const totals: NetlinkCounters = { requests: 0, dumps: 0, rxBytes: 0, rxMessages: 0 };

/** The socket layer's hook: what one send or one recv added. */
export function count(add: Partial<NetlinkCounters>): void {
  totals.requests += add.requests ?? 0;
  totals.dumps += add.dumps ?? 0;
  totals.rxBytes += add.rxBytes ?? 0;
  totals.rxMessages += add.rxMessages ?? 0;
}

/** A copy of the totals. */
export const netlinkCounters = (): NetlinkCounters => ({ ...totals });
