import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../src/errors';
import { PoolRange, type RangeSpec } from '../../src/ipam/etcd-range';
import { parseIp } from '../../src/ipam/ip';

const spec = (s: Partial<RangeSpec>): RangeSpec => ({ name: 'net', subnet: 'fd00:20::/64', exclude: [], ...s });

describe('the range of an etcd pool', () => {
  it('keeps IPv4 as it was: host addresses, scanned whatever the size', () => {
    const r = new PoolRange(spec({ subnet: '10.0.0.0/8' }));
    expect([r.family, r.text(), r.size, r.probed]).toEqual([4, '10.0.0.1-10.255.255.254', 16777214n, false]);
    expect([r.textAt(0), r.textAt(255)]).toEqual(['10.0.0.1', '10.0.1.0']);
    const small = new PoolRange(spec({ subnet: '10.1.0.0/24', rangeStart: '10.1.0.10', rangeEnd: '10.1.0.11' }));
    expect([small.text(), small.size]).toEqual(['10.1.0.10-10.1.0.11', 2n]);
  });

  it('probes an IPv6 range above 65536 addresses and scans one up to that', () => {
    const wide = new PoolRange(spec({}));
    expect([wide.text(), wide.size, wide.probed]).toEqual([
      'fd00:20::1-fd00:20::ffff:ffff:ffff:ffff',
      2n ** 64n - 1n,
      true,
    ]);
    const at112 = new PoolRange(spec({ subnet: 'fd00:20::/112' })); // the Subnet-Router anycast address left out
    expect([at112.size, at112.probed]).toEqual([65535n, false]);
    const line = new PoolRange(spec({ rangeStart: 'fd00:20::1:0', rangeEnd: 'fd00:20::1:ffff' }));
    expect([line.size, line.probed]).toEqual([65536n, false]);
    const above = new PoolRange(spec({ rangeStart: 'fd00:20::1:0', rangeEnd: 'fd00:20::2:0' }));
    expect([above.size, above.probed]).toEqual([65537n, true]);
    expect([line.textAt(0), line.textAt(0xffff)]).toEqual(['fd00:20::1:0', 'fd00:20::1:ffff']);
  });

  it('probes inside rangeStart-rangeEnd only, and spreads over it', () => {
    const r = new PoolRange(spec({ rangeStart: 'fd00:20::1:0', rangeEnd: 'fd00:20::2:ffff' }));
    const tried = Array.from({ length: 500 }, (_, t) => r.probeAt(`n/c/eth1/${t}`));
    for (const a of tried) expect(r.inRange(a)).toBe(true);
    expect(new Set(tried.map((a) => a.split(':').at(-2))).size).toBe(2); // both halves
  });

  it('keeps gateway, excluded and fixed addresses canonical, however written', () => {
    const r = new PoolRange(
      spec({ gateway: 'FD00:20::0001', exclude: ['fd00:20:0:0::53'], fixed: [{ address: 'fd00:20::00aa' }] }),
    );
    expect([...r.skip]).toEqual(['fd00:20::1', 'fd00:20::53', 'fd00:20::aa']);
  });

  it('takes an address written any way, with or without its length, inside the subnet only', () => {
    const r = new PoolRange(spec({ rangeStart: 'fd00:20::10', rangeEnd: 'fd00:20::20' }));
    expect(r.canonical('FD00:20:0::0015/64')).toBe('fd00:20::15');
    expect([r.inRange('fd00:20::15'), r.inRange('fd00:20::21'), r.inRange('fd00:20::f')]).toEqual([true, false, false]);
    expect(() => r.canonical('fd00:21::1')).toThrow(
      new InvalidInputError('address fd00:21::1 is outside subnet fd00:20::/64 of network net'),
    );
    expect(() => r.canonical('10.0.0.1')).toThrow(InvalidInputError);
    expect(() => r.canonical('fd00::g')).toThrow('invalid IPv6 address "fd00::g"');
    expect(() => new PoolRange(spec({ gateway: '10.0.0.1' }))).toThrow(
      'address 10.0.0.1 is not an IPv6 address of network net',
    );
  });

  it('covers a range beyond 2^64 (a /48) without losing its upper bits', () => {
    const r = new PoolRange(spec({ subnet: 'fd00:20::/48' }));
    expect(r.size).toBe(2n ** 80n - 1n);
    const high = Array.from({ length: 50 }, (_, t) => r.probeAt(`x/${t}`)).filter(
      (a) => parseIp(a).value >> 64n !== parseIp('fd00:20::').value >> 64n,
    );
    expect(high.length).toBeGreaterThan(0);
  });
});
