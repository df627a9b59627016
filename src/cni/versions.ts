/**
 * CNI spec versions: which ones we speak, how they order, and which commands each allows.
 * Rules from the CNI spec 1.1.0 ("Version considerations") and libcni's pkg/version and pkg/skel:
 * a missing cniVersion means 0.1.0, CHECK needs >= 0.4.0, STATUS and GC need >= 1.1.0.
 */
import { CniError, Code, show } from './errors.js';

export const SUPPORTED_VERSIONS = ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;

export type CniVersion = (typeof SUPPORTED_VERSIONS)[number];

/** The newest version we speak; results are computed in its shape. */
export const LATEST: CniVersion = '1.1.0';

/** What a config without `cniVersion` means (CNI spec: "missing means 0.1.0"). */
export const DEFAULT_VERSION: CniVersion = '0.1.0';

function supportedList(): string {
  return SUPPORTED_VERSIONS.join(', ');
}

/** "X", "X.Y" or "X.Y.Z" with decimal parts, missing parts 0 (as libcni's version.ParseVersion). */
function parseVersion(v: string): [number, number, number] {
  const m = /^(\d+)(?:\.(\d+))?(?:\.(\d+))?$/.exec(v);
  if (!m) {
    throw new CniError(
      Code.IncompatibleVersion,
      `invalid CNI version ${show(v)}`,
      `plugin supports ${supportedList()}`,
    );
  }
  return [Number(m[1]), Number(m[2] ?? 0), Number(m[3] ?? 0)];
}

/** Negative if a < b, 0 if equal, positive if a > b. Throws code 1 for a malformed version. */
export function compareVersions(a: string, b: string): number {
  const pa = parseVersion(a);
  const pb = parseVersion(b);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

export function isSupported(v: string): v is CniVersion {
  return (SUPPORTED_VERSIONS as readonly string[]).includes(v);
}

/** Returns `v` typed as a supported version, or throws code 1 naming it and listing what we speak. */
export function requireSupported(v: string): CniVersion {
  if (isSupported(v)) return v;
  throw new CniError(
    Code.IncompatibleVersion,
    `incompatible CNI version ${show(v)}`,
    `plugin supports ${supportedList()}`,
  );
}

/** The version a config speaks: missing or empty means 0.1.0; anything we do not speak throws code 1. */
export function effectiveVersion(v?: string): CniVersion {
  if (v === undefined || v === '') return DEFAULT_VERSION;
  return requireSupported(v);
}

/** The first version that allows `command`; commands not listed exist in every version. */
export function minimumVersionFor(command: string): CniVersion {
  if (command === 'CHECK') return '0.4.0';
  if (command === 'STATUS' || command === 'GC') return '1.1.0';
  return DEFAULT_VERSION;
}

/**
 * Throws code 1 when the config's version predates `command` (libcni skel: "config version does not allow CHECK").
 */
export function requireCommandSupported(command: string, v: string): void {
  const min = minimumVersionFor(command);
  if (compareVersions(v, min) < 0) {
    throw new CniError(
      Code.IncompatibleVersion,
      `config version ${show(v)} does not allow ${command}`,
      `${command} needs cniVersion ${min} or later`,
    );
  }
}
