// On one bridge a VLAN is one network's: declared tags (ids, pools, pod-name ranges) must not
// overlap, and a tag read from a pod name must stay in its network's range.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load';
import { ConfigError } from '../../src/errors';
import { declaredVlans, podNameTagProblem, type VlanClaim, vlanClashes } from '../../src/ipam/vlan';

const fromName = (range?: string) => ({ fromPodName: '^gw-(\\d+)$', ...(range ? { range } : {}) });
const claim = (name: string, vlan: VlanClaim['vlan'], bridge = 'br-edge'): VlanClaim => ({ name, bridge, vlan });

describe('declaredVlans', () => {
  it.each([
    [{ id: 300 }, [{ first: 300, last: 300 }]],
    [{ pool: '100-199', per: 'namespace' as const }, [{ first: 100, last: 199 }]],
    [fromName('20-99'), [{ first: 20, last: 99 }]],
    [fromName('42'), [{ first: 42, last: 42 }]],
    [
      { trunk: '200, 100-110' },
      [
        { first: 100, last: 110 },
        { first: 200, last: 200 },
      ],
    ],
    [fromName(), undefined],
    [fromName('lots'), undefined], // reported by the schema at the range itself
    [{ trunk: '100-110,105' }, undefined], // likewise
  ])('%j declares %j', (vlan, range) => {
    expect(declaredVlans(vlan)).toEqual(range);
  });
});

describe('vlanClashes', () => {
  it('accepts the multi-homed example: an open pod-name network beside a fixed VLAN', () => {
    expect(vlanClashes([claim('frontend', fromName()), claim('storage', { id: 300 })])).toEqual([]);
  });

  it('accepts overlapping tags on different bridges', () => {
    expect(
      vlanClashes([
        claim('a', { id: 300 }),
        claim('b', { id: 300 }, 'br-other'),
        claim('c', fromName('1-4094'), 'br-third'),
      ]),
    ).toEqual([]);
  });

  it.each([
    [
      'a range over a fixed VLAN',
      [claim('storage', { id: 300 }), claim('frontend', fromName('250-350'))],
      "network frontend's VLAN range 250-350 overlaps network storage's VLAN 300 on bridge br-edge",
    ],
    [
      'two equal fixed VLANs',
      [claim('a', { id: 5 }), claim('b', { id: 5 })],
      "network b's VLAN 5 overlaps network a's VLAN 5 on bridge br-edge",
    ],
    [
      'a pool over a range',
      [claim('a', fromName('20-99')), claim('b', { pool: '90-120', per: 'pod' })],
      "network b's VLAN pool 90-120 overlaps network a's VLAN range 20-99 on bridge br-edge",
    ],
    [
      'two open pod-name networks',
      [claim('a', fromName()), claim('b', fromName())],
      'networks a and b on bridge br-edge both read VLANs from pod names without a range: give one a range',
    ],
  ])('refuses %s, naming both networks and the bridge', (_label, networks, message) => {
    expect(vlanClashes(networks)).toEqual([{ index: 1, message }]);
  });

  it('accepts adjacent ranges and an open network beside a ranged one', () => {
    expect(
      vlanClashes([
        claim('a', fromName('20-99')),
        claim('b', fromName('100-199')),
        claim('c', fromName()),
        claim('d', { id: 200 }),
      ]),
    ).toEqual([]);
  });
});

describe('podNameTagProblem', () => {
  const networks = [
    claim('frontend', fromName()),
    claim('storage', { id: 300 }),
    claim('tenant', { pool: '100-199', per: 'namespace' }),
    claim('other', { id: 300 }, 'br-x'),
  ];

  it('refuses a tag another network on the bridge declares', () => {
    expect(podNameTagProblem(300, networks[0], networks, 'gw-300')).toBe(
      'VLAN 300 from pod name "gw-300" belongs to network storage (VLAN 300) on bridge br-edge, not to network frontend',
    );
    expect(podNameTagProblem(150, networks[0], networks, 'gw-150')).toMatch(
      /belongs to network tenant \(VLAN pool 100-199\)/,
    );
  });

  it('takes any other tag without a range, whatever other bridges use', () => {
    expect(podNameTagProblem(250, networks[0], networks, 'gw-250')).toBeUndefined();
    expect(podNameTagProblem(300, claim('x', fromName(), 'br-y'), networks, 'gw-300')).toBeUndefined();
  });

  it('keeps a ranged network inside its range', () => {
    const ranged = claim('frontend', fromName('20-99'));
    expect(podNameTagProblem(20, ranged, [ranged], 'gw-20')).toBeUndefined();
    expect(podNameTagProblem(99, ranged, [ranged], 'gw-99')).toBeUndefined();
    expect(podNameTagProblem(100, ranged, [ranged], 'gw-100')).toBe(
      'VLAN 100 from pod name "gw-100" is outside VLAN range 20-99 of network frontend',
    );
  });
});

describe('config: pod-name VLAN ranges', () => {
  const text = (frontendVlan: string, storageVlan = '{ id: 300 }') => `networks:
  - { name: frontend, bridge: br-edge, interface: net1, vlan: ${frontendVlan} }
  - { name: storage, bridge: br-edge, interface: net2, vlan: ${storageVlan} }
`;
  const refusal = (t: string) => {
    try {
      parseConfig(t, '/etc/podvlan/podvlan.yaml');
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as Error).message;
    }
    throw new Error('accepted');
  };

  it('keeps the range it is given, and a config without one stays valid', () => {
    expect(
      parseConfig(text(String.raw`{ fromPodName: '^gw-(\d+)$', range: "20-99" }`), '/x.yaml').networks[0].vlan,
    ).toEqual({ fromPodName: '^gw-(\\d+)$', range: '20-99' });
    expect(parseConfig(text(String.raw`{ fromPodName: '^gw-(\d+)$' }`), '/x.yaml').networks[0].vlan).toEqual({
      fromPodName: '^gw-(\\d+)$',
    });
  });

  it('refuses a range that overlaps another network on the bridge, naming both and the bridge', () => {
    expect(refusal(text(String.raw`{ fromPodName: '^gw-(\d+)$', range: "200-399" }`))).toMatch(
      /networks\.1\.vlan: network storage's VLAN 300 overlaps network frontend's VLAN range 200-399 on bridge br-edge$/,
    );
  });

  it.each([
    ['"lots"', /VLAN range "lots" is not a range like "100-199"/],
    ['"99-20"', /99 is after 20/],
    ['"1-4095"', /4095 is outside 1-4094/],
    ['7', /must be a range like "20-99"/],
  ])('refuses range %s', (range, what) => {
    expect(refusal(text(String.raw`{ fromPodName: '^gw-(\d+)$', range: ${range} }`))).toMatch(what);
  });
});
