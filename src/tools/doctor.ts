// `vlan-bridge doctor [--bridge <br>] [--json]`: reads the node (read-only) and reports bridges, uplinks, pods'
// host veths, their VLANs and MTUs, and what is wrong. Exit 0: nothing found; 8: warnings only; 9: errors.
import { getLink, openNetlink } from '../kernel/index.js';
import { parseOptions } from './args.js';
import { diagnose, type Report } from './doctor-check.js';
import { readNode } from './doctor-read.js';
import { renderReport } from './doctor-render.js';
import { DOCTOR, tryHelp } from './commands.js';
import { Exit, ToolError, UsageError, asToolError, step } from './errors.js';

export function doctorExit(r: Report): number {
  if (r.summary.errors > 0) return Exit.Problems;
  if (r.summary.warnings > 0) return Exit.Warnings;
  return Exit.Ok;
}

export async function runDoctor(argv: string[]): Promise<number> {
  try {
    const v = parseOptions(argv, DOCTOR.options);
    const only = v.bridge as string | undefined;
    if (only !== undefined && !/^[^\s/:]{1,15}$/.test(only))
      throw new UsageError(`--bridge must be an interface name (got ${JSON.stringify(only)})`);
    const sock = step('open a netlink socket', () => openNetlink(null));
    let report: Report;
    try {
      if (only) {
        const br = step(`look up bridge "${only}"`, () => getLink(sock, only));
        if (!br) throw new ToolError(Exit.Bridge, `bridge "${only}" does not exist`);
        if (br.kind !== 'bridge')
          throw new ToolError(Exit.Bridge, `"${only}" is not a bridge (kind ${br.kind ?? 'unknown'})`);
      }
      report = diagnose(
        step('read the node', () => readNode(sock)),
        only,
      );
    } finally {
      sock.close();
    }
    process.stdout.write(v.json ? `${JSON.stringify(report, null, 2)}\n` : renderReport(report));
    return doctorExit(report);
  } catch (err) {
    const e = asToolError('doctor', err);
    process.stderr.write(`vlan-bridge doctor: ${e.message}\n${e.exit === Exit.Usage ? tryHelp('doctor') : ''}`);
    return e.exit;
  }
}
