// Address pool usage per network: how many addresses the pool hands out, how many are held, how
// many are left. host-local and static count this node's lease files; etcd counts the cluster's
// address keys, all networks in one read, waited for at most a bound: a down or slow etcd makes
// its networks' usage unknown (a problem of those networks), never a failed view. Read only.
// Either family: counts are bigint inside; a dual-stack network has one usage per pool.
import type { Config, Ipam, Network } from '../config/schema';
import { ipamPools, poolFamily } from '../config/pools';
import { op, rangeKvs } from '../etcd/client';
import { type Cluster, leaseDirFor } from '../ipam';
import { ipamKeys } from '../ipam/etcd-keys';
import { type Ip, parseIp, parseIpPrefix, poolHostRange, tryParseIp } from '../ipam/ip';
import { isLeaseName } from '../ipam/lease-dir';
import type { PoolUsage, Problem } from './model';

export interface PoolResult {
  pools?: PoolUsage[]; // one per pool, in config order (a dual-stack network's IPv4 one first)
  problem?: Problem;
}

/** The addresses a pool hands out, as a test and a count (no list: a /8 has 16M of them, a /64 2^64). */
export function poolSpan(ipam: Ipam): { size: bigint; hands: (ip: Ip) => boolean } {
  const family = poolFamily(ipam);
  if (ipam.type === 'static') {
    const ip = parseIpPrefix(ipam.address).address.value;
    return { size: 1n, hands: (v) => v.family === family && v.value === ip };
  }
  const [lo, hi] = poolHostRange(parseIpPrefix(ipam.subnet));
  const first = ipam.rangeStart ? parseIp(ipam.rangeStart).value : lo.value;
  const last = ipam.rangeEnd ? parseIp(ipam.rangeEnd).value : hi.value;
  const fixed = new Set(ipam.type === 'etcd' ? (ipam.fixed ?? []).map((f) => parseIp(f.address).value) : []);
  // Fixed addresses are never handed out dynamically, but are handed to their pods.
  const skip = new Set([...(ipam.gateway ? [ipam.gateway] : []), ...ipam.exclude].map((a) => parseIp(a).value));
  for (const f of fixed) skip.add(f);
  const skipped = BigInt([...skip].filter((v) => v >= first && v <= last).length);
  return {
    size: last - first + 1n - skipped + BigInt(fixed.size),
    hands: (v) =>
      v.family === family && (fixed.has(v.value) || (v.value >= first && v.value <= last && !skip.has(v.value))),
  };
}

/** Usage from the held addresses (texts of either family: only the pool's own family counts). */
export function usageOf(ipam: Ipam, held: string[]): PoolUsage {
  const { size, hands } = poolSpan(ipam);
  const family = poolFamily(ipam);
  const mine = held.flatMap((a) => {
    const ip = tryParseIp(a);
    return ip?.family === family ? [ip] : [];
  });
  const inPool = BigInt(mine.filter(hands).length);
  const free = size > inPool ? size - inPool : 0n;
  return {
    type: ipam.type,
    ...(ipam.type === 'static' ? { subnet: ipam.address } : { subnet: ipam.subnet }),
    size: Number(size),
    used: mine.length,
    free: Number(free),
    // Beyond 2^53 a JSON number (a double) is no longer exact: the exact count goes beside it.
    ...(size > MAX_EXACT ? { sizeExact: size.toString() } : {}),
    ...(free > MAX_EXACT ? { freeExact: free.toString() } : {}),
  };
}

const MAX_EXACT = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * A count as the tables print it, exact and short: decimal below 2^53, from there 2^N or 2^N-k
 * (a /64 pool with a gateway hands out 2^64-2 addresses), decimal again if k itself is that large.
 */
export function countText(n: number, exact?: string): string {
  const v = exact !== undefined ? BigInt(exact) : BigInt(n);
  if (v <= MAX_EXACT) return v.toString();
  const bits = (v - 1n).toString(2).length; // the smallest N with 2^N >= v
  const k = (1n << BigInt(bits)) - v;
  if (k === 0n) return `2^${bits}`;
  return k <= MAX_EXACT ? `2^${bits}-${k}` : v.toString();
}

/** Each network's pool usage (networks without ipam have none). */
export async function readPools(
  config: Pick<Config, 'networks' | 'stateDir'>,
  cluster: Cluster | undefined,
  boundMs: number,
): Promise<Map<string, PoolResult>> {
  const out = new Map<string, PoolResult>();
  const etcdNets: Network[] = [];
  for (const n of config.networks) {
    const pools = ipamPools(n);
    if (pools.length === 0) continue;
    if (pools.some((p) => p.type === 'etcd')) etcdNets.push(n);
    else out.set(n.name, nodeLocal(n, pools, config.stateDir));
  }
  if (etcdNets.length > 0)
    for (const [name, r] of await clusterPools(etcdNets, cluster, boundMs, config.stateDir)) out.set(name, r);
  return out;
}

function nodeLocal(n: Network, pools: Ipam[], stateDir: string): PoolResult {
  try {
    const held = [...leaseDirFor(stateDir, n.name).taken()];
    return { pools: pools.map((p) => usageOf(p, held)) };
  } catch (err) {
    return { problem: { code: 'pool-unreadable', message: `leases of ${n.name}: ${(err as Error).message}` } };
  }
}

/** Networks with an etcd pool (a dual-stack one may pair it with a node-local pool: read both). */
async function clusterPools(nets: Network[], cluster: Cluster | undefined, boundMs: number, stateDir: string) {
  const out = new Map<string, PoolResult>();
  const unreadable = (why: string) => {
    for (const n of nets)
      out.set(n.name, { problem: { code: 'pool-unreadable', message: `addresses of ${n.name} in etcd: ${why}` } });
    return out;
  };
  if (!cluster) return unreadable('no etcd configured');
  const dirs = nets.map((n) => ipamKeys(cluster.prefix, n.name).ipDir);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const bound = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), boundMs);
  });
  try {
    const read = cluster.client.txn({ success: dirs.map((d) => op.rangePrefix(d, { keysOnly: true })) });
    const res = await Promise.race([read, bound]);
    if (res === 'late') return unreadable(`etcd did not answer within ${boundMs} ms`);
    nets.forEach((n, i) => {
      const inEtcd = rangeKvs(res.responses[i])
        .map((kv) => kv.key.slice(dirs[i].length))
        .filter((k) => isLeaseName(k));
      const pools = ipamPools(n);
      const local = pools.some((p) => p.type !== 'etcd') ? [...leaseDirFor(stateDir, n.name).taken()] : [];
      out.set(n.name, { pools: pools.map((p) => usageOf(p, p.type === 'etcd' ? inEtcd : local)) });
    });
    return out;
  } catch (err) {
    return unreadable((err as Error).message);
  } finally {
    clearTimeout(timer);
  }
}

/** pool-exhausted: nothing left to hand out (a delegate's range is not known: never judged). */
export function checkPool(network: string, pool: PoolUsage | undefined): Problem | undefined {
  if (!pool || pool.type === 'delegated' || pool.free > 0) return undefined;
  return {
    code: 'pool-exhausted',
    message: `address pool ${pool.subnet ?? ''} of ${network} has no free address (${pool.used} used of ${pool.size})`,
  };
}
