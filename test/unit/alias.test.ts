// Issue 13, item 5: the VLAN gateway's alias carries a mark no container ID can have.
import { describe, expect, it } from 'vitest';
import { GATEWAY_ID, formatAlias, isGatewayLink, parseAlias } from '../../src/plugin/attachment.js';
import { NAME_RE } from '../../src/cni/names.js';

describe('gateway mark', () => {
  it('cannot be a container ID (libcni rule)', () => {
    expect(NAME_RE.test(GATEWAY_ID)).toBe(false);
  });

  it('a pod whose container ID is "gateway" is a pod; the marked gateway, and an old-style one, are gateways', () => {
    const pod = parseAlias(formatAlias({ network: 'n', containerId: 'gateway', ifname: 'net1' }))!;
    expect(isGatewayLink(pod, true)).toBe(false);
    const gw = parseAlias(formatAlias({ network: 'n', containerId: GATEWAY_ID, ifname: 'br.100' }))!;
    expect(gw.containerId).toBe(GATEWAY_ID);
    expect(isGatewayLink(gw, false)).toBe(true);
    // Made before the mark: 'gateway' on a veth whose peer stays in the host namespace.
    expect(isGatewayLink({ network: 'n', containerId: 'gateway', ifname: 'br.100' }, false)).toBe(true);
  });
});
