// On a kernel without SO_NETNS_COOKIE (before Linux 5.14) no uplink VLAN record can exist: DEL, GC and rollback
// go on as if the bridge had none (they must never fail there), and only an ADD that asks for uplinkVlans is
// refused, with code 108.
import { describe, expect, it, vi } from 'vitest';

vi.mock('../../src/kernel/index.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/kernel/index.js')>();
  return {
    ...real,
    netnsCookie: () => {
      throw new real.KernelError('getsockopt(SO_NETNS_COOKIE)', 92); // ENOPROTOOPT
    },
    getLink: () => null, // no bridge of that name: the record would be named after the config's name
  };
});

const { syncUplinkVlans } = await import('../../src/plugin/uplink-vlans/sync.js');
const { CniError } = await import('../../src/cni/errors.js');

const sock = { fd: -1 } as never;
const log = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {}, enabled: () => false };

describe('uplinkVlans on a kernel without namespace cookies', () => {
  it('DEL, GC and rollback (addTo null) do nothing and do not throw', () => {
    expect(() => syncUplinkVlans(sock, 'br0', { to: 'none' }, {}, log)).not.toThrow();
  });

  it('an ADD with uplinkVlans is refused with code 108', () => {
    let err: unknown;
    try {
      syncUplinkVlans(sock, 'br0', { to: 'all' }, {}, log);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CniError);
    expect(err).toMatchObject({ code: 108 });
  });
});
