// The reference plugins (containernetworking/plugins) that the parity tier and the benchmarks run beside ours:
// the current release, Debian unstable's containernetworking-plugins 1.9.1, which `make deps` unpacks privately into
// build/reference-1.9.1 (the Makefile's REFERENCE_DIR; scripts/unstable-debs.sh), and bookworm's 1.1.1, installed
// in /usr/lib/cni, kept for what a node still on bookworm's plugins does. Each knows its Debian version, so every
// table and report line can say which reference it was measured against.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './binary.js';

export interface Reference {
  /** The upstream release, as tables name it: "1.9.1". */
  release: string;
  /** The plugin directory: `bridge`, `host-local` and the rest; CNI_PATH for calls that delegate IPAM. */
  dir: string;
  /** `<dir>/bridge`. */
  bridge: string;
  /** Debian's package and version, e.g. "containernetworking-plugins 1.9.1+ds1-1", read when first asked. */
  package(): string;
}

const PACKAGE = 'containernetworking-plugins';

function reference(release: string, dir: string, version: () => string): Reference {
  let cached: string | undefined;
  return {
    release,
    dir,
    bridge: path.join(dir, 'bridge'),
    package: () => (cached ??= `${PACKAGE} ${version()}`),
  };
}

/** build/reference-1.9.1/VERSIONS holds "package version" lines (scripts/unstable-debs.sh writes it). */
const CURRENT_DIR = path.join(ROOT, 'build', 'reference-1.9.1');

/** The current reference, 1.9.1: the peer of the parity tier and of `make bench`. */
export const REFERENCE: Reference = reference('1.9.1', path.join(CURRENT_DIR, 'root', 'usr', 'lib', 'cni'), () => {
  const line = readFileSync(path.join(CURRENT_DIR, 'VERSIONS'), 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${PACKAGE} `));
  if (!line) throw new Error(`${CURRENT_DIR}/VERSIONS names no ${PACKAGE}: run \`make deps\``);
  return line.slice(PACKAGE.length + 1).trim();
});

/** Debian bookworm's reference, 1.1.1, in /usr/lib/cni (package containernetworking-plugins). */
export const BOOKWORM_REFERENCE: Reference = reference('1.1.1', '/usr/lib/cni', () =>
  execFileSync('dpkg-query', ['-W', '-f=${Version}', PACKAGE], { encoding: 'utf8' }).trim(),
);
