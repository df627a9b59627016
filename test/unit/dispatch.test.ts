import { describe, expect, it, vi } from 'vitest';
import { dispatch } from '../../src/cni/dispatch.js';
import type { Handlers } from '../../src/cni/context.js';
import { CniError } from '../../src/cni/errors.js';
import type { Env } from '../../src/cni/env.js';
import { SUPPORTED_VERSIONS } from '../../src/cni/versions.js';

const attach: Env = {
  CNI_CONTAINERID: 'c1',
  CNI_NETNS: '/var/run/netns/c1',
  CNI_IFNAME: 'net1',
  CNI_PATH: '/opt/cni/bin',
};
const l3Result = {
  cniVersion: '1.1.0',
  interfaces: [
    { name: 'mgmt-br', mac: '02:00:00:00:00:aa' },
    { name: 'veth0011aabb', mac: '02:00:00:00:00:bb' },
    { name: 'net1', mac: '02:00:00:00:00:cc', sandbox: '/var/run/netns/c1', mtu: 9000 },
  ],
  ips: [{ address: '10.1.0.5/24', gateway: '10.1.0.1', interface: 2 }],
  routes: [{ dst: '0.0.0.0/0', gw: '10.1.0.1' }],
};

function fakeHandlers(over: Partial<Handlers> = {}): Handlers {
  return {
    add: vi.fn(async () => structuredClone(l3Result)),
    del: vi.fn(async () => {}),
    check: vi.fn(async () => {}),
    status: vi.fn(async () => {}),
    gc: vi.fn(async () => {}),
    ...over,
  };
}

async function call(env: Env, stdin: string | object, h: Handlers = fakeHandlers()) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await dispatch(
    {
      env,
      readStdin: () => (typeof stdin === 'string' ? stdin : JSON.stringify(stdin)),
      stdout: (s) => out.push(s),
      stderr: (s) => err.push(s),
    },
    h,
  );
  const stdout = out.join('');
  return { code, stdout, stderr: err.join(''), json: stdout ? JSON.parse(stdout) : undefined, h };
}

const conf = (v: string | undefined, extra: object = {}) => ({
  ...(v ? { cniVersion: v } : {}),
  name: 'net',
  type: 'vlan-bridge',
  ...extra,
});

describe('dispatch', () => {
  it('prints the about line to stderr and exits 0 without CNI_COMMAND', async () => {
    const r = await call({}, '');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(
      /^CNI vlan-bridge plugin .*\nCNI protocol versions supported: 0\.1\.0, .*1\.1\.0\nRun 'vlan-bridge --help' .*\n$/,
    );
  });

  it.each([
    ['{"cniVersion":"0.4.0"}', '0.4.0'],
    ['', '1.1.0'],
    ['garbage', '1.1.0'],
    ['{"cniVersion":"9.9.9"}', '9.9.9'],
  ])('VERSION with stdin %j answers %s without calling a handler', async (stdin, v) => {
    const r = await call({ CNI_COMMAND: 'VERSION' }, stdin);
    expect(r.code).toBe(0);
    expect(r.json).toEqual({ cniVersion: v, supportedVersions: [...SUPPORTED_VERSIONS] });
    expect(r.stdout.endsWith('}\n')).toBe(true);
    for (const fn of Object.values(r.h)) expect(fn).not.toHaveBeenCalled();
  });

  it.each([
    ['', 6, 'no network configuration on stdin'],
    ['{', 6, 'network configuration is not valid JSON'],
    ['[1,2]', 6, 'network configuration must be a JSON object'],
    ['"x"', 6, 'network configuration must be a JSON object'],
  ])('stdin %j is error %i', async (stdin, code, msg) => {
    const r = await call({ CNI_COMMAND: 'ADD', ...attach }, stdin);
    expect(r.code).toBe(1);
    expect(r.json).toMatchObject({ code, msg });
    for (const fn of Object.values(r.h)) expect(fn).not.toHaveBeenCalled();
  });

  it("says where stdin stops being JSON in the plugin's words, not the engine's", async () => {
    const r = await call({ CNI_COMMAND: 'ADD', ...attach }, '{"cniVersion": "1.0.0",\n "name": x}');
    expect(r.json).toMatchObject({
      code: 6,
      msg: 'network configuration is not valid JSON',
      details: 'line 2 column 10: unexpected character',
    });
  });

  it("logs a stack trace for our own unexpected throws only, not for an IPAM plugin's 999 passed through", async () => {
    const ipam999 = fakeHandlers();
    ipam999.add = vi.fn(async () => {
      throw new CniError(999, 'failed to allocate for range 0', 'from host-local');
    });
    const passed = await call({ CNI_COMMAND: 'ADD', ...attach }, conf('1.0.0'), ipam999);
    expect(passed.json).toMatchObject({ code: 999, msg: 'failed to allocate for range 0' });
    // Errors are always logged (one line), but a plugin's own 999 is no bug of ours: no stack trace.
    expect(JSON.parse(passed.stderr)).toMatchObject({ code: 999, msg: 'failed to allocate for range 0' });
    expect(JSON.parse(passed.stderr).stack).toBeUndefined();
    const bug = fakeHandlers();
    bug.add = vi.fn(async () => {
      throw new TypeError('x is undefined');
    });
    const ours = await call({ CNI_COMMAND: 'ADD', ...attach }, conf('1.0.0'), bug);
    expect(ours.json).toMatchObject({ code: 999, msg: 'x is undefined' });
    expect(JSON.parse(ours.stderr).stack).toMatch(/^TypeError: x is undefined/);
  });

  it('checks env before stdin, as libcni skel does', async () => {
    const r = await call({ CNI_COMMAND: 'ADD' }, 'garbage');
    expect(r.json.code).toBe(4);
  });

  it('stamps errors with the config version when it is one we speak', async () => {
    const r = await call({ CNI_COMMAND: 'ADD', ...attach }, conf('0.3.1', { vlan: 5000 }));
    expect(r.json).toEqual({
      cniVersion: '0.3.1',
      code: 7,
      msg: 'invalid network configuration',
      details: 'vlan: Too big: expected number to be <=4094 (got 5000)',
    });
  });

  it.each([['2.0.0'], ['0.5.0'], ['banana']])('refuses cniVersion %s with code 1', async (v) => {
    const r = await call({ CNI_COMMAND: 'ADD', ...attach }, conf(v));
    expect(r.json).toMatchObject({ cniVersion: '1.1.0', code: 1 });
    expect(r.json.details).toContain('0.1.0');
  });

  it.each([
    ['CHECK', '0.3.1', 1],
    ['CHECK', '0.4.0', 0],
    ['STATUS', '1.0.0', 1],
    ['STATUS', '1.1.0', 0],
    ['GC', '1.0.0', 1],
    ['GC', '1.1.0', 0],
    ['CHECK', undefined, 1],
  ])('%s with cniVersion %s exits %i', async (cmd, v, code) => {
    const r = await call({ CNI_COMMAND: cmd, ...attach }, conf(v));
    expect(r.code).toBe(code);
    if (code) expect(r.json.code).toBe(1);
    else expect(r.stdout).toBe('');
  });

  it.each([
    ['1.1.0', { ...l3Result }],
    ['1.0.0', { ...l3Result, cniVersion: '1.0.0' }],
    [
      '0.4.0',
      {
        cniVersion: '0.4.0',
        interfaces: l3Result.interfaces.map(({ mtu: _m, ...i }) => i),
        ips: [{ ...l3Result.ips[0], version: '4' }],
        routes: l3Result.routes,
      },
    ],
    [
      '0.2.0',
      {
        cniVersion: '0.2.0',
        ip4: { ip: '10.1.0.5/24', gateway: '10.1.0.1', routes: [{ dst: '0.0.0.0/0', gw: '10.1.0.1' }] },
      },
    ],
  ])('ADD prints the result converted to %s', async (v, expected) => {
    const r = await call({ CNI_COMMAND: 'ADD', ...attach }, conf(v, { ipam: { type: 'host-local' } }));
    expect(r.code).toBe(0);
    expect(r.json).toEqual(expected);
    expect(r.stdout.split('\n').filter(Boolean)).toHaveLength(1);
  });

  it('refuses an L2 config at 0.2.0 before the handler runs', async () => {
    const r = await call({ CNI_COMMAND: 'ADD', ...attach }, conf('0.2.0'));
    expect(r.json).toMatchObject({ code: 107, msg: 'cannot convert: no valid IP addresses' });
    expect(r.h.add).not.toHaveBeenCalled();
  });

  it('undoes an ADD whose result cannot be printed in the config version', async () => {
    const h = fakeHandlers({
      add: async () => ({ cniVersion: '1.1.0', interfaces: [{ name: 'net1', sandbox: '/x' }] }),
    });
    const r = await call({ CNI_COMMAND: 'ADD', ...attach }, conf('0.2.0', { ipam: { type: 'host-local' } }), h);
    expect(r.json).toMatchObject({ code: 107, msg: 'cannot convert: no valid IP addresses' });
    expect(h.del).toHaveBeenCalledTimes(1);
    expect((h.del as ReturnType<typeof vi.fn>).mock.calls[0]![0]).toMatchObject({
      command: 'DEL',
      containerId: 'c1',
      ifname: 'net1',
    });
  });

  it('passes typed requests and the raw config to handlers', async () => {
    const stdin = JSON.stringify(conf('1.1.0', { bridge: 'mgmt-br', vlan: 100 }));
    const r = await call({ CNI_COMMAND: 'DEL', ...attach, CNI_NETNS: '' }, stdin);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    const [req, ctx] = (r.h.del as ReturnType<typeof vi.fn>).mock.calls[0]!;
    expect(req).toMatchObject({ command: 'DEL', containerId: 'c1', ifname: 'net1' });
    expect(ctx.conf).toMatchObject({ bridge: 'mgmt-br', vlan: 100 });
    expect(ctx.rawConfig).toBe(stdin);
  });

  it('parses prevResult of an older version and rejects a bad one with its path', async () => {
    const prev = { cniVersion: '0.3.1', ips: [{ version: '4', address: '10.1.0.5/24' }] };
    const ok = await call({ CNI_COMMAND: 'CHECK', ...attach }, conf('0.4.0', { prevResult: prev }));
    expect(ok.code).toBe(0);
    expect((ok.h.check as ReturnType<typeof vi.fn>).mock.calls[0]![1].prevResult.ips).toEqual([
      { address: '10.1.0.5/24' },
    ]);
    const bad = await call(
      { CNI_COMMAND: 'CHECK', ...attach },
      conf('0.4.0', { prevResult: { ips: [{ address: 'nope' }] } }),
    );
    expect(bad.json.code).toBe(7);
    expect(bad.json.details).toContain('prevResult.ips[0].address');
  });

  it('hands GC the valid attachments and rejects a malformed list', async () => {
    const list = [{ containerID: 'c1', ifname: 'net1' }];
    const ok = await call({ CNI_COMMAND: 'GC', CNI_PATH: '/x' }, conf('1.1.0', { 'cni.dev/valid-attachments': list }));
    expect(ok.code).toBe(0);
    expect((ok.h.gc as ReturnType<typeof vi.fn>).mock.calls[0]![2]).toEqual(list);
    const bad = await call(
      { CNI_COMMAND: 'GC', CNI_PATH: '/x' },
      conf('1.1.0', { 'cni.dev/valid-attachments': [{ containerID: 1 }] }),
    );
    expect(bad.json).toMatchObject({ code: 7 });
    expect(bad.json.details).toMatch(/^cni\.dev\/valid-attachments\[0\]: /);
  });

  it.each([
    // libcni marshals a GC with no valid attachment (a nil slice) as null, under both names (api.go, #1101).
    [
      'null under both names (libcni, nothing valid)',
      { 'cni.dev/valid-attachments': null, 'cni.dev/attachments': null },
      [],
    ],
    [
      "only the earlier spec text's name",
      { 'cni.dev/attachments': [{ containerID: 'c2', ifname: 'eth0' }] },
      [{ containerID: 'c2', ifname: 'eth0' }],
    ],
    ['neither key', {}, []],
  ])('reads GC valid attachments given as %s', async (_what, keys, want) => {
    const r = await call({ CNI_COMMAND: 'GC', CNI_PATH: '/x' }, conf('1.1.0', keys));
    expect(r.code, JSON.stringify(r.json)).toBe(0);
    expect((r.h.gc as ReturnType<typeof vi.fn>).mock.calls[0]![2]).toEqual(want);
  });

  it('applies rules relating keys to ADD and CHECK, not to DEL, STATUS or GC (a refused ADD can still be deleted)', async () => {
    const bad = conf('1.1.0', { promiscMode: true, hairpinMode: true });
    const add = await call({ CNI_COMMAND: 'ADD', ...attach }, bad);
    expect(add.json).toMatchObject({
      code: 7,
      details: 'hairpinMode: cannot be set together with promiscMode (got true)',
    });
    const check = await call({ CNI_COMMAND: 'CHECK', ...attach }, bad);
    expect(check.json).toMatchObject({ code: 7 });
    for (const cmd of ['DEL', 'STATUS', 'GC']) {
      const r = await call({ CNI_COMMAND: cmd, ...attach }, bad);
      expect(r.code, cmd).toBe(0);
    }
    // Type and range errors fail every command in keys that teardown uses; in others, ADD and CHECK only.
    expect((await call({ CNI_COMMAND: 'DEL', ...attach }, conf('1.1.0', { bridge: 5 }))).json).toMatchObject({
      code: 7,
    });
    expect((await call({ CNI_COMMAND: 'DEL', ...attach }, conf('1.1.0', { vlan: 5000 }))).code).toBe(0);
    expect((await call({ CNI_COMMAND: 'ADD', ...attach }, conf('1.1.0', { vlan: 5000 }))).json).toMatchObject({
      code: 7,
    });
  });

  it('passes a handler CniError through with its code and details', async () => {
    const h = fakeHandlers({
      add: async () => {
        throw new CniError(11, 'busy', 'lock held');
      },
    });
    const r = await call({ CNI_COMMAND: 'ADD', ...attach }, conf('1.0.0'), h);
    expect(r.json).toEqual({ cniVersion: '1.0.0', code: 11, msg: 'busy', details: 'lock held' });
  });

  it('turns anything unexpected into 999 with its message, stack only on stderr', async () => {
    const h = fakeHandlers({
      del: async () => {
        throw new TypeError('boom');
      },
    });
    const r = await call({ CNI_COMMAND: 'DEL', ...attach }, conf('1.0.0'), h);
    expect(r.code).toBe(1);
    expect(r.json).toEqual({ cniVersion: '1.0.0', code: 999, msg: 'boom' });
    expect(r.stdout).not.toContain('at ');
    expect(r.stderr).toContain('TypeError: boom');
  });
});
