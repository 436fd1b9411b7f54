// Address pool usage per network: how many addresses the pool hands out, how many are held, how
// many are left. host-local and static count this node's lease files; etcd counts the cluster's
// address keys, all networks in one read, waited for at most a bound: a down or slow etcd makes
// its networks' usage unknown (a problem of those networks), never a failed view. Read only.
import { type Config, type Ipam, type Network, poolOfFamily } from '../config/schema';
import { op, rangeKvs } from '../etcd/client';
import { type Cluster, leaseDirFor } from '../ipam';
import { ipamKeys } from '../ipam/etcd-keys';
import { hostRange, parseIpv4, parsePrefix } from '../ipam/ipv4';
import { isIpv4 } from '../names';
import type { PoolUsage, Problem } from './model';

export interface PoolResult {
  pool?: PoolUsage;
  problem?: Problem;
}

/** The addresses a pool hands out, as a test and a count (no list: a /8 has 16M of them). */
export function poolSpan(ipam: Ipam): { size: number; hands: (ip: number) => boolean } {
  if (ipam.type === 'static') {
    const ip = parsePrefix(ipam.address).address;
    return { size: 1, hands: (v) => v === ip };
  }
  const [lo, hi] = hostRange(parsePrefix(ipam.subnet));
  const first = ipam.rangeStart ? parseIpv4(ipam.rangeStart) : lo;
  const last = ipam.rangeEnd ? parseIpv4(ipam.rangeEnd) : hi;
  const fixed = new Set(ipam.type === 'etcd' ? (ipam.fixed ?? []).map((f) => parseIpv4(f.address)) : []);
  // Fixed addresses are never handed out dynamically, but are handed to their pods.
  const skip = new Set([...(ipam.gateway ? [ipam.gateway] : []), ...ipam.exclude].map(parseIpv4));
  for (const f of fixed) skip.add(f);
  const skipped = [...skip].filter((v) => v >= first && v <= last).length;
  return {
    size: last - first + 1 - skipped + fixed.size,
    hands: (v) => fixed.has(v) || (v >= first && v <= last && !skip.has(v)),
  };
}

/** Usage from the held addresses (a.b.c.d texts). */
export function usageOf(ipam: Ipam, given: string[]): PoolUsage {
  const { size, hands } = poolSpan(ipam);
  const held = given.filter(isIpv4); // the IPv4 pool's (a dual-stack network's IPv6 leases share the directory)
  const inPool = held.filter((a) => hands(parseIpv4(a))).length;
  return {
    type: ipam.type,
    ...(ipam.type === 'static' ? { subnet: ipam.address } : { subnet: ipam.subnet }),
    size,
    used: held.length,
    free: Math.max(0, size - inPool),
  };
}

/** Each network's pool usage (networks without ipam have none). The IPv4 pool's, as before
 * dual-stack: the views' IPv6 side is another change's (issue 13). */
export async function readPools(
  config: Pick<Config, 'networks' | 'stateDir'>,
  cluster: Cluster | undefined,
  boundMs: number,
): Promise<Map<string, PoolResult>> {
  const out = new Map<string, PoolResult>();
  const etcdNets: Network[] = [];
  for (const n of config.networks) {
    const ipam = poolOfFamily(n, 4);
    if (!ipam) continue;
    if (ipam.type === 'etcd') etcdNets.push(n);
    else out.set(n.name, nodeLocal(n, ipam, config.stateDir));
  }
  if (etcdNets.length > 0) for (const [name, r] of await clusterPools(etcdNets, cluster, boundMs)) out.set(name, r);
  return out;
}

function nodeLocal(n: Network, ipam: Ipam, stateDir: string): PoolResult {
  try {
    return { pool: usageOf(ipam, [...leaseDirFor(stateDir, n.name).taken()]) };
  } catch (err) {
    return { problem: { code: 'pool-unreadable', message: `leases of ${n.name}: ${(err as Error).message}` } };
  }
}

async function clusterPools(nets: Network[], cluster: Cluster | undefined, boundMs: number) {
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
      const held = rangeKvs(res.responses[i])
        .map((kv) => kv.key.slice(dirs[i].length))
        .filter(isIpv4);
      out.set(n.name, { pool: usageOf(poolOfFamily(n, 4)!, held) });
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
