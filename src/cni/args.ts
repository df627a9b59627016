// CNI_ARGS: "K=V;K=V" as libcni's types.LoadArgs reads it. Keys may repeat (Multus sends some twice); the last
// value wins, as it does in LoadArgs. Unknown keys are an error unless IgnoreUnknown is true.
import { CniError, Code, got, listed, show } from './errors.js';
import { macProblem, normalizeMac } from './names.js';

export interface CniArgs {
  ignoreUnknown: boolean;
  mac?: string;
  ip?: string;
  k8sPodNamespace?: string;
  k8sPodName?: string;
  k8sPodInfraContainerId?: string;
  k8sPodUid?: string;
  /** Every pair as given, in order, for callers that need the raw view. */
  pairs: Array<[string, string]>;
}

const KNOWN: Record<string, keyof CniArgs | null> = {
  IgnoreUnknown: null,
  MAC: 'mac',
  IP: 'ip',
  K8S_POD_NAMESPACE: 'k8sPodNamespace',
  K8S_POD_NAME: 'k8sPodName',
  K8S_POD_INFRA_CONTAINER_ID: 'k8sPodInfraContainerId',
  K8S_POD_UID: 'k8sPodUid',
};

/** UnmarshallableBool: "1"/"true" and "0"/"false", any case. */
function parseBool(value: string): boolean | null {
  const v = value.toLowerCase();
  if (v === '1' || v === 'true') return true;
  if (v === '0' || v === 'false') return false;
  return null;
}

export function parseCniArgs(raw: string | undefined): CniArgs {
  const out: CniArgs = { ignoreUnknown: false, pairs: [] };
  if (!raw) return out;
  const problems: string[] = [];
  for (const pair of raw.split(';')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    if (eq <= 0 || pair.indexOf('=', eq + 1) !== -1) {
      problems.push(`CNI_ARGS: invalid pair ${show(pair)} (want KEY=VALUE)`);
      continue;
    }
    out.pairs.push([pair.slice(0, eq), pair.slice(eq + 1)]);
  }
  for (const [key, value] of out.pairs) {
    if (key !== 'IgnoreUnknown') continue;
    const b = parseBool(value);
    if (b === null) problems.push(`CNI_ARGS.IgnoreUnknown: not a boolean ${got(value)}`);
    else out.ignoreUnknown = b;
  }
  for (const [key, value] of out.pairs) {
    const field = KNOWN[key];
    if (field === undefined) {
      if (!out.ignoreUnknown)
        problems.push(`CNI_ARGS.${key}: unknown key ${got(value)}; set IgnoreUnknown=true to allow it`);
      continue;
    }
    if (field === null) continue;
    if (field === 'mac') {
      const why = macProblem(value);
      if (why) {
        problems.push(`CNI_ARGS.MAC: ${why} ${got(value)}`);
        continue;
      }
      out.mac = normalizeMac(value);
      continue;
    }
    (out as unknown as Record<string, string>)[field] = value;
  }
  if (problems.length > 0) {
    const unknownOnly = problems.every((p) => p.includes('unknown key'));
    throw new CniError(unknownOnly ? Code.UnsupportedField : Code.InvalidEnv, 'invalid CNI_ARGS', listed(problems));
  }
  return out;
}
