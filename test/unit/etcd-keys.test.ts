import { describe, expect, it } from 'vitest';
import {
  candidateOrder,
  firstFree,
  ipamKeys,
  jitterMs,
  keyAddress,
  normalizePrefix,
  parseIpKey,
  parseRecord,
  probeOffset,
  SCAN_LIMIT,
  seedOf,
  vlanKeys,
} from '../../src/ipam/etcd-keys';
import { parseVlanRange, vlanRangesOverlap } from '../../src/ipam/vlan';
import { InvalidInputError } from '../../src/errors';

describe('etcd key layout', () => {
  it('normalizes the prefix', () => {
    expect(normalizePrefix('/podvlan')).toBe('/podvlan');
    expect(normalizePrefix('/podvlan/')).toBe('/podvlan');
    expect(normalizePrefix('podvlan')).toBe('/podvlan');
    expect(normalizePrefix('/a/b//')).toBe('/a/b');
  });

  it('builds the address keys', () => {
    const k = ipamKeys('/podvlan/', 'tenant');
    expect(k.ip('10.0.0.2')).toBe('/podvlan/ipam/tenant/ip/10.0.0.2');
    expect(k.ipDir).toBe('/podvlan/ipam/tenant/ip/');
    expect(k.owner('abc123abc123', 'eth1')).toBe('/podvlan/ipam/tenant/owner/abc123abc123/eth1');
    expect(k.ownerDir).toBe('/podvlan/ipam/tenant/owner/');
  });

  it('gives each family its own owner key, neither directory a prefix of the other', () => {
    const k = ipamKeys('/podvlan', 'tenant');
    expect(k.ip('fd00:20::5')).toBe('/podvlan/ipam/tenant/ip/fd00:20::5');
    expect(k.owner('abc123abc123', 'eth1', 4)).toBe('/podvlan/ipam/tenant/owner/abc123abc123/eth1');
    expect(k.owner('abc123abc123', 'eth1', 6)).toBe('/podvlan/ipam/tenant/owner6/abc123abc123/eth1');
    expect(k.owner6Dir).toBe('/podvlan/ipam/tenant/owner6/');
    expect(k.owner('abc123abc123', 'eth1', 6).startsWith(k.ownerDir)).toBe(false);
    expect(k.owner('abc123abc123', 'eth1', 4).startsWith(k.owner6Dir)).toBe(false);
  });

  it('takes back an address from a key or value only in the canonical form podvlan writes', () => {
    expect(keyAddress('10.0.0.2')).toBe('10.0.0.2');
    expect(keyAddress('fd00:20::5')).toBe('fd00:20::5');
    expect(keyAddress('fd00:20::5', 6)).toBe('fd00:20::5');
    expect(keyAddress('fd00:20::5', 4)).toBeUndefined();
    expect(keyAddress('10.0.0.2', 6)).toBeUndefined();
    for (const bad of [
      'FD00:20::5',
      'fd00:20:0:0:0:0:0:5',
      'fd00:20::05',
      '010.0.0.2',
      '10.0.0.256',
      '',
      '../x',
      'fd00::/64',
    ])
      expect(keyAddress(bad)).toBeUndefined();
  });

  it('parses IPv6 address keys back', () => {
    expect(parseIpKey('/podvlan', '/podvlan/ipam/tenant/ip/fd00:20::5')).toEqual({
      network: 'tenant',
      address: 'fd00:20::5',
    });
    expect(parseIpKey('/podvlan', '/podvlan/ipam/tenant/owner6/abc/eth1')).toBeUndefined();
  });

  it('builds the VLAN keys', () => {
    const k = vlanKeys('/podvlan', 'tenant');
    expect(k.tag(100)).toBe('/podvlan/vlan/tenant/tag/100');
    expect(k.tagDir).toBe('/podvlan/vlan/tenant/tag/');
    expect(k.by('shop')).toBe('/podvlan/vlan/tenant/by/shop');
    expect(k.by('shop/web-1')).toBe('/podvlan/vlan/tenant/by/shop/web-1');
    expect(k.member('shop', 'c0ffee')).toBe('/podvlan/vlan/tenant/member/shop/c0ffee');
    expect(k.memberDir('shop')).toBe('/podvlan/vlan/tenant/member/shop/');
    // One holder's member directory never covers another's.
    expect(k.member('shop2', 'c0ffee').startsWith(k.memberDir('shop'))).toBe(false);
  });

  it('parses address keys back', () => {
    expect(parseIpKey('/podvlan', '/podvlan/ipam/tenant/ip/10.0.0.2')).toEqual({
      network: 'tenant',
      address: '10.0.0.2',
    });
    expect(parseIpKey('/podvlan', '/podvlan/ipam/tenant/owner/abc/eth1')).toBeUndefined();
    expect(parseIpKey('/podvlan', '/other/ipam/tenant/ip/10.0.0.2')).toBeUndefined();
  });

  it('parses records, and nothing but objects', () => {
    expect(parseRecord('{"a":1}')).toEqual({ a: 1 });
    for (const bad of ['', 'x', '[1]', 'null', '3']) expect(parseRecord(bad)).toBeUndefined();
  });
});

describe('candidate order', () => {
  it('visits every value once, starting at first + seed mod size and wrapping', () => {
    expect([...candidateOrder(10, 14, 0)]).toEqual([10, 11, 12, 13, 14]);
    expect([...candidateOrder(10, 14, 7)]).toEqual([12, 13, 14, 10, 11]);
    expect([...candidateOrder(5, 5, 123)]).toEqual([5]);
    expect([...candidateOrder(5, 4, 1)]).toEqual([]);
    const all = [...candidateOrder(1, 4094, seedOf('x'))];
    expect(new Set(all).size).toBe(4094);
  });

  it('returns the first free value in that order, or undefined', () => {
    const taken = new Set([12, 13]);
    expect(firstFree(10, 14, 7, (v) => !taken.has(v))).toBe(14);
    expect(firstFree(10, 14, 2, (v) => !taken.has(v))).toBe(14);
    expect(firstFree(10, 14, 0, () => false)).toBeUndefined();
  });

  it('spreads seeds: different owners start at different points', () => {
    const starts = new Set(
      Array.from({ length: 100 }, (_, i) => firstFree(0, 999, seedOf(`node-a/c${i}/eth1/0`), () => true)),
    );
    expect(starts.size).toBeGreaterThan(90);
    expect(seedOf('a')).toBe(seedOf('a'));
    expect(seedOf('a')).not.toBe(seedOf('b'));
    expect(seedOf('anything')).toBeLessThan(2 ** 48);
  });

  it('probes a large range at hashed offsets: inside it, spread, fresh per try, repeatable', () => {
    const size = 1n << 64n;
    const offsets = Array.from({ length: 1000 }, (_, t) => probeOffset(`node-a/c1/eth1/${t}`, size));
    for (const o of offsets) expect(o >= 0n && o < size).toBe(true);
    expect(new Set(offsets).size).toBe(1000);
    // Spread over the whole range: every eighth of it gets some.
    const eighths = new Set(offsets.map((o) => Number(o / (size / 8n))));
    expect(eighths.size).toBe(8);
    expect(probeOffset('x', size)).toBe(probeOffset('x', size));
    // Beyond 2^64 (a /48), offsets reach past the first 2^64.
    const big = 1n << 80n;
    const far = Array.from({ length: 100 }, (_, t) => probeOffset(`n/c/e/${t}`, big));
    expect(far.some((o) => o >= 1n << 64n)).toBe(true);
    for (const o of far) expect(o < big).toBe(true);
    expect(probeOffset('anything', 1n)).toBe(0n);
    expect(SCAN_LIMIT).toBe(65536n);
  });

  it('backs off by a random, growing and capped pause', () => {
    expect(jitterMs(0, () => 0.999)).toBe(4);
    expect(jitterMs(3, () => 0.5)).toBe(20);
    expect(jitterMs(20, () => 0.999)).toBe(249);
    expect(jitterMs(5, () => 0)).toBe(0);
  });
});

describe('parseVlanRange', () => {
  it.each([
    ['100-199', 100, 199],
    ['1-4094', 1, 4094],
    ['7', 7, 7],
    [' 10 - 20 ', 10, 20],
    ['5-5', 5, 5],
  ])('parses %s', (text, first, last) => {
    expect(parseVlanRange(text)).toEqual({ first, last });
  });

  it.each([
    ['0-10', /0 is outside 1-4094/],
    ['100-4095', /4095 is outside 1-4094/],
    ['200-100', /200 is after 100/],
    ['abc', /not a range like "100-199"/],
    ['100-', /not a range/],
    ['-5', /not a range/],
    ['1-2-3', /not a range/],
  ])('refuses %s', (text, what) => {
    expect(() => parseVlanRange(text)).toThrow(InvalidInputError);
    expect(() => parseVlanRange(text)).toThrow(what);
  });

  it('tells overlapping ranges', () => {
    expect(vlanRangesOverlap({ first: 100, last: 199 }, { first: 199, last: 300 })).toBe(true);
    expect(vlanRangesOverlap({ first: 100, last: 199 }, { first: 200, last: 300 })).toBe(false);
    expect(vlanRangesOverlap({ first: 150, last: 160 }, { first: 100, last: 199 })).toBe(true);
  });
});
