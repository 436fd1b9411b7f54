// What CHECK reads of the node besides the pod: the OVS rows of the port (on its bridge? its
// Interface's ofport and error as ovs-vswitchd reports them) and whether the lease is still the
// owner's. Read only: CHECK never takes a lease or changes a row.
import { leaseDirFor, type Cluster } from '../ipam';
import { ipamKeys, parseRecord } from '../ipam/etcd-keys';
import { familyOfText, formatIp, tryParseIp } from '../ipam/ip';
import { type Owner, sameOwner } from '../ipam/pool';
import type { Network } from '../config/schema';
import { poolOfFamily } from '../config/pools';
import type { OvsdbClient } from '../ovs/client';
import { select } from '../ovs/ops';
import { decodeOptional, decodeSet, decodeUuid, type Uuid } from '../ovs/values';

export interface PortState {
  onBridge: boolean; // the bridge row lists the port
  ofport?: number; // -1 when ovs-vswitchd could not attach it, absent before it tried
  error?: string; // ovs-vswitchd's reason, absent when there is none
}

export async function portState(ovs: OvsdbClient, portUuid: string, port: string, bridge: string): Promise<PortState> {
  const [bridges, interfaces] = await ovs.transact([
    select('Bridge', [['name', '==', bridge]], ['ports']),
    select('Interface', [['name', '==', port]], ['ofport', 'error']),
  ]);
  const ports = (bridges.rows ?? []).flatMap((r) => decodeSet<Uuid>(r.ports).map((u) => decodeUuid(u)));
  const row = interfaces.rows?.[0];
  const ofport = row ? decodeOptional<number>(row.ofport) : undefined;
  const error = row ? decodeOptional<string>(row.error) : undefined;
  return {
    onBridge: ports.includes(portUuid),
    ...(ofport !== undefined ? { ofport } : {}),
    ...(error ? { error } : {}),
  };
}

/** Whether `address` (either family, any form) is leased to `owner` in the network's pool, read without taking it. */
export async function leaseHeld(
  network: Network,
  stateDir: string,
  cluster: Cluster | undefined,
  owner: Owner,
  address: string,
): Promise<boolean> {
  // The pool of the address's family holds it (a dual-stack network has one of each).
  if (poolOfFamily(network, familyOfText(address))?.type === 'etcd') {
    const ip = tryParseIp(address);
    if (!cluster || !ip) return false;
    const kv = await cluster.client.get(ipamKeys(cluster.prefix, network.name).ip(formatIp(ip))); // the key's canonical form
    const rec = kv ? parseRecord<Owner>(kv.value) : undefined;
    return rec !== undefined && sameOwner(rec, owner);
  }
  const rec = leaseDirFor(stateDir, network.name).read(address);
  return rec !== undefined && sameOwner(rec, owner);
}
