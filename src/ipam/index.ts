// Picks the address pool a network's config asks for.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { nodeName } from '../config/node-name';
import type { Config, Ipam, Network } from '../config/schema';
import { ipamPools, poolFamily } from '../config/pools';
import { EtcdClient } from '../etcd/client';
import { ConfigError, InvalidInputError } from '../errors';
import { isDns1123Label, quote } from '../names';
import { EtcdAddressPool } from './etcd-pool';
import { HostLocalPool } from './host-local';
import type { Family } from './ip';
import { LeaseDir, type LeaseRecord } from './lease-dir';
import { type AddressPool, isValidOwner } from './pool';
import { StaticPool } from './static';
import { EtcdVlanPool } from './vlan-pool';

export type { AddressPool, AddressRequest, Lease, Owner } from './pool';
export { isPooledVlan, vlanFor } from './vlan';
export { EtcdAddressPool } from './etcd-pool';
export { EtcdVlanPool } from './vlan-pool';

/** What the etcd-backed pools need: a client, the key prefix (config etcd.prefix) and this node's name. */
export interface Cluster {
  client: EtcdClient;
  prefix: string;
  node: string;
}

/**
 * The etcd client, prefix and node name from the config's `etcd` section and `nodeName` (default:
 * the host name); undefined without an etcd section. Call `client.close()` when done (idle
 * connections do not keep the process alive, so forgetting it costs nothing at exit).
 */
export function clusterFor(config: Config): Cluster | undefined {
  const etcd = config.etcd;
  if (!etcd) return undefined;
  const client = new EtcdClient({
    endpoints: etcd.endpoints,
    timeoutMs: etcd.timeoutMs ?? config.timeoutMs,
    username: etcd.username,
    password: etcd.password,
    tls: etcd.tls,
  });
  return { client, prefix: etcd.prefix, node: nodeName(config) };
}

export function leaseDirFor(stateDir: string, network: string): LeaseDir {
  // The name becomes a path part: a label, never "..", "/" or anything read back unchecked.
  if (!isDns1123Label(network)) {
    throw new InvalidInputError(`invalid network name ${quote(network)}: not a lease directory`);
  }
  return new LeaseDir(join(stateDir, 'ipam', network));
}

/** A network's address pool with its family (each pool object hands out one family). */
export interface FamilyPool {
  family: Family;
  pool: AddressPool;
}

/**
 * The network's address pools, one per `ipam` pool in config order (none without `ipam`);
 * `cluster` is required when one is `type: etcd` (ConfigError without it). Their lease files
 * share the network's directory: each pool reads and takes only its own family's.
 */
export function poolsFor(network: Network, stateDir: string, cluster?: Cluster): FamilyPool[] {
  return ipamPools(network).map((ipam) => ({
    family: poolFamily(ipam),
    pool: poolOf(network.name, ipam, stateDir, cluster),
  }));
}

function poolOf(network: string, ipam: Ipam, stateDir: string, cluster?: Cluster): AddressPool {
  if (ipam.type === 'etcd') {
    if (!cluster) throw new ConfigError(`network ${network} uses etcd IPAM but no etcd client is configured`);
    return new EtcdAddressPool(cluster.client, cluster.prefix, { name: network, ...ipam }, cluster.node);
  }
  const leases = leaseDirFor(stateDir, network);
  return ipam.type === 'static' ? new StaticPool(leases, ipam) : new HostLocalPool(leases, ipam);
}

/** The network's cluster-wide VLAN pool, or undefined when its VLAN is fixed or read from the pod name. */
export function vlanPoolFor(network: Network, cluster?: Cluster): EtcdVlanPool | undefined {
  if (!('pool' in network.vlan)) return undefined;
  if (!cluster)
    throw new ConfigError(`network ${network.name} takes its VLAN from an etcd pool but no etcd client is configured`);
  return new EtcdVlanPool(cluster.client, cluster.prefix, network.name, network.vlan, cluster.node);
}

/** Every node-local lease whose owner is in podvlan's form, with the network it is filed under. */
export function listNodeLeases(stateDir: string): LeaseRecord[] {
  return leaseNetworks(stateDir)
    .flatMap((n) =>
      leaseDirFor(stateDir, n)
        .all()
        .map((l) => ({ ...l, network: n })),
    )
    .filter(isValidOwner);
}

/** Node-local lease files whose owner cannot be read, by network. */
export function unreadableNodeLeases(stateDir: string): { network: string; address: string }[] {
  return leaseNetworks(stateDir).flatMap((network) =>
    leaseDirFor(stateDir, network)
      .unreadable()
      .map((address) => ({ network, address })),
  );
}

/** Networks with a lease directory on this node (none before the first lease). */
function leaseNetworks(stateDir: string): string[] {
  try {
    return readdirSync(join(stateDir, 'ipam')).filter(isDns1123Label);
  } catch {
    return [];
  }
}
