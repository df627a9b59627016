// doctor's report as text for people: one table of bridges, one of ports per bridge, then the findings.
import { formatVids, formatVlans } from '../vids.js';
import { attachmentText, type PortReport, type Report } from './doctor-check.js';

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(head), ...rows.map(line)].join('\n');
}

const state = (p: PortReport) => (!p.up ? 'down' : p.carrier ? 'up' : 'no-carrier');

export function renderReport(r: Report): string {
  const out: string[] = [];
  if (r.bridges.length === 0) out.push('no bridges');
  else {
    out.push(
      table(
        ['BRIDGE', 'MTU', 'STATE', 'VLAN-FILTERING', 'DEFAULT-PVID', 'UPLINKS'],
        r.bridges.map((b) => [
          b.name,
          String(b.mtu),
          b.up ? 'up' : 'down',
          b.vlanFiltering ? 'on' : 'off',
          b.defaultPvid ? String(b.defaultPvid) : 'none',
          b.uplinks.map((u) => `${u.name} (${u.kind})`).join(', ') || '-',
        ]),
      ),
    );
  }
  for (const b of r.bridges) {
    const rows = [
      ...b.uplinks.map((u) => [
        u.name,
        'uplink',
        String(u.mtu),
        state(u),
        formatVlans(u.vlans),
        u.managedVids ? `vlan-bridge manages VLAN ${formatVids(u.managedVids)} (uplinkVlans)` : '-',
      ]),
      ...b.pods.map((p) => [
        p.name,
        'pod',
        String(p.mtu),
        state(p),
        formatVlans(p.vlans),
        `${attachmentText(p)}${p.namespace === 'gone' ? ' (namespace gone)' : ''}`,
      ]),
      ...b.gateways.map((g) => [g.name, 'gateway', String(g.mtu), state(g), formatVlans(g.vlans), '-']),
      ...b.probes.map((p) => [
        p.name,
        'probe',
        String(p.mtu),
        state(p),
        formatVlans(p.vlans),
        `discover pid ${p.pid}${p.running ? '' : ' (gone)'}`,
      ]),
      ...b.otherPorts.map((p) => [p.name, p.kind, String(p.mtu), state(p), formatVlans(p.vlans), '-']),
    ];
    out.push(
      '',
      `${b.name}: ${b.pods.length} pod port${b.pods.length === 1 ? '' : 's'}${b.vlanFiltering ? `, bridge VLANs ${formatVlans(b.vlans)}` : ''}`,
    );
    if (rows.length) out.push(table(['PORT', 'ROLE', 'MTU', 'STATE', 'VLANS', 'ATTACHMENT'], rows));
  }
  if (r.unattached.length) {
    out.push('', 'pod veths on no bridge:');
    out.push(
      table(
        ['PORT', 'MTU', 'STATE', 'ATTACHMENT'],
        r.unattached.map((p) => [p.name, String(p.mtu), state(p), attachmentText(p)]),
      ),
    );
  }
  out.push('', ...r.notes.map((n) => `note: ${n}`));
  if (r.findings.length === 0) out.push('no problems found');
  else {
    out.push(
      table(
        ['SEVERITY', 'CHECK', 'WHERE', 'FINDING'],
        r.findings.map((f) => [f.severity, f.code, [f.bridge, f.port].filter(Boolean).join('/') || '-', f.message]),
      ),
    );
    out.push(
      '',
      `${r.summary.errors} error${r.summary.errors === 1 ? '' : 's'}, ${r.summary.warnings} warning${r.summary.warnings === 1 ? '' : 's'}`,
    );
  }
  return `${out.join('\n')}\n`;
}
