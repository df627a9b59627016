// Issue 13, item 4: hostile input gets a clear error with the right code. Depth is bounded before anything walks
// the input, names are limited in bytes, names that were not UTF-8 are refused, never created under another name.
import { describe, expect, it, vi } from 'vitest';
import { dispatch } from '../../src/cni/dispatch.js';
import type { Handlers } from '../../src/cni/context.js';
import { CniError } from '../../src/cni/errors.js';
import { MAX_CONTAINER_ID, netnsOverride, parseEnv, type Env } from '../../src/cni/env.js';
import { nftMasqComment, masqComment, spoofMacChain, spoofRefId } from '../../src/firewall/layout.js';
import { parseNetConf } from '../../src/cni/config.js';
import { parseResult } from '../../src/cni/result.js';
import { MAX_JSON_DEPTH, jsonTooDeep, valueTooDeep } from '../../src/cni/depth.js';
import { ifnameProblem } from '../../src/cni/names.js';
import { thrown } from '../lab/thrown.js';

const attach: Env = {
  CNI_CONTAINERID: 'c1',
  CNI_NETNS: '/var/run/netns/c1',
  CNI_IFNAME: 'net1',
  CNI_PATH: '/opt/cni/bin',
};
const base = { cniVersion: '1.1.0', name: 'net', type: 'vlan-bridge' };
const nested = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;

function handlers(): Handlers {
  return {
    add: vi.fn(async () => ({ cniVersion: '1.1.0' })),
    del: vi.fn(async () => {}),
    check: vi.fn(async () => {}),
    status: vi.fn(async () => {}),
    gc: vi.fn(async () => {}),
  };
}

async function call(env: Env, stdin: string | (() => string)) {
  const out: string[] = [];
  const err: string[] = [];
  const h = handlers();
  const code = await dispatch(
    {
      env,
      readStdin: typeof stdin === 'string' ? () => stdin : stdin,
      stdout: (s) => out.push(s),
      stderr: (s) => err.push(s),
    },
    h,
  );
  return { code, json: JSON.parse(out.join('') || 'null'), stderr: err.join(''), h };
}

describe('nesting depth', () => {
  it.each(['mtu', 'args', 'runtimeConfig', 'vlanTrunk', 'dns', 'prevResult'])(
    '100,000 nested arrays under %s: code 6 for ADD and DEL, no stack trace, no handler called',
    async (key) => {
      const stdin = `{"cniVersion":"1.1.0","name":"net","type":"vlan-bridge","${key}":${nested(100_000)}}`;
      for (const command of ['ADD', 'DEL', 'CHECK', 'GC', 'STATUS']) {
        const r = await call({ CNI_COMMAND: command, ...attach }, stdin);
        expect(r.code).toBe(1);
        expect(r.json).toMatchObject({ code: 6, msg: 'network configuration is nested too deeply' });
        // stderr: the error's one log line, without a stack trace.
        const logged = r.stderr.trim().split('\n');
        expect(logged).toHaveLength(1);
        expect(JSON.parse(logged[0]!)).toMatchObject({ level: 'error', outcome: 'error', code: 6 });
        expect(JSON.parse(logged[0]!).stack).toBeUndefined();
        expect(r.h.add).not.toHaveBeenCalled();
        expect(r.h.del).not.toHaveBeenCalled();
      }
    },
  );

  it(`accepts ${MAX_JSON_DEPTH} levels and refuses ${MAX_JSON_DEPTH + 1}`, async () => {
    // The config object itself is one level: an unknown key holds the rest.
    const ok = await call({ CNI_COMMAND: 'DEL', ...attach }, `{"name":"net","x":${nested(MAX_JSON_DEPTH - 1)}}`);
    expect(ok.code).toBe(0);
    const deep = await call({ CNI_COMMAND: 'DEL', ...attach }, `{"name":"net","x":${nested(MAX_JSON_DEPTH)}}`);
    expect(deep.json.code).toBe(6);
  });

  it('does not count brackets inside strings, escaped quotes included', () => {
    expect(jsonTooDeep(`{"a":"${'['.repeat(200)}\\"${'{'.repeat(200)}"}`)).toBe(false);
    expect(jsonTooDeep(nested(65))).toBe(true);
    expect(jsonTooDeep(nested(64))).toBe(false);
  });

  it('bounds parsed values too, without recursion, and parseResult answers with its own code', () => {
    let v: unknown = 1;
    for (let i = 0; i < 100_000; i++) v = [v];
    expect(valueTooDeep(v)).toBe(true);
    const e = thrown(CniError, () => parseResult({ cniVersion: '1.1.0', ips: v }, { code: 104, root: 'ipam result' }));
    expect(e.code).toBe(104);
    expect(e.details).toBe(`ipam result: arrays and objects may nest at most ${MAX_JSON_DEPTH} levels deep`);
  });
});

describe('names are limited in bytes', () => {
  it('CNI_IFNAME=rtééééééé (9 characters, 16 bytes) is code 4', () => {
    const e = thrown(CniError, () => parseEnv({ CNI_COMMAND: 'ADD', ...attach, CNI_IFNAME: 'rtééééééé' }));
    expect(e.code).toBe(4);
    expect(e.details).toBe('CNI_IFNAME: interface name is longer than 15 bytes (16 bytes in UTF-8) (got "rtééééééé")');
  });

  it.each([
    ['CNI_IFNAME', 'abcdefghijklmnop'],
    ['CNI_IFNAME', 'a/b'],
    ['CNI_CONTAINERID', 'has space'],
    // Go's unicode.IsSpace, as libcni's ValidateInterfaceName applies it: NEL is whitespace there.
    ['CNI_IFNAME', 'e\u0085'],
  ])('%s=%j, which ADD refuses (code 4), is a DEL with nothing to do, not an error', (name, value) => {
    const env = { ...attach, [name]: value };
    const e = thrown(CniError, () => parseEnv({ CNI_COMMAND: 'ADD', ...env }));
    expect(e.code).toBe(4);
    const del = parseEnv({ CNI_COMMAND: 'DEL', ...env });
    expect(del).toMatchObject({ command: 'DEL', unmade: e.details });
    // No namespace: nothing is looked up in one, and the own-netns guard has nothing to refuse.
    expect('netns' in del).toBe(false);
  });

  it('takes U+FEFF in an interface name, as libcni does (it is no Go whitespace)', () => {
    expect(parseEnv({ CNI_COMMAND: 'ADD', ...attach, CNI_IFNAME: 'e\uFEFF' })).toMatchObject({ ifname: 'e\uFEFF' });
  });

  it.each([
    // Not UTF-8 (U+FFFD after decoding): refused by ADD, but the reference takes such bytes, so a pod it attached
    // may exist under them: DEL says so rather than doing nothing.
    ['CNI_IFNAME', 'e\uFFFD'],
    ['CNI_ARGS', 'IgnoreUnknown=1;NOEQUALS'],
    ['CNI_PATH', '/opt/cni/\uFFFD'],
    ['CNI_NETNS', 'relative/path'],
  ])('%s=%j is refused for DEL too (code 4): an attachment may exist under it', (name, value) => {
    const e = thrown(CniError, () => parseEnv({ CNI_COMMAND: 'DEL', ...attach, [name]: value }));
    expect(e.code).toBe(4);
  });

  it("a container ID too long for the host veth's ifalias is code 4 for ADD and CHECK; DEL takes any", () => {
    const id = `c${'0'.repeat(MAX_CONTAINER_ID)}`;
    for (const command of ['ADD', 'CHECK']) {
      const e = thrown(CniError, () => parseEnv({ CNI_COMMAND: command, ...attach, CNI_CONTAINERID: id }));
      expect(e.code).toBe(4);
      expect(e.details).toMatch(
        new RegExp(`^CNI_CONTAINERID: longer than ${MAX_CONTAINER_ID} bytes \\(${MAX_CONTAINER_ID + 1}\\)`),
      );
    }
    expect(parseEnv({ CNI_COMMAND: 'DEL', ...attach, CNI_CONTAINERID: id })).toMatchObject({ containerId: id });
    expect(parseEnv({ CNI_COMMAND: 'ADD', ...attach, CNI_CONTAINERID: id.slice(1) })).toMatchObject({
      containerId: id.slice(1),
    });
  });

  it("firewall names stay within the kernel's limits for the longest container ID and ifname", () => {
    const long = `c${'0'.repeat(MAX_CONTAINER_ID - 1)}`;
    const o = { network: 'n'.repeat(200), containerId: long, ifname: 'a23456789012345' };
    // knftables cuts the comment at 128 bytes, as the reference does; nft refuses longer ones.
    expect(Buffer.byteLength(nftMasqComment(o))).toBe(128);
    // NFT_CHAIN_MAXNAMELEN is 256 bytes with its NUL.
    expect(Buffer.byteLength(spoofMacChain(spoofRefId(o)))).toBeLessThan(256);
    // Go's %q (pkg/utils/utils.go FormatComment): quotes and backslashes escaped.
    expect(masqComment({ network: 'a"b\\c', containerId: 'x' })).toBe('name: "a\\"b\\\\c" id: "x"');
  });

  it('accepts a 15-byte name with multi-byte characters', () => {
    expect(ifnameProblem('rtéééééé1')).toBeNull(); // 9 characters, 15 bytes
  });

  it('a bridge of 16 bytes is code 7, in ADD and in DEL', () => {
    for (const crossField of [true, false]) {
      const e = thrown(CniError, () => parseNetConf({ ...base, bridge: 'brééééééé' }, { crossField }));
      expect(e.code).toBe(7);
      expect(e.details).toBe('bridge: interface name is longer than 15 bytes (16 bytes in UTF-8) (got "brééééééé")');
    }
  });

  it('the VLAN gateway <bridge>.<vlan> is counted in bytes too (code 7 on ADD)', () => {
    const conf = { ...base, bridge: 'brééééé', vlan: 100, isGateway: true, ipam: { type: 'host-local' } };
    const e = thrown(CniError, () => parseNetConf(conf));
    expect(e.code).toBe(7);
    expect(e.details).toBe(
      'isGateway: gateway interface name "brééééé.100" (bridge + "." + vlan) would be longer than 15 bytes (got true)',
    );
    expect(() => parseNetConf({ ...conf, bridge: 'brééééé', vlan: 10 })).not.toThrow(); // 15 bytes
  });
});

describe('bytes that are not UTF-8', () => {
  // Node decodes the environment lossily: "rt\xff1" arrives as "rt\uFFFD1".
  it.each([
    ['CNI_IFNAME', 'rt\uFFFD1'],
    ['CNI_NETNS', '/run/netns/p\uFFFD'],
    ['CNI_PATH', '/opt/cni/b\uFFFDn'],
    ['CNI_ARGS', 'K8S_POD_NAME=p\uFFFD'],
  ])('%s holding U+FFFD is refused with code 4', (name, value) => {
    const e = thrown(CniError, () => parseEnv({ CNI_COMMAND: 'ADD', ...attach, [name]: value }));
    expect(e.code).toBe(4);
    expect(e.details).toContain(`${name}: `);
    expect(e.details).toMatch(/not valid (UTF-8|Unicode text)/);
  });

  it('a bridge holding U+FFFD is refused with code 7', () => {
    expect(thrown(CniError, () => parseNetConf({ ...base, bridge: 'br\uFFFD' })).code).toBe(7);
  });

  // Valid JSON ("b\ud800r") and so valid UTF-8 on stdin, but a lone surrogate is no character: encoded for the
  // kernel it becomes U+FFFD, a device under another name than the one given.
  it.each([
    ['bridge', 'b\ud800r'],
    ['bridge', 'br\udfff'],
    ['uplinkInterface', 'bo\udc00'],
  ])('%s holding a lone surrogate (%j) is refused with code 7', (key, value) => {
    const e = thrown(CniError, () => parseNetConf({ ...base, uplinkVlans: true, [key]: value }));
    expect(e.code).toBe(7);
    expect(e.details).toContain(`${key}: interface name is not valid Unicode text`);
  });

  it('a well-formed pair of surrogates (an emoji) is one character, and counted in UTF-8 bytes', () => {
    expect(parseNetConf({ ...base, bridge: 'br\u{1F600}' }).bridge).toBe('br\u{1F600}');
  });

  it('stdin that cannot be read as UTF-8 is code 6 for ADD, and VERSION still answers', async () => {
    const bad = () => {
      throw new CniError(6, 'network configuration is not valid UTF-8');
    };
    expect((await call({ CNI_COMMAND: 'ADD', ...attach }, bad)).json).toMatchObject({
      code: 6,
      msg: 'network configuration is not valid UTF-8',
    });
    const v = await call({ CNI_COMMAND: 'VERSION' }, bad);
    expect(v.code).toBe(0);
    expect(v.json.cniVersion).toBe('1.1.0');
  });
});

describe('CNI_NETNS_OVERRIDE', () => {
  it('is "true" in any case or "1", as libcni skel reads it', () => {
    expect(['true', 'TRUE', 'True', '1'].map((v) => netnsOverride({ CNI_NETNS_OVERRIDE: v }))).toEqual([
      true,
      true,
      true,
      true,
    ]);
    expect(['', '0', 'yes', 'false'].map((v) => netnsOverride({ CNI_NETNS_OVERRIDE: v }))).toEqual([
      false,
      false,
      false,
      false,
    ]);
    expect(netnsOverride({})).toBe(false);
  });
});
