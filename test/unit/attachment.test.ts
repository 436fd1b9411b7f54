import { describe, expect, it } from 'vitest';
import { hostVethName } from '../../src/names';
import { type Attachment, fromExternalIds, MANAGED_KEY, podSelector, toExternalIds } from '../../src/ovs/attachment';

const base: Attachment = {
  namespace: 'prod-a',
  pod: '22-my-nginx',
  containerId: 'a'.repeat(64),
  network: 'vlannet',
  interface: 'eth1',
  bridge: 'k8s_br',
  port: hostVethName('prod-a', '22-my-nginx', 'vlannet'),
  tag: 22,
  ips: ['10.231.0.10/24'],
  mac: '0a:58:0a:e7:00:0a',
};

describe('toExternalIds / fromExternalIds', () => {
  it('round-trips an attachment with an address', () => {
    const ids = toExternalIds(base);
    expect(fromExternalIds(base.port, base.tag, ids)).toEqual(base);
  });

  it('round-trips an attachment without an address, leaving ip out of the ids', () => {
    const noIp = { ...base, ips: [] };
    const ids = toExternalIds(noIp);
    expect(ids).not.toHaveProperty('podvlan/ip');
    const back = fromExternalIds(noIp.port, noIp.tag, ids);
    expect(back?.ips).toEqual([]);
    expect(back).toEqual(noIp);
  });

  it('stores both addresses of a dual-stack attachment comma-joined, IPv4 first, and reads them back', () => {
    const dual = { ...base, ips: ['10.231.0.10/24', 'fd00:231::a/64'] };
    const ids = toExternalIds(dual);
    expect(ids['podvlan/ip']).toBe('10.231.0.10/24,fd00:231::a/64');
    expect(fromExternalIds(dual.port, dual.tag, ids)).toEqual(dual);
    const v6 = { ...base, ips: ['fd00:231::a/64'] };
    expect(fromExternalIds(v6.port, v6.tag, toExternalIds(v6))).toEqual(v6);
  });

  it('reads the one address of an older row as a list of one', () => {
    const ids = { ...toExternalIds({ ...base, ips: [] }), 'podvlan/ip': '10.231.0.10/24' };
    expect(fromExternalIds(base.port, base.tag, ids)?.ips).toEqual(['10.231.0.10/24']);
  });

  it('refuses a row whose addresses are not in the form podvlan writes', () => {
    for (const ip of [
      '10.231.0.10',
      'fd00:231::a',
      'fd00:231:0::a/64', // not RFC 5952: podvlan writes fd00:231::a/64
      'FD00:231::A/64',
      'fd00:231::a/129',
      'fd00:231::a/64,10.231.0.10/24', // IPv4 first
      '10.231.0.10/24,10.231.0.11/24', // one per family
      '10.231.0.10/24,fd00::1/64,fd00::2/64',
      '10.231.0.10/24,',
      '',
    ]) {
      const ids = { ...toExternalIds(base), 'podvlan/ip': ip };
      expect(fromExternalIds(base.port, base.tag, ids), ip).toBeUndefined();
    }
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

  it("ignores a managed row whose name is not its own or whose values are not in podvlan's form", () => {
    const ids = toExternalIds(base);
    expect(fromExternalIds('rvuplink0', 22, ids)).toBeUndefined();
    expect(fromExternalIds(hostVethName('prod-a', '22-my-nginx', 'other'), 22, ids)).toBeUndefined();
    const bad: [string, string][] = [
      ['network', '../../../../etc'],
      ['namespace', 'Prod'],
      ['pod', '-x'],
      ['containerId', 'zz'.repeat(32)],
      ['interface', 'eth/1'],
      ['bridge', 'a b'],
      ['mac', '0a:58'],
      ['netns', '12a'],
      ['node', 'a/b'],
    ];
    for (const [field, value] of bad) {
      const a = { ...base, [field]: value };
      expect(fromExternalIds(hostVethName(a.namespace, a.pod, a.network), 22, toExternalIds(a)), field).toBeUndefined();
    }
    for (const ip of ['10.0.0.300/24', 'x'])
      expect(fromExternalIds(base.port, 22, { ...ids, 'podvlan/ip': ip }), ip).toBeUndefined();
    const { 'podvlan/mac': _mac, ...noMac } = ids;
    expect(fromExternalIds(base.port, 22, noMac)).toBeUndefined();
    const withNode = { ...ids, 'podvlan/netns': '4026532000', 'podvlan/node': 'Node-A.example' };
    expect(fromExternalIds(base.port, 22, withNode)).toBeDefined();
  });

  it('records the tag set at setup as podvlan/vlan, read back apart from the port tag', () => {
    const ids = toExternalIds({ ...base, vlan: 22 });
    expect(ids['podvlan/vlan']).toBe('22');
    expect(toExternalIds(base)).not.toHaveProperty('podvlan/vlan'); // a row made before the key
    // The tag changed by hand: the row is still ours, the record still says 22.
    const back = fromExternalIds(base.port, 33, ids);
    expect(back).toMatchObject({ tag: 33, vlan: 22 });
    for (const forged of ['0', '4095', '022', '22 ', 'x', '', '-1', '1e3']) {
      expect(fromExternalIds(base.port, 22, { ...ids, 'podvlan/vlan': forged }), forged).toBeUndefined();
    }
    expect(fromExternalIds(base.port, 22, { ...ids, 'podvlan/vlan': '4094' })?.vlan).toBe(4094);
  });

  it('uses tag 0 for an untagged port', () => {
    expect(fromExternalIds(base.port, undefined, toExternalIds(base))?.tag).toBe(0);
  });
});

describe('podSelector', () => {
  it('selects managed ports of one pod', () => {
    expect(podSelector('ns', 'p')).toEqual({
      'podvlan/managed': 'true',
      'podvlan/namespace': 'ns',
      'podvlan/pod': 'p',
    });
  });
});
