// Picks the address pool a network's config asks for.
import { join } from 'node:path';
import type { Network } from '../config/schema';
import { HostLocalPool } from './host-local';
import { LeaseDir } from './lease-dir';
import type { AddressPool } from './pool';
import { StaticPool } from './static';

export type { AddressPool, Lease, Owner } from './pool';
export { vlanFor } from './vlan';

export function leaseDirFor(stateDir: string, network: string): LeaseDir {
  return new LeaseDir(join(stateDir, 'ipam', network));
}

export function poolFor(network: Network, stateDir: string): AddressPool | undefined {
  const ipam = network.ipam;
  if (!ipam) return undefined;
  const leases = leaseDirFor(stateDir, network.name);
  return ipam.type === 'static' ? new StaticPool(leases, ipam) : new HostLocalPool(leases, ipam);
}
