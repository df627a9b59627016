// doctor's read of the node: links and bridge VLANs over netlink, and which network namespaces are still lived in.
//
// A pod's host veth names its peer's namespace by an id (IFLA_LINK_NETNSID). A namespace is "lived in" when a
// process is in it (/proc/<pid>/ns/net) or a mount point holds it (nsfs in /proc/self/mountinfo: /run/netns/...,
// /var/run/netns/cni-...). Each such namespace is opened and asked for its id (the kernel layer's nsidOf); a veth
// whose namespace id is not among them points at a namespace nothing lives in any more, kept only by a leaked fd:
// its pod is gone and the veth is a GC candidate.
import { closeSync, openSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dumpVlans, listLinks, nsidOf, type NetlinkSocket } from '../kernel/index.js';
import { reconcileRecord } from '../plugin/uplink-vlans/plan.js';
import { readRecord, recordPath } from '../plugin/uplink-vlans/record.js';
import { uplinksOf } from '../plugin/uplink.js';
import type { NodeSnapshot } from './doctor-check.js';
import { PROBE_ALIAS_PREFIX } from './probe.js';

/**
 * The id this namespace gives the namespace open at `fd`, or undefined when it has none, or when the kernel refuses
 * the question (fd is no network namespace: a mount point may hold another type).
 */
function idOf(sock: NetlinkSocket, fd: number): number | undefined {
  try {
    return nsidOf(sock, fd);
  } catch {
    return undefined;
  }
}

/** Mount points of nsfs files (any namespace type: the netns ones are sorted out by RTM_GETNSID). */
export function nsfsMounts(mountinfo: string): string[] {
  const out: string[] = [];
  for (const line of mountinfo.split('\n')) {
    const [left, right] = line.split(' - ');
    if (!left || !right || right.split(' ')[0] !== 'nsfs') continue;
    const mountPoint = left.split(' ')[4];
    if (mountPoint)
      out.push(mountPoint.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
  }
  return out;
}

function holders(): string[] {
  const paths: string[] = [];
  for (const e of readdirSync('/proc')) if (/^\d+$/.test(e)) paths.push(`/proc/${e}/ns/net`);
  try {
    paths.push(...nsfsMounts(readFileSync('/proc/self/mountinfo', 'utf8')));
  } catch {
    // no mountinfo: processes only
  }
  return paths;
}

/** The inode of the initial PID namespace (PROC_PID_INIT_INO in the kernel's proc_ns.h). */
const INIT_PID_NS_INO = 0xeffffffc;

/**
 * Ids of the namespaces some process lives in or a mount point holds, as this namespace numbers them; null when
 * this process cannot see every process (it runs in a PID namespace of its own, e.g. a pod without hostPID), since
 * then a namespace would look unlived-in only because its processes are out of sight.
 */
export function liveNetnsIds(sock: NetlinkSocket): Set<number> | null {
  if (statSync('/proc/self/ns/pid').ino !== INIT_PID_NS_INO) return null;
  const seen = new Set<string>();
  const ids = new Set<number>();
  for (const p of holders()) {
    let key: string;
    try {
      const st = statSync(p);
      key = `${st.dev}:${st.ino}`;
    } catch {
      continue; // the process exited meanwhile
    }
    if (seen.has(key)) continue;
    seen.add(key);
    let fd: number;
    try {
      fd = openSync(p, 'r');
    } catch {
      continue;
    }
    try {
      const id = idOf(sock, fd);
      if (id !== undefined) ids.add(id);
    } finally {
      closeSync(fd);
    }
  }
  return ids;
}

function running(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function readNode(sock: NetlinkSocket): NodeSnapshot {
  const links = listLinks(sock);
  const vlans = dumpVlans(sock);
  let liveNsids: Set<number> | null;
  try {
    liveNsids = liveNetnsIds(sock);
  } catch {
    liveNsids = null;
  }
  const livePids = new Set<number>();
  for (const l of links) {
    if (!l.alias?.startsWith(PROBE_ALIAS_PREFIX)) continue;
    const pid = Number(l.alias.slice(PROBE_ALIAS_PREFIX.length));
    if (running(pid)) livePids.add(pid);
  }
  // The uplink VIDs vlan-bridge manages: each bridge's record as the plugin reads it (reconciled with the kernel,
  // changing nothing). VLAN_BRIDGE_STATE_DIR is honoured as by the plugin.
  const managedVids = new Map<string, Map<number, number[]>>();
  const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  for (const br of links.filter((l) => l.kind === 'bridge')) {
    const file = recordPath(process.env, sock, br.name);
    const record = file === null ? null : readRecord(file); // no cookies: the plugin cannot have made a record
    if (!record) continue;
    const uplinks = uplinksOf(br, links).map((u) => ({
      name: u.name,
      index: u.index,
      vlans: vlans.get(u.index) ?? [],
    }));
    const managed = reconcileRecord(record, bootId, uplinks);
    managedVids.set(br.name, new Map([...managed].map(([index, vids]) => [index, [...vids].sort((a, b) => a - b)])));
  }
  return { links, vlans, liveNsids, livePids, managedVids };
}
