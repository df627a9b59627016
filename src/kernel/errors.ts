// Kernel failures as typed errors: the errno name (EEXIST, ENODEV, ...) plus the kernel's extended-ACK text.

/**
 * The name and text of `errno` as the runtime knows them (['EEXIST', 'file already exists']), or ['E<n>',
 * 'errno <n>'] for one it does not. node:util is loaded on the first call, so a call that fails nothing never pays
 * for it.
 */
export function describeErrno(errno: number): [name: string, text: string] {
  const { getSystemErrorMap } = process.getBuiltinModule('node:util') as typeof import('node:util');
  return getSystemErrorMap().get(-errno) ?? [`E${errno}`, `errno ${errno}`];
}

export class KernelError extends Error {
  /** e.g. 'EEXIST'; 'E<number>' for errnos Node does not know. */
  readonly code: string;
  readonly errno: number;
  readonly op: string;
  readonly extack: string | undefined;

  constructor(op: string, errno: number, extack?: string) {
    const [name, text] = describeErrno(errno);
    super(`${op}: ${text} (${name})${extack ? `: ${extack}` : ''}`);
    this.name = 'KernelError';
    this.code = name;
    this.errno = errno;
    this.op = op;
    this.extack = extack;
  }
}

/** Whether `err` is a KernelError whose errno name is one of `codes` ('ENODEV', 'EEXIST', ...). */
export function isErrno(err: unknown, ...codes: string[]): err is KernelError {
  return err instanceof KernelError && codes.includes(err.code);
}

/** A network namespace path that cannot be used: `missing` (nothing there) or `not-netns` (something else). */
export class NetnsError extends Error {
  readonly kind: 'missing' | 'not-netns' | 'unusable';
  readonly path: string;
  /** What is wrong with it, without the path. */
  readonly why: string;

  constructor(kind: 'missing' | 'not-netns' | 'unusable', path: string, why: string) {
    super(`${path}: ${why}`);
    this.name = 'NetnsError';
    this.kind = kind;
    this.path = path;
    this.why = why;
  }
}

/**
 * The plugin's own environment cannot be used: libc.so.6 or one of its functions cannot be bound (a node whose libc
 * is not glibc-compatible). `step` says which step of preparing the plugin failed; nothing of the request
 * (namespace, bridge) is involved.
 */
export class RuntimeEnvError extends Error {
  readonly step: string;

  constructor(step: string, why: string, options?: { cause?: unknown }) {
    super(`${step}: ${why}`, options);
    this.name = 'RuntimeEnvError';
    this.step = step;
  }
}
