// The etcd allocator alone, IPv4 beside IPv6 (issue 13): 3 nodes x N concurrent acquisitions
// on one etcd, from this process, on an IPv4 /16 (scanned: a snapshot of the taken keys, then a
// compare-and-swap) and an IPv6 /64 (probed: the compare-and-swap alone). The two families run
// in alternating rounds on the same etcd, each round on a fresh, empty prefix, so both see the
// same machine state; the releases are not timed. `BENCH_ONLY=etcd-alloc` runs this row alone.
import { EtcdClient } from '../src/etcd/client';
import { EtcdAddressPool, type EtcdIpamNetwork } from '../src/ipam/etcd-pool';

export interface AllocRow {
  allocations: number; // per round
  concurrency: number; // per node
  rounds: number;
  perSecond: number[]; // one per round
  p50: number; // median allocations/s
  casPerAllocation: number; // compare-and-swaps per allocation (lost races included)
}

const SPECS: Record<'IPv4 /16' | 'IPv6 /64', EtcdIpamNetwork> = {
  'IPv4 /16': { name: 'alloc', subnet: '10.243.0.0/16', exclude: [], routes: [] },
  'IPv6 /64': { name: 'alloc', subnet: 'fd00:243::/64', exclude: [], routes: [] },
};

export async function allocatorBench(url: string, concurrency = 50, rounds = 5): Promise<Record<string, AllocRow>> {
  const clients = ['n1', 'n2', 'n3'].map(() => new EtcdClient({ endpoints: [url], timeoutMs: 10000 }));
  const out: Record<string, AllocRow> = {};
  try {
    for (let r = 0; r < rounds; r++) {
      for (const [label, spec] of Object.entries(SPECS)) {
        const prefix = `/podvlan-bench-alloc/${r}-${label.replace(/\W/g, '')}`;
        const pools = clients.map((c, n) => new EtcdAddressPool(c, prefix, spec, `n${n + 1}`));
        const owners = pools.flatMap((pool, n) =>
          Array.from({ length: concurrency }, (_, i) => ({
            pool,
            owner: {
              network: 'alloc',
              namespace: 'bench',
              pod: `p${n}-${i}`,
              containerId: (n * 1000 + i).toString(16).padStart(12, '0'),
              interface: 'eth1',
            },
          })),
        );
        const started = performance.now();
        await Promise.all(owners.map(({ pool, owner }) => pool.acquire(owner)));
        const wallMs = performance.now() - started;
        await Promise.all(owners.map(({ pool, owner }) => pool.release(owner)));
        out[label] ??= { allocations: owners.length, concurrency, rounds, perSecond: [], p50: 0, casPerAllocation: 0 };
        const row = out[label];
        row.perSecond.push(owners.length / (wallMs / 1000));
        row.casPerAllocation += pools.reduce((n, p) => n + p.stats.attempts, 0) / owners.length / rounds;
      }
    }
  } finally {
    clients.forEach((c) => c.close());
  }
  for (const row of Object.values(out)) {
    const sorted = [...row.perSecond].sort((a, b) => a - b);
    row.p50 = sorted[Math.floor(sorted.length / 2)];
  }
  return out;
}

export function printAllocRows(rows: Record<string, AllocRow>): void {
  for (const [label, r] of Object.entries(rows))
    console.log(
      `etcd allocator ${label}: 3 nodes x ${r.concurrency} at once, p50 ${r.p50.toFixed(0)} allocations/s over ${r.rounds} rounds (${r.perSecond.map((x) => x.toFixed(0)).join(', ')}), ${r.casPerAllocation.toFixed(2)} compare-and-swaps per allocation`,
    );
}
