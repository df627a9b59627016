// ADD in-process with the kernel layer failing at step n, for every n (the host tier on this machine's kernel, the
// UML tier for VLAN gateways). Every netlink request or dump is a step: the first run counts them, then each run
// makes exactly one of them fail (EIO) and checks that the failed ADD left nothing behind. The rollback's own
// requests run normally. The plugin runs through the protocol shell (dispatch) as the executable would, with the
// thread moved into the test's "node" namespace for the call.
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

/**
 * Counts the kernel steps of a successful `add()` (undone with `undo()`), then fails each step in turn. After each
 * failed ADD, `leftovers()` must equal `clean`; an ADD that succeeds although a step failed (a best-effort step)
 * is undone with `undo()` and must leave `clean` too. Returns how many steps there were and how many failed the ADD.
 */
export async function failEachStep(o: {
  add: () => Promise<StepRun>;
  undo: () => Promise<void>;
  leftovers: () => unknown;
  clean: unknown;
}): Promise<{ steps: number; failedAdds: number }> {
  let count = 0;
  let failAt = 0;
  const request = NetlinkSocket.prototype.request;
  const dump = NetlinkSocket.prototype.dump;
  const inject = (op: string) => {
    if (++count === failAt) throw new KernelError(`${op} (failure injected at step ${count})`, 5);
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
  ];
  try {
    const first = await o.add();
    expect(first.code, first.stdout).toBe(0);
    const steps = count;
    await o.undo();
    expect(o.leftovers()).toEqual(o.clean);
    let failedAdds = 0;
    for (let n = 1; n <= steps; n++) {
      count = 0;
      failAt = n;
      const r = await o.add();
      failAt = 0;
      if (r.code !== 0) {
        failedAdds++;
        expect(JSON.parse(r.stdout).msg, `step ${n}`).toMatch(/failure injected at step/);
      } else {
        await o.undo();
      }
      expect(
        o.leftovers(),
        `ADD with step ${n} of ${steps} failing (${r.code === 0 ? 'ADD still succeeded' : JSON.parse(r.stdout).msg})`,
      ).toEqual(o.clean);
    }
    return { steps, failedAdds };
  } finally {
    for (const s of spies) s.mockRestore();
  }
}
