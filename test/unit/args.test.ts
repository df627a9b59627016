import { describe, expect, it } from 'vitest';
import { parseCniArgs } from '../../src/cni/args.js';
import { CniError } from '../../src/cni/errors.js';
import { thrown } from '../lab/thrown.js';

const fail = (raw: string): CniError => thrown(CniError, () => parseCniArgs(raw));

describe('parseCniArgs', () => {
  it('is empty for no CNI_ARGS', () => {
    expect(parseCniArgs(undefined)).toEqual({ ignoreUnknown: false, pairs: [] });
    expect(parseCniArgs('')).toEqual({ ignoreUnknown: false, pairs: [] });
  });

  it('reads what Multus sends, repeated keys included (last wins, as LoadArgs)', () => {
    const raw =
      'IgnoreUnknown=true;K8S_POD_NAMESPACE=default;K8S_POD_NAME=virt-launcher-vm1-abcde;' +
      'K8S_POD_INFRA_CONTAINER_ID=0123abcd;K8S_POD_UID=11-22;IgnoreUnknown=1;MAC=02:00:00:00:00:01;MAC=02:00:00:00:00:02;IP=10.1.0.5/24';
    const a = parseCniArgs(raw);
    expect(a).toMatchObject({
      ignoreUnknown: true,
      k8sPodNamespace: 'default',
      k8sPodName: 'virt-launcher-vm1-abcde',
      k8sPodInfraContainerId: '0123abcd',
      k8sPodUid: '11-22',
      mac: '02:00:00:00:00:02',
      ip: '10.1.0.5/24',
    });
    expect(a.pairs).toHaveLength(9);
  });

  it('applies IgnoreUnknown wherever it stands in the list', () => {
    expect(parseCniArgs('FOO=bar;IgnoreUnknown=TRUE').ignoreUnknown).toBe(true);
  });

  it('rejects unknown keys without IgnoreUnknown with code 2, naming key and value', () => {
    const e = fail('FOO=bar');
    expect(e.code).toBe(2);
    expect(e.details).toBe('CNI_ARGS.FOO: unknown key (got "bar"); set IgnoreUnknown=true to allow it');
    expect(fail('FOO=bar;IgnoreUnknown=false').code).toBe(2);
  });

  it.each([['novalue'], ['=x'], ['a=b=c']])('rejects the malformed pair %j with code 4', (pair) => {
    const e = fail(`IgnoreUnknown=true;${pair}`);
    expect(e.code).toBe(4);
    expect(e.details).toContain(`invalid pair ${JSON.stringify(pair)}`);
  });

  it('rejects a bad IgnoreUnknown and a bad MAC', () => {
    expect(fail('IgnoreUnknown=yes').details).toBe('CNI_ARGS.IgnoreUnknown: not a boolean (got "yes")');
    expect(fail('MAC=zz').details).toContain('CNI_ARGS.MAC: not a 48-bit MAC address');
    expect(fail('MAC=01:00:5e:00:00:01').details).toContain('multicast');
  });
});
