// `vlan-bridge discover`: what a VLAN network's DHCP server says, asked from a probe on that bridge VLAN, as
// Harvester's "auto (DHCP)" route mode asks it (REFERENCE.md section 3): the subnet mask applied to the router
// address is the CIDR, the router the gateway.
//
//   discover --bridge mgmt-br --vlan 100                      DHCPDISCOVER, read the OFFER (no lease is taken)
//   discover ... --server 10.100.0.2                          DHCPINFORM unicast to that server
//   discover ... --server 10.100.0.2 --address 10.100.0.9/24  the same from an address the operator chose
//   discover ... --address 10.100.0.9/24 --gateway 10.100.0.1 --server 10.9.9.9   a server behind that router
//   discover ... --ping                                       and whether the gateway answers ICMP echo
//
// An INFORM and a ping need an address on the probe. Without --address the probe takes a real lease for that
// (DISCOVER, OFFER, REQUEST, ACK, restricted to --server when given) and releases it at the end: the address is
// never used before the server acknowledged it (RFC 2131 4.4.1). --timeout bounds the DHCP exchanges together
// (default 10 s); the ping adds at most 3 s. The probe is described in probe.ts; exit codes in errors.ts.
import { randomBytes } from 'node:crypto';
import { NUD_INCOMPLETE, addAddress, addRoute, listNeighbours, openNetlink } from '../kernel/index.js';
import { sameSubnet } from '../ip.js';
import { intOption, ipv4Option, parseOptions } from './args.js';
import { DEFAULT_TIMEOUT_S, DISCOVER, tryHelp } from './commands.js';
import { DhcpClient, type Exchange } from './dhcp-client.js';
import { buildRequest, cidrOf, maskToPrefix, type Answer, type RequestSpec } from './dhcp-packet.js';
import { Exit, Interrupted, ToolError, UsageError, asToolError, step } from './errors.js';
import { ping } from './ping.js';
import { createProbe, probeBridge, waitForwarding, type Probe } from './probe.js';

const BROADCAST = '255.255.255.255';

export interface DiscoverArgs {
  bridge: string;
  /** 1-4094: the access VLAN; 0: the bridge's untagged network (the port keeps the default PVID). */
  vlan: number;
  server?: string;
  /** The probe's own address for a DHCPINFORM, instead of a lease. */
  address?: { ip: string; prefix: number };
  /** With --address: the router towards a server outside the address's subnet. */
  gateway?: string;
  timeoutMs: number;
  ping: boolean;
}

export function parseDiscoverArgs(argv: string[]): DiscoverArgs {
  const v = parseOptions(argv, DISCOVER.options);
  const missing = ['bridge', 'vlan'].filter((k) => v[k] === undefined);
  if (missing.length) throw new UsageError(`missing ${missing.map((k) => `--${k}`).join(' and ')}`);
  const bridge = v.bridge as string;
  if (!/^[^\s/:]{1,15}$/.test(bridge))
    throw new UsageError(`--bridge must be an interface name (got ${JSON.stringify(bridge)})`);
  const a: DiscoverArgs = {
    bridge,
    vlan: intOption('vlan', v.vlan as string, 0, 4094),
    timeoutMs: DEFAULT_TIMEOUT_S * 1000,
    ping: v.ping === true,
  };
  if (v.server !== undefined) a.server = ipv4Option('server', v.server as string);
  if (v.address !== undefined) {
    if (!a.server) throw new UsageError('--address is the source of a DHCPINFORM: it needs --server');
    const [ip, prefix, ...rest] = (v.address as string).split('/');
    if (prefix === undefined || rest.length)
      throw new UsageError(`--address must be ip/prefix (got ${JSON.stringify(v.address)})`);
    a.address = { ip: ipv4Option('address', ip!), prefix: intOption('address prefix', prefix, 1, 32) };
  }
  if (v.gateway !== undefined) {
    if (!a.address)
      throw new UsageError('--gateway routes from --address: it needs --address (a lease brings its own router)');
    a.gateway = ipv4Option('gateway', v.gateway as string);
    if (!sameSubnet(`${a.gateway}/32`, `${a.address.ip}/${a.address.prefix}`))
      throw new UsageError(`--gateway ${a.gateway} is not in ${a.address.ip}/${a.address.prefix}`);
  }
  if (a.address && a.server && !a.gateway && !sameSubnet(`${a.server}/32`, `${a.address.ip}/${a.address.prefix}`)) {
    throw new UsageError(
      `--server ${a.server} is not in ${a.address.ip}/${a.address.prefix}: give --gateway, the router towards it (a relay's address on this VLAN)`,
    );
  }
  if (v.timeout !== undefined) {
    const t = Number(v.timeout);
    if (!/^\d+(\.\d+)?$/.test(v.timeout as string) || t <= 0 || t > 3600)
      throw new UsageError(
        `--timeout must be seconds, more than 0 and at most 3600 (got ${JSON.stringify(v.timeout)})`,
      );
    a.timeoutMs = Math.round(t * 1000);
  }
  return a;
}

export interface DiscoverResult {
  bridge: string;
  vlan: number;
  method: 'discover' | 'inform';
  /** The subnet mask applied to the gateway (to the address when no router was offered). */
  cidr: string;
  gateway: string | null;
  /** The answering server's identifier (option 54). */
  server: string | null;
  /** Seconds (option 51); null after an INFORM without a lease, whose ACK has none (RFC 2131 4.3.5). */
  leaseTime: number | null;
  dns: string[];
  /** Option 26, present only when the server sent it. */
  mtu?: number;
  domain?: string;
  /** The address offered, leased, or given with --address. */
  address: string | null;
  ping?: { gateway: string | null; reachable: boolean; rttMs?: number };
  /** Malformed options the answers carried, left out (present only when there were some). */
  ignored?: string[];
}

/** The report, from the answers in order of authority: INFORM's ACK, then the lease's ACK, then the OFFER. */
export function summarize(
  a: DiscoverArgs,
  answers: { inform?: Answer; ack?: Answer; offer?: Answer },
  address: string | null,
): DiscoverResult {
  const ordered = [answers.inform, answers.ack, answers.offer].filter((x): x is Answer => x !== undefined);
  const first = <T>(pick: (x: Answer) => T | undefined): T | undefined =>
    ordered.map(pick).find((x) => x !== undefined);
  const mask = first((x) => x.subnetMask);
  const gateway = first((x) => (x.routers.length ? x.routers[0] : undefined)) ?? null;
  if (!mask)
    throw new ToolError(Exit.BadAnswer, 'the DHCP answer has no subnet mask (option 1): the CIDR cannot be derived');
  const base = gateway ?? address;
  if (!base)
    throw new ToolError(
      Exit.BadAnswer,
      'the DHCP answer has neither a router (option 3) nor an address to apply the subnet mask to',
    );
  let cidr: string;
  try {
    cidr = cidrOf(base, mask);
  } catch (err) {
    throw new ToolError(Exit.BadAnswer, `the DHCP answer is unusable: ${(err as Error).message}`);
  }
  const r: DiscoverResult = {
    bridge: a.bridge,
    vlan: a.vlan,
    method: a.server ? 'inform' : 'discover',
    cidr,
    gateway,
    server: first((x) => x.server) ?? null,
    leaseTime: first((x) => x.leaseTime) ?? null,
    dns: first((x) => (x.dns.length ? x.dns : undefined)) ?? [],
    address,
  };
  const mtu = first((x) => x.mtu);
  if (mtu !== undefined) r.mtu = mtu;
  const domain = first((x) => x.domain);
  if (domain !== undefined) r.domain = domain;
  const ignored = [...new Set(ordered.flatMap((x) => x.ignored ?? []))];
  if (ignored.length) r.ignored = ignored;
  return r;
}

const xid = (): number => randomBytes(4).readUInt32BE(0);

interface Ctx {
  client: DhcpClient;
  probe: Probe;
  deadline: number;
  signal: AbortSignal;
}

function request(
  c: Ctx,
  spec: Omit<RequestSpec, 'mac' | 'secs' | 'maxMessageSize'>,
  x: Omit<Exchange, 'build' | 'xid' | 'mac'>,
): Promise<Answer> {
  const full = { ...spec, mac: c.probe.mac, maxMessageSize: Math.max(576, c.probe.mtu - 28) };
  return c.client.exchange(
    { ...x, xid: spec.xid, mac: c.probe.mac, build: (secs) => buildRequest({ ...full, secs }) },
    c.deadline,
    c.signal,
  );
}

/** `requested`: the lease asked for by DHCPREQUEST, owed back whether or not its DHCPACK got here. */
type Answers = { inform?: Answer; ack?: Answer; offer?: Answer; requested?: Lease };
type Lease = { ip: string; server: string };

/**
 * DHCPDISCOVER, and when the run needs an address of its own (--ping, --server) DHCPREQUEST of the offer. Returns
 * the lease taken, if any (the caller gives it back). Throws ToolError BadAnswer for an offer without mask or server.
 */
async function lease(a: DiscoverArgs, c: Ctx, answers: Answers): Promise<Lease | undefined> {
  const id = xid();
  const offer = await request(
    c,
    { type: 'DISCOVER', xid: id, broadcast: true },
    { dest: BROADCAST, accept: ['OFFER'], server: a.server, what: 'DHCPDISCOVER' },
  );
  answers.offer = offer;
  if (!a.ping && !a.server) return undefined;
  if (!offer.subnetMask)
    throw new ToolError(
      Exit.BadAnswer,
      `the DHCPOFFER from ${offer.server ?? 'the server'} has no subnet mask (option 1)`,
    );
  if (!offer.server)
    throw new ToolError(Exit.BadAnswer, 'the DHCPOFFER has no server identifier (option 54) to request the lease from');
  const server = offer.server;
  // The server commits the lease when it sends its DHCPACK: an interrupt or the deadline before the ACK gets here
  // still leaves a lease to give back (a DHCPRELEASE for an address it did not lease is ignored, RFC 2131 4.3.4).
  answers.requested = { ip: offer.address, server };
  try {
    answers.ack = await request(
      c,
      { type: 'REQUEST', xid: id, broadcast: true, requestedIp: offer.address, serverId: server },
      { dest: BROADCAST, accept: ['ACK'], server, what: 'DHCPREQUEST' },
    );
  } catch (err) {
    if (err instanceof ToolError && err.exit === Exit.BadAnswer) delete answers.requested; // a DHCPNAK: no lease
    throw err;
  }
  return { ip: answers.ack.address, server };
}

/**
 * Puts `address` on the probe, with the gateway as its default route (an off-link server behind a relay, and the
 * RELEASE, need it). An unusable leased mask still leaves a lease to give back: the probe takes the address alone
 * (/32), so that the RELEASE leaves from it, and the error is thrown after (ToolError BadAnswer).
 */
function addressProbe(a: DiscoverArgs, c: Ctx, answers: Answers, taken: Lease | undefined) {
  let address = a.address;
  let unusable: ToolError | undefined;
  if (taken) {
    let prefix = 32;
    try {
      prefix = maskToPrefix(answers.ack!.subnetMask ?? answers.offer!.subnetMask!);
    } catch (err) {
      unusable = new ToolError(Exit.BadAnswer, `the DHCPACK for ${taken.ip} is unusable: ${(err as Error).message}`);
    }
    address = { ip: taken.ip, prefix };
  }
  if (address) {
    const { ip, prefix } = address;
    step(`add ${ip}/${prefix} to the probe`, () =>
      addAddress(c.probe.sock, c.probe.ifindex, `${ip}/${prefix}`, { noDad: true }),
    );
    const gw = answers.ack?.routers[0] ?? a.gateway;
    if (gw && !unusable)
      step(`route the probe through ${gw}`, () =>
        addRoute(c.probe.sock, { dst: '0.0.0.0/0', gw, oif: c.probe.ifindex }, { replace: true }),
      );
  }
  if (unusable) throw unusable;
  return address;
}

/** --ping: the gateway answers ICMP echo from the probe. Sets result.ping; returns the exit status it gives. */
async function pingGateway(c: Ctx, result: DiscoverResult): Promise<number> {
  if (!result.gateway) {
    result.ping = { gateway: null, reachable: false };
    return Exit.GatewayDown;
  }
  const p = await ping(c.probe.ns, result.gateway, c.signal);
  result.ping = {
    gateway: result.gateway,
    reachable: p.reachable,
    ...(p.rttMs !== undefined ? { rttMs: p.rttMs } : {}),
  };
  return p.reachable ? Exit.Ok : Exit.GatewayDown;
}

/**
 * Gives the lease back (RFC 2131 4.4.6: DHCPRELEASE, unicast to its server), interrupted or not: left to expire,
 * every interrupted run would hold an address of a small pool for a lease time. Best effort; never throws.
 */
async function release(c: Ctx, taken: Lease, unconfirmed: boolean, debug: (m: string) => void): Promise<void> {
  const msg = buildRequest({ type: 'RELEASE', xid: xid(), mac: c.probe.mac, ciaddr: taken.ip, serverId: taken.server });
  try {
    // No DHCPACK yet: the probe has no address to send the unicast from.
    if (unconfirmed) addAddress(c.probe.sock, c.probe.ifindex, `${taken.ip}/32`, { noDad: true, replace: true });
    await c.client.fire(msg, taken.server);
    await neighboursResolved(c.probe, RELEASE_ARP_WAIT_MS);
    debug(`released ${taken.ip} to ${taken.server}${unconfirmed ? ' (its DHCPACK had not arrived)' : ''}`);
  } catch (err) {
    debug(`DHCPRELEASE of ${taken.ip} to ${taken.server} not sent: ${(err as Error).message}`);
  }
}

/** How long a RELEASE may wait for ARP before the probe (and the packet queued on it) goes. */
const RELEASE_ARP_WAIT_MS = 3000;

/**
 * Waits until no neighbour entry of the probe is NUD_INCOMPLETE, at most `ms`: the first packet to a server not
 * yet in the neighbour table waits in the kernel's queue for the ARP reply, and deleting the probe drops it (a
 * loaded node can take longer than any fixed pause). Throws KernelError.
 */
async function neighboursResolved(probe: Probe, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (listNeighbours(probe.sock, probe.ifindex).some((n) => n.state & NUD_INCOMPLETE) && Date.now() < end)
    await new Promise((r) => setTimeout(r, 20));
}

/** Everything after the probe exists: the DHCP exchanges, the address, the ping, the release. */
async function converse(
  a: DiscoverArgs,
  c: Ctx,
  debug: (m: string) => void,
): Promise<{ result: DiscoverResult; exit: number }> {
  const answers: Answers = {};
  let taken: Lease | undefined;
  try {
    taken = a.address ? undefined : await lease(a, c, answers);
    const address = addressProbe(a, c, answers, taken);
    if (a.server) {
      answers.inform = await request(
        c,
        { type: 'INFORM', xid: xid(), ciaddr: address!.ip },
        { dest: a.server, accept: ['ACK'], what: 'DHCPINFORM' },
      );
    }
    const result = summarize(a, answers, address?.ip ?? answers.offer?.address ?? null);
    const exit = a.ping ? await pingGateway(c, result) : Exit.Ok;
    return { result, exit };
  } finally {
    // The probe still exists here.
    const owed = taken ?? answers.requested;
    if (owed) await release(c, owed, taken === undefined, debug);
  }
}

export async function discover(
  a: DiscoverArgs,
  signal: AbortSignal,
  debug: (m: string) => void,
): Promise<{ result: DiscoverResult; exit: number }> {
  const host = step('open a netlink socket', () => openNetlink(null));
  let probe: Probe | undefined;
  let client: DhcpClient | undefined;
  try {
    const br = probeBridge(host, a.bridge, a.vlan);
    signal.throwIfAborted();
    probe = createProbe(host, br, a.vlan);
    debug(`probe ${probe.hostName} (${probe.mac}) on ${br.name} ${a.vlan ? `VLAN ${a.vlan}` : 'untagged'}`);
    await waitForwarding(host, probe, signal);
    client = await DhcpClient.open(probe.ns, debug);
    signal.throwIfAborted();
    return await converse(a, { client, probe, deadline: Date.now() + a.timeoutMs, signal }, debug);
  } finally {
    client?.close();
    const left = probe?.remove() ?? [];
    host.close();
    if (left.length) process.stderr.write(`vlan-bridge discover: cleanup incomplete: ${left.join('; ')}\n`);
  }
}

/** The subcommand: options, signals, output. Returns the exit code. */
export async function runDiscover(argv: string[]): Promise<number> {
  const debugOn = process.env.VLAN_BRIDGE_DEBUG === '1';
  const debug = (m: string) => {
    if (debugOn) process.stderr.write(`vlan-bridge discover: ${m}\n`);
  };
  const ac = new AbortController();
  // SIGHUP too: an operator's ssh session that drops must not leave the probe behind.
  const handlers = (['SIGHUP', 'SIGINT', 'SIGTERM'] as const).map(
    (sig) => [sig, () => ac.abort(new Interrupted(sig))] as const,
  );
  for (const [sig, h] of handlers) process.on(sig, h);
  try {
    const args = parseDiscoverArgs(argv);
    const { result, exit } = await discover(args, ac.signal, debug);
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    if (exit === Exit.GatewayDown)
      process.stderr.write(`vlan-bridge discover: gateway ${result.gateway ?? '(none offered)'} did not answer\n`);
    return exit;
  } catch (err) {
    const e = asToolError('discover', ac.signal.aborted ? ac.signal.reason : err);
    process.stderr.write(`vlan-bridge discover: ${e.message}\n${e.exit === Exit.Usage ? tryHelp('discover') : ''}`);
    return e.exit;
  } finally {
    for (const [sig, h] of handlers) process.off(sig, h);
  }
}
