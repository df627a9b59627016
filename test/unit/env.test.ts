import { describe, expect, it } from 'vitest';
import { parseEnv, type Env } from '../../src/cni/env.js';
import { CniError } from '../../src/cni/errors.js';
import { thrown } from '../lab/thrown.js';

const full: Env = {
  CNI_COMMAND: 'ADD',
  CNI_CONTAINERID: 'abc123',
  CNI_NETNS: '/var/run/netns/x',
  CNI_IFNAME: 'net1',
  CNI_PATH: '/opt/cni/bin:/usr/lib/cni',
};

const errorOf = (env: Env): CniError => thrown(CniError, () => parseEnv(env));

describe('parseEnv', () => {
  it('parses a full ADD into a typed request', () => {
    expect(parseEnv(full)).toEqual({
      command: 'ADD',
      containerId: 'abc123',
      netns: '/var/run/netns/x',
      ifname: 'net1',
      path: ['/opt/cni/bin', '/usr/lib/cni'],
      args: { ignoreUnknown: false, pairs: [] },
    });
  });

  it.each([
    ['ADD', ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH']],
    ['CHECK', ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH']],
    ['DEL', ['CNI_CONTAINERID', 'CNI_IFNAME', 'CNI_PATH']],
    ['GC', ['CNI_PATH']],
    ['STATUS', ['CNI_PATH']],
  ])('%s requires %j', (command, required) => {
    for (const v of required) {
      const env = { ...full, CNI_COMMAND: command, [v]: undefined };
      const e = errorOf(env);
      expect(e.code).toBe(4);
      expect(e.message).toBe(`required env variables [${v}] missing`);
    }
    const none = errorOf({ CNI_COMMAND: command });
    expect(none.message).toBe(`required env variables [${required.join(',')}] missing`);
  });

  it('lets DEL come without a netns, and VERSION with nothing', () => {
    const del = parseEnv({ ...full, CNI_COMMAND: 'DEL', CNI_NETNS: '' });
    expect(del).toMatchObject({ command: 'DEL', containerId: 'abc123', ifname: 'net1' });
    expect('netns' in del).toBe(false);
    expect(parseEnv({ CNI_COMMAND: 'VERSION' })).toEqual({ command: 'VERSION' });
    expect(parseEnv({ CNI_COMMAND: 'GC', CNI_PATH: '/a' })).toMatchObject({ command: 'GC', path: ['/a'] });
  });

  it('rejects an unknown command with code 4', () => {
    const e = errorOf({ CNI_COMMAND: 'ADDD' });
    expect(e.code).toBe(4);
    expect(e.details).toContain('CNI_COMMAND');
  });

  it.each([['-starts-with-dash'], ['has space'], ['semi;colon'], ['_under']])('rejects container ID %j', (id) => {
    const e = errorOf({ ...full, CNI_CONTAINERID: id });
    expect(e.code).toBe(4);
    expect(e.details).toBe(
      `CNI_CONTAINERID: invalid characters, must match ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$ (got ${JSON.stringify(id)})`,
    );
  });

  it.each([
    ['a234567890123456', 'longer than 15'],
    ['.', 'is . or ..'],
    ['..', 'is . or ..'],
    ['a/b', 'contains /'],
    ['a:b', 'contains /'],
    ['a b', 'contains /'],
    ['a\tb', 'contains /'],
  ])('rejects ifname %j', (ifname, why) => {
    const e = errorOf({ ...full, CNI_IFNAME: ifname });
    expect(e.code).toBe(4);
    expect(e.details).toContain('CNI_IFNAME: ');
    expect(e.details).toContain(why);
  });

  it('accepts a 15-character ifname and the KubeVirt pod<hash> form', () => {
    expect(parseEnv({ ...full, CNI_IFNAME: 'a23456789012345' })).toMatchObject({ ifname: 'a23456789012345' });
    expect(parseEnv({ ...full, CNI_IFNAME: 'pod16367aacb67' })).toMatchObject({ ifname: 'pod16367aacb67' });
  });

  it('rejects a relative netns path', () => {
    const e = errorOf({ ...full, CNI_NETNS: 'netns/x' });
    expect(e.details).toBe('CNI_NETNS: must be an absolute path (got "netns/x")');
  });

  it('collects every problem in one error', () => {
    const e = errorOf({ ...full, CNI_CONTAINERID: '-x', CNI_IFNAME: '..' });
    expect(e.details.split('; ')).toHaveLength(2);
  });

  it('parses CNI_ARGS into the request', () => {
    const r = parseEnv({ ...full, CNI_ARGS: 'IgnoreUnknown=true;K8S_POD_NAME=vm-1;MAC=0A:58:0A:F4:00:05' });
    expect(r).toMatchObject({ args: { ignoreUnknown: true, k8sPodName: 'vm-1', mac: '0a:58:0a:f4:00:05' } });
  });
});
