// GC input: `cni.dev/valid-attachments` lists the attachments the runtime still knows (CNI spec 1.1.0, "GC").
import { CniError, Code, got, listed } from './errors.js';

export interface Attachment {
  containerID: string;
  ifname: string;
}

/**
 * The attachments a GC keeps, from the config's `cni.dev/valid-attachments` (CNI spec 1.1.0, "GC"), or else
 * `cni.dev/attachments`, the name an earlier text of the spec gave it (libcni sends both with the same value:
 * libcni/api.go GCNetworkList, "#1101", read in the copy vendored by plugins v1.9.1). Absent or null (libcni
 * marshals a GC with no valid attachment as null) is none. Throws CniError 7 naming the key and entry for anything
 * that is not a list of {"containerID": string, "ifname": string}.
 */
export function parseValidAttachments(conf: Record<string, unknown>): Attachment[] {
  const key = conf['cni.dev/valid-attachments'] !== undefined ? 'cni.dev/valid-attachments' : 'cni.dev/attachments';
  const value = conf[key];
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) {
    throw new CniError(Code.InvalidConfig, 'invalid network configuration', `${key}: must be a list ${got(value)}`);
  }
  const problems: string[] = [];
  const out: Attachment[] = [];
  value.forEach((a: unknown, i) => {
    const o = a as Partial<Attachment> | null;
    if (typeof o !== 'object' || o === null || typeof o.containerID !== 'string' || typeof o.ifname !== 'string') {
      problems.push(`${key}[${i}]: must be {"containerID": string, "ifname": string} ${got(a)}`);
    } else {
      out.push({ containerID: o.containerID, ifname: o.ifname });
    }
  });
  if (problems.length > 0) throw new CniError(Code.InvalidConfig, 'invalid network configuration', listed(problems));
  return out;
}
