// GC input: `cni.dev/valid-attachments` lists the attachments the runtime still knows (CNI spec 1.1.0, "GC").
import { CniError, Code, got, listed } from './errors.js';

export interface Attachment {
  containerID: string;
  ifname: string;
}

export function parseValidAttachments(value: unknown): Attachment[] {
  if (value === undefined) return [];
  const where = 'cni.dev/valid-attachments';
  if (!Array.isArray(value)) {
    throw new CniError(Code.InvalidConfig, 'invalid network configuration', `${where}: must be a list ${got(value)}`);
  }
  const problems: string[] = [];
  const out: Attachment[] = [];
  value.forEach((a: unknown, i) => {
    const o = a as Partial<Attachment> | null;
    if (typeof o !== 'object' || o === null || typeof o.containerID !== 'string' || typeof o.ifname !== 'string') {
      problems.push(`${where}[${i}]: must be {"containerID": string, "ifname": string} ${got(a)}`);
    } else {
      out.push({ containerID: o.containerID, ifname: o.ifname });
    }
  });
  if (problems.length > 0) throw new CniError(Code.InvalidConfig, 'invalid network configuration', listed(problems));
  return out;
}
