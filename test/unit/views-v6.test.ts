// Pool usage of IPv6 and dual-stack networks (issue 13): counts beyond 2^53 stay exact, a pool
// counts only its own family's leases, and a dual-stack network shows one usage per pool.
import { describe, expect, it } from 'vitest';
import { networkRow } from '../../src/commands/networks';
import type { Ipam } from '../../src/config/schema';
import { compareIp, parseIp } from '../../src/ipam/ip';
import type { NetworkView } from '../../src/view/model';
import { countText, poolSpan, usageOf } from '../../src/view/pools';

const v6 = { type: 'host-local', subnet: 'fd00:20::/64', gateway: 'fd00:20::1', exclude: [], routes: [] } as Ipam;
const v4 = { type: 'host-local', subnet: '10.20.0.0/24', gateway: '10.20.0.1', exclude: [], routes: [] } as Ipam;

describe('IPv6 pool usage', () => {
  it('counts a /64 exactly: 2^64 less the Subnet-Router anycast address and the gateway', () => {
    expect(poolSpan(v6).size).toBe(2n ** 64n - 2n);
    expect(poolSpan({ ...v6, subnet: 'fd00:20::/126' } as Ipam).size).toBe(2n);
    expect(poolSpan({ type: 'static', address: 'fd00:30::5/64', routes: [] } as Ipam).size).toBe(1n);
    const etcd = { ...v6, type: 'etcd', fixed: [{ namespace: 'a', pod: 'b', address: 'fd00:20::5' }] } as Ipam;
    expect(poolSpan(etcd).size).toBe(2n ** 64n - 2n);
    expect(poolSpan({ ...v6, rangeStart: 'fd00:20::10', rangeEnd: 'fd00:20::1f' } as Ipam).size).toBe(16n);
  });

  it("counts only the pool's own family of the leases in a shared directory, exact beyond 2^53", () => {
    const held = ['10.20.0.2', 'fd00:20::2', 'fd00:20::3'];
    expect(usageOf(v6, held)).toEqual({
      type: 'host-local',
      subnet: 'fd00:20::/64',
      size: 2 ** 64,
      used: 2,
      free: 2 ** 64,
      sizeExact: '18446744073709551614',
      freeExact: '18446744073709551612',
    });
    expect(usageOf(v4, held)).toEqual({ type: 'host-local', subnet: '10.20.0.0/24', size: 253, used: 1, free: 252 });
  });

  it('prints counts exactly: decimal below 2^53, then 2^N or 2^N-k', () => {
    expect(countText(253)).toBe('253');
    expect(countText(2 ** 53 - 1)).toBe('9007199254740991');
    expect(countText(2 ** 53)).toBe('2^53');
    expect(countText(0, '18446744073709551614')).toBe('2^64-2');
    expect(countText(0, (2n ** 64n).toString())).toBe('2^64');
    expect(countText(0, (2n ** 120n - 2n ** 40n).toString())).toBe('2^120-1099511627776');
    expect(countText(0, (2n ** 120n - 2n ** 60n).toString())).toBe((2n ** 120n - 2n ** 60n).toString());
    expect(countText(0, (2n ** 120n + 1n).toString())).toBe((2n ** 120n + 1n).toString());
  });

  it('shows a dual-stack network as one usage per pool, named by family', () => {
    const pools = [usageOf(v4, ['10.20.0.2', 'fd00:20::2']), usageOf(v6, ['10.20.0.2', 'fd00:20::2'])];
    const n: NetworkView = {
      name: 'dual',
      bridge: 'br0',
      vlanSource: 'id',
      declared: '20',
      inUse: [],
      uplinks: [],
      pool: pools[0],
      pools,
      attachments: { ok: 1, broken: 0 },
      problems: [],
    };
    expect(networkRow(n, [])[6]).toBe('IPv4 1 used, 252 free of 253; IPv6 1 used, 2^64-3 free of 2^64-2');
    expect(networkRow({ ...n, pools: [pools[1]], pool: pools[1] }, [])[6]).toBe('1 used, 2^64-3 free of 2^64-2');
  });

  it('orders addresses IPv4 first, then by value', () => {
    const sorted = ['fd00::10', '10.0.0.10', 'fd00::9', '10.0.0.9'].map(parseIp).sort(compareIp);
    expect(sorted.map((ip) => `${ip.family}:${ip.value}`)).toEqual([
      `4:${parseIp('10.0.0.9').value}`,
      `4:${parseIp('10.0.0.10').value}`,
      `6:${parseIp('fd00::9').value}`,
      `6:${parseIp('fd00::10').value}`,
    ]);
  });
});
