// Which family a diagnose path is followed in, and an end's address of it (src/diagnose/family.ts).
import { describe, expect, it } from 'vitest';
import type { Network } from '../../src/config/schema';
import { ofFamily, pathFamily, poolHolds, recordedList } from '../../src/diagnose/family';

const dual = {
  name: 'n',
  ipam: [
    { type: 'host-local', subnet: '10.1.0.0/24' },
    { type: 'host-local', subnet: 'fd00:1::/64' },
  ],
} as unknown as Network;

describe('the path family', () => {
  it('IPv4 unless the source has only IPv6 there', () => {
    expect(pathFamily(['10.1.0.2/24', 'fd00:1::2/64'])).toBe(4);
    expect(pathFamily(['fd00:1::2/64'])).toBe(6);
    expect(pathFamily([])).toBe(4);
  });

  it("an end's address of one family; a record's addresses, old `ip` or `ips`, malformed ones left out", () => {
    expect(ofFamily(['10.1.0.2/24', 'fd00:1::2/64'], 6)).toBe('fd00:1::2/64');
    expect(ofFamily(['fd00:1::2/64'], 4)).toBeUndefined();
    expect(recordedList({ ip: '10.1.0.2/24' })).toEqual(['10.1.0.2/24']);
    expect(recordedList({ ips: ['10.1.0.2/24', 'fd00:1::2/64', 7, 'x/1'] })).toEqual(['10.1.0.2/24', 'fd00:1::2/64']);
    expect(recordedList(undefined)).toEqual([]);
  });

  it("which network's pool of the address's family holds it", () => {
    expect(poolHolds(dual, 'fd00:1::99')).toBe(true);
    expect(poolHolds(dual, 'fd00:2::1')).toBe(false);
    expect(poolHolds(dual, '10.1.0.9')).toBe(true);
    expect(
      poolHolds({ ...dual, ipam: { type: 'host-local', subnet: '10.1.0.0/24' } } as unknown as Network, 'fd00:1::1'),
    ).toBe(false);
  });
});
