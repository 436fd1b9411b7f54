// Reading a network's address pools, whichever shape its `ipam` has. Free of zod on purpose: the
// hot paths (setup, teardown, CNI ADD/DEL) read pools through this from a cached config, and
// importing config/schema.ts for a value would build the whole zod schema at start-up (~25 ms).
import type { Ipam, Network } from './schema';
import { type Family, familyOfText } from '../ipam/ip';

/** A network's address pools: none, one, or one per family (dual-stack). The one way code reads `ipam`. */
export function ipamPools(network: Pick<Network, 'ipam'>): Ipam[] {
  const ipam = network.ipam;
  return Array.isArray(ipam) ? ipam : ipam ? [ipam] : [];
}

type PoolPrefix = { type: 'static'; address: string } | { type: string; subnet: string };

/** A pool's prefix: its subnet (a static pool's: its address/len). */
export function poolPrefix(pool: PoolPrefix): string {
  return 'address' in pool ? pool.address : pool.subnet;
}

/** A pool's family: its prefix's. */
export function poolFamily(pool: PoolPrefix): Family {
  return familyOfText(poolPrefix(pool));
}

/** Whether any of the network's pools lives in etcd (it then needs the cluster client). */
export function hasEtcdPool(network: Pick<Network, 'ipam'>): boolean {
  return ipamPools(network).some((p) => p.type === 'etcd');
}

/** The network's pool of that family, if it has one. */
export function poolOfFamily(network: Pick<Network, 'ipam'>, family: Family): Ipam | undefined {
  return ipamPools(network).find((p) => poolFamily(p) === family);
}
