import { describe, expect, it } from 'vitest';
import { type Attachment, fromExternalIds, MANAGED_KEY, podSelector, toExternalIds } from '../../src/ovs/attachment';

const base: Attachment = {
  namespace: 'prod-a',
  pod: '22-my-nginx',
  containerId: 'a'.repeat(64),
  network: 'vlannet',
  interface: 'eth1',
  bridge: 'k8s_br',
  port: 'pv0123456789abc',
  tag: 22,
  ip: '10.231.0.10/24',
  mac: '0a:58:0a:e7:00:0a',
};

describe('toExternalIds / fromExternalIds', () => {
  it('round-trips an attachment with an address', () => {
    const ids = toExternalIds(base);
    expect(fromExternalIds(base.port, base.tag, ids)).toEqual(base);
  });

  it('round-trips an attachment without an address, leaving ip out of the ids', () => {
    const { ip: _ip, ...noIp } = base;
    const ids = toExternalIds(noIp);
    expect(ids).not.toHaveProperty('podvlan/ip');
    const back = fromExternalIds(noIp.port, noIp.tag, ids);
    expect(back?.ip).toBeUndefined();
    expect(back).toEqual(noIp);
  });

  it('marks the port managed and prefixes every key, without port or tag', () => {
    const ids = toExternalIds(base);
    expect(ids[MANAGED_KEY]).toBe('true');
    expect(ids['podvlan/containerId']).toBe(base.containerId);
    expect(Object.keys(ids).every((k) => k.startsWith('podvlan/'))).toBe(true);
    expect(ids).not.toHaveProperty('podvlan/port');
    expect(ids).not.toHaveProperty('podvlan/tag');
  });

  it('returns undefined for a port without podvlan/managed=true', () => {
    const ids = toExternalIds(base);
    const { [MANAGED_KEY]: _m, ...unmanaged } = ids;
    expect(fromExternalIds('pv1', 22, unmanaged)).toBeUndefined();
    expect(fromExternalIds('pv1', 22, { ...ids, [MANAGED_KEY]: 'false' })).toBeUndefined();
    expect(fromExternalIds('eth0', undefined, { 'iface-id': 'x' })).toBeUndefined();
    expect(fromExternalIds('eth0', undefined, {})).toBeUndefined();
  });

  it('uses tag 0 for an untagged port', () => {
    expect(fromExternalIds(base.port, undefined, toExternalIds(base))?.tag).toBe(0);
  });
});

describe('podSelector', () => {
  it('selects managed ports of one pod', () => {
    expect(podSelector('ns', 'p')).toEqual({ 'podvlan/managed': 'true', 'podvlan/namespace': 'ns', 'podvlan/pod': 'p' });
  });
});
