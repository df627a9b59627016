// The one table that turns failures into CNI codes (src/plugin/errors.ts), row by row, and what the protocol shell
// (dispatch.ts) makes of what it returns: 999 only for bugs, with their stack trace in the log.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { dispatch } from '../../src/cni/dispatch.js';
import type { Handlers } from '../../src/cni/context.js';
import { CniError, Code } from '../../src/cni/errors.js';
import { KernelError, NetnsError, RuntimeEnvError, addRoute, type NetlinkSocket } from '../../src/kernel/index.js';
import { StateDirError } from '../../src/plugin/uplink-vlans/record.js';
import { SpawnError } from '../../src/kernel/spawn.js';
import { step, toCniError } from '../../src/plugin/errors.js';
import { Failures } from '../../src/plugin/failures.js';

/** A file system error as Node throws it, for `path`. */
function fileError(path: string, code: string, errno: number): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: failed, open '${path}'`), { code, errno: -errno, syscall: 'open', path });
}

describe('toCniError: every kind of failure has its code, whatever the call site', () => {
  it.each([
    ['a netlink request refused (EIO)', new KernelError('dump VLANs', 5), Code.Kernel, 'errno EIO'],
    ['a netlink request refused (EPERM)', new KernelError('create bridge "br0"', 1), Code.Kernel, 'errno EPERM'],
    [
      'a netlink request with no answer (ETIMEDOUT)',
      new KernelError('list links: no answer', 110),
      11,
      'errno ETIMEDOUT',
    ],
    ['a kernel that says try again (EAGAIN)', new KernelError('create veth', 11), 11, 'errno EAGAIN'],
    ['a missing network namespace', new NetnsError('missing', '/run/netns/x', 'no such network namespace'), 101, ''],
    ['not a network namespace', new NetnsError('not-netns', '/tmp/fifo', 'a FIFO'), 101, ''],
    ['libc that cannot be bound', new RuntimeEnvError('bind libc (netlink)', 'no setns'), 110, ''],
    ['a state directory others can write', new StateDirError('use the uplink VLAN records in /x', 'mode 777'), 110, ''],
    [
      'a record the file system refuses',
      new StateDirError('write the uplink VLAN record', 'read-only', { cause: fileError('/x/r.json', 'EROFS', 30) }),
      110,
      'errno EROFS',
    ],
    ['a program that cannot be started', new SpawnError('/usr/sbin/nft', 'ENOENT'), 110, 'errno ENOENT'],
    ['no process left to start one (EAGAIN)', new SpawnError('/usr/sbin/nft', 'EAGAIN'), 11, 'errno EAGAIN'],
    ['a kernel setting refused', fileError('/proc/sys/net/ipv4/ip_forward', 'EROFS', 30), 100, 'errno EROFS'],
    ['a sysfs file refused', fileError('/sys/class/net/br0/bridge/stp_state', 'EACCES', 13), 100, 'errno EACCES'],
    ['a state file refused', fileError('/var/lib/cni/vlan-bridge/x.json', 'ENOSPC', 28), 110, 'errno ENOSPC'],
    ['a lock held too long by the file system', fileError('/var/lib/x.lock', 'EAGAIN', 11), 11, 'errno EAGAIN'],
  ])('%s', (_, err, code, details) => {
    const e = toCniError(err);
    expect(e.code).toBe(code);
    expect(e.details).toBe(details);
    expect(e.cause).toBe(err);
    expect(e.message).toContain(err.message);
  });

  it('a real file system error (Node or Bun) is recognised as one', () => {
    let err: unknown;
    try {
      readFileSync('/nonexistent/vlan-bridge/state.json');
    } catch (e) {
      err = e;
    }
    expect(toCniError(err)).toMatchObject({ code: 110, details: 'errno ENOENT' });
  });

  it('a CNI error passes through as it is', () => {
    const e = new CniError(Code.IfnameExists, 'interface "net1" already exists');
    expect(toCniError(e, 'some step')).toBe(e);
  });

  it('names the step in front of the message, except for the environment (named by its own step)', () => {
    expect(toCniError(new KernelError('dump VLANs', 5), 'read VLANs').message).toBe(
      'read VLANs: dump VLANs: i/o error (EIO)',
    );
    expect(toCniError(new RuntimeEnvError('bind libc (netlink)', 'no setns'), 'list links').message).toBe(
      "the plugin's own environment is unusable: bind libc (netlink): no setns",
    );
  });

  it('anything else is a bug: 999, the error kept as the cause', () => {
    const bug = new TypeError('x is undefined');
    const e = toCniError(bug, 'list links');
    expect(e).toMatchObject({ code: 999, message: 'list links: x is undefined', details: '' });
    expect(e.cause).toBe(bug);
    expect(toCniError('a string').code).toBe(999);
  });

  it('step() and Failures use the same table', () => {
    expect(() =>
      step('look up "net1"', () => {
        throw new KernelError('get link "net1": no answer from the kernel', 110);
      }),
    ).toThrow(expect.objectContaining({ code: 11 }));
    const f = new Failures();
    f.add('delete the host veth', new KernelError('delete link 7', 5));
    f.add('remove unused VIDs from the uplinks', fileError('/var/lib/x.json', 'EROFS', 30));
    expect(f.toError('DEL')).toMatchObject({ code: 100, message: 'DEL failed in 2 steps' });
  });
});

describe('dispatch: the reply and the log of a failure', () => {
  const attach = { CNI_CONTAINERID: 'c1', CNI_NETNS: '/run/netns/c1', CNI_IFNAME: 'net1', CNI_PATH: '/opt/cni/bin' };
  const conf = JSON.stringify({ cniVersion: '1.1.0', name: 'net', type: 'vlan-bridge' });

  async function call(env: Record<string, string>, readStdin: () => string, check: Handlers['check']) {
    let stdout = '';
    let stderr = '';
    const handlers: Handlers = {
      add: async () => ({ cniVersion: '1.1.0' }),
      del: async () => {},
      check,
      status: async () => {},
      gc: async () => {},
    };
    const code = await dispatch(
      { env, readStdin, stdout: (s) => (stdout += s), stderr: (s) => (stderr += s) },
      handlers,
    );
    return { code, json: JSON.parse(stdout), log: JSON.parse(stderr.trim().split('\n').at(-1)!) };
  }

  it('a bug named by its step is 999 with the stack trace of the bug in the log', async () => {
    const r = await call(
      { CNI_COMMAND: 'CHECK', ...attach },
      () => conf,
      async () => {
        step('compare VLANs', () => {
          throw new TypeError('ranges is not iterable');
        });
      },
    );
    expect(r.json).toMatchObject({ code: 999, msg: 'compare VLANs: ranges is not iterable' });
    expect(r.log.stack).toMatch(/^TypeError: ranges is not iterable/);
  });

  it('a known failure carries no stack trace', async () => {
    const r = await call(
      { CNI_COMMAND: 'CHECK', ...attach },
      () => conf,
      async () => {
        throw toCniError(new KernelError('dump VLANs: no answer from the kernel', 110));
      },
    );
    expect(r.json).toMatchObject({ code: 11 });
    expect(r.log.stack).toBeUndefined();
  });

  it('a stdin that cannot be read is the I/O failure (5), not a bug', async () => {
    const r = await call(
      { CNI_COMMAND: 'ADD', ...attach },
      () => {
        throw fileError('/dev/stdin', 'EIO', 5);
      },
      async () => {},
    );
    expect(r.json).toMatchObject({ code: 5, msg: 'cannot read the network configuration from stdin' });
    expect(r.log.stack).toBeUndefined();
  });
});

describe('a route the kernel would refuse', () => {
  it("a gateway of another family than the route's destination is a kernel refusal (100), not a bug (999)", () => {
    const sock = { request: () => [] } as unknown as NetlinkSocket;
    let err: unknown;
    try {
      addRoute(sock, { dst: '10.0.0.0/8', gw: 'fd00::1' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KernelError);
    expect(toCniError(err, 'add route 10.0.0.0/8 via fd00::1 in the pod')).toMatchObject({
      code: 100,
      details: 'errno EINVAL',
    });
  });
});
