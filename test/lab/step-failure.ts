// A command in-process with the kernel layer failing at step n, for every n (the host tier on this machine's
// kernel, the UML tier for VLANs). Every netlink request or dump of the command under test is a step: the first
// run counts them, then each run makes exactly one of them fail, as the kernel refusing it (EIO) or as a request
// that got no answer in time (ETIMEDOUT, what the socket reports after its 10 s receive timeout), and checks the
// reply's code (100 or 11, never a bug's 999) and that nothing is left behind. Only the command under test is
// counted: what prepares a run (an ADD before a DEL) and what cleans up after it runs normally, and so do the
// requests of a failed ADD's own rollback, which come after the failed step. The plugin runs through the protocol
// shell (dispatch) as the executable would, with the thread moved into the test's "node" namespace for the call.
import { expect, vi } from 'vitest';
import { dispatch } from '../../src/cni/dispatch.js';
import type { Io } from '../../src/cni/context.js';
import { KernelError, NetlinkSocket, Netns, enterNetns } from '../../src/kernel/index.js';
import { handlers } from '../../src/plugin/handlers.js';

export interface StepRun {
  code: number;
  stdout: string;
}

/** One in-process call of the plugin in namespace `nodePath` (CNI_* from `env`, the config on stdin). */
export async function callInProcess(nodePath: string, env: Record<string, string>, conf: object): Promise<StepRun> {
  let stdout = '';
  const io: Io = { env, readStdin: () => JSON.stringify(conf), stdout: (s) => (stdout += s), stderr: () => {} };
  const node = Netns.open(nodePath);
  const leave = enterNetns(node);
  try {
    const code = await dispatch(io, handlers);
    return { code, stdout };
  } finally {
    leave();
    node.close();
  }
}

/** The failures a step is made to have, with the CNI code the reply must then carry (README, "Error codes"). */
export const INJECTED = {
  /** The kernel refuses the request. */
  refused: { errno: 5, name: 'EIO', code: 100 },
  /** No answer within the socket's receive timeout: try again later. */
  timeout: { errno: 110, name: 'ETIMEDOUT', code: 11 },
} as const;
export type Injected = keyof typeof INJECTED;

/** One run of the matrix: the step that failed (its netlink operation) and the reply's code (0: it succeeded). */
export interface StepOutcome {
  step: number;
  op: string;
  code: number;
}

/**
 * Counts the kernel steps of a successful `run()` (after one more, so that the bridge exists as it will in every
 * later run), then fails each step in turn with `failure` (default 'refused'). Before each run `prepare()` runs
 * uncounted; after a run that succeeded `undo()`, after one that failed `afterFailure()` (none by default: a
 * failed ADD must have undone itself); then `leftovers()` must equal `clean`. A failed run must answer the
 * failure's code with the injected message; a run that succeeds although a step failed (a best-effort step) is
 * listed with code 0. Returns how many steps there were, how many failed the command, and each step's outcome.
 */
export async function failEachStep(o: {
  run: () => Promise<StepRun>;
  prepare?: () => Promise<void>;
  undo: () => Promise<void>;
  afterFailure?: () => Promise<void>;
  leftovers: () => unknown;
  clean: unknown;
  failure?: Injected;
}): Promise<{ steps: number; failed: number; outcomes: StepOutcome[] }> {
  const failure = INJECTED[o.failure ?? 'refused'];
  let armed = false;
  let count = 0;
  let failAt = 0;
  let failedOp = '';
  const request = NetlinkSocket.prototype.request;
  const dump = NetlinkSocket.prototype.dump;
  const dumpEach = NetlinkSocket.prototype.dumpEach;
  const inject = (op: string) => {
    if (!armed) return;
    if (++count === failAt) {
      failedOp = op;
      throw new KernelError(`${op} (failure injected at step ${count})`, failure.errno);
    }
  };
  const spies = [
    vi.spyOn(NetlinkSocket.prototype, 'request').mockImplementation(function (
      this: NetlinkSocket,
      ...a: Parameters<NetlinkSocket['request']>
    ) {
      inject(a[3]);
      return request.apply(this, a);
    }),
    vi.spyOn(NetlinkSocket.prototype, 'dump').mockImplementation(function (
      this: NetlinkSocket,
      ...a: Parameters<NetlinkSocket['dump']>
    ) {
      inject(a[2]);
      return dump.apply(this, a);
    }),
    // A dump read in place (a bridge's ports, GC's links: src/kernel/link.ts) is a step like any other.
    vi.spyOn(NetlinkSocket.prototype, 'dumpEach').mockImplementation(function (
      this: NetlinkSocket,
      ...a: Parameters<NetlinkSocket['dumpEach']>
    ) {
      inject(a[2]);
      return dumpEach.apply(this, a) as ReturnType<NetlinkSocket['dumpEach']>;
    }),
  ];
  const counted = async (n: number): Promise<StepRun> => {
    await o.prepare?.();
    count = 0;
    failAt = n;
    failedOp = '';
    armed = true;
    try {
      return await o.run();
    } finally {
      armed = false;
    }
  };
  try {
    // Once first, so that what only the first run ever makes (the bridge) is there when the steps are counted.
    const warmup = await counted(0);
    expect(warmup.code, warmup.stdout).toBe(0);
    await o.undo();
    const first = await counted(0);
    expect(first.code, first.stdout).toBe(0);
    const steps = count;
    await o.undo();
    expect(o.leftovers()).toEqual(o.clean);
    const outcomes: StepOutcome[] = [];
    for (let n = 1; n <= steps; n++) {
      const r = await counted(n);
      const reply = r.code === 0 ? undefined : (JSON.parse(r.stdout) as { code: number; msg: string });
      const what = `step ${n} of ${steps} (${failedOp}) failing with ${failure.name}: ${r.stdout}`;
      expect(failedOp, `step ${n} of ${steps} was never reached`).not.toBe('');
      if (reply) {
        expect(reply.code, what).toBe(failure.code);
        expect(reply.msg, what).toMatch(/failure injected at step/);
        await o.afterFailure?.();
      } else {
        await o.undo();
      }
      outcomes.push({ step: n, op: failedOp, code: reply?.code ?? 0 });
      expect(o.leftovers(), what).toEqual(o.clean);
    }
    return { steps, failed: outcomes.filter((x) => x.code !== 0).length, outcomes };
  } finally {
    for (const s of spies) s.mockRestore();
  }
}
