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

/** A pool's family: its subnet's (a static pool's: its address's). */
export function poolFamily(pool: { type: 'static'; address: string } | { type: string; subnet: string }): Family {
  return familyOfText('address' in pool ? pool.address : pool.subnet);
}

/** Whether any of the network's pools lives in etcd (it then needs the cluster client). */
export function hasEtcdPool(network: Pick<Network, 'ipam'>): boolean {
  return ipamPools(network).some((p) => p.type === 'etcd');
}

/** The network's pool of that family, if it has one. */
export function poolOfFamily(network: Pick<Network, 'ipam'>, family: Family): Ipam | undefined {
  return ipamPools(network).find((p) => poolFamily(p) === family);
}
