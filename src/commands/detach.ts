// Removing a pod's attachments: shared by teardown and by setup when it replaces what an older
// container of the same pod left behind. Each step tolerates what is already gone.
import type { Network } from '../config/schema';
import { hasEtcdPool } from '../config/pools';
import { EtcdVlanPool, isPooledVlan, leaseDirFor, type Owner, poolsFor, vlanPoolFor } from '../ipam';
import { releaseOwnerAddress } from '../ipam/etcd-pool';
import { familyOfText } from '../ipam/ip';
import { holderFor, VLAN_MAX, VLAN_MIN } from '../ipam/vlan';
import { deletePorts, type FoundPort } from '../ovs/bridge';
import type { OvsdbClient } from '../ovs/client';
import { deleteHostLinks } from '../veth/pair';
import { clusterOf, type Context } from './context';

export interface Detached {
  ports: string[];
  addresses: string[];
}

export interface DetachOptions {
  extraLinks?: string[]; // host veths to delete that may have no OVS port (an interrupted setup)
  keepLeases?: boolean; // the same container is about to attach again and keeps its addresses
}

export async function detach(
  ctx: Context,
  ovs: OvsdbClient,
  found: FoundPort[],
  opts: DetachOptions = {},
): Promise<Detached> {
  await deletePorts(
    ovs,
    found.map((f) => f.uuid),
  );
  const links = [...new Set([...found.map((f) => f.attachment.port), ...(opts.extraLinks ?? [])])];
  await deleteHostLinks(links, ctx.config.timeoutMs);
  const addresses: string[] = [];
  for (const { attachment: a } of opts.keepLeases ? [] : found) {
    const owner: Owner = {
      network: a.network,
      namespace: a.namespace,
      pod: a.pod,
      containerId: a.containerId,
      interface: a.interface,
    };
    addresses.push(...(await releaseOwner(ctx, owner, bareAddresses(a.ips))));
    await releaseVlan(ctx, owner, a.runtime === 'cni' ? { cni: a } : {});
  }
  return { ports: found.map((f) => f.attachment.port), addresses };
}

/**
 * Leave the network's cluster-wide VLAN (freed when the last member leaves), if it has a pool.
 * Returns whether the tag went back to the pool (this was its last member). The holder key is the
 * owner's own, unless given: `holder` as listed in etcd, or `cni`, the Kubernetes names a CNI
 * member's port recorded (a CNI owner's mapped names are not what its VLAN is held under; without
 * names its member keys are looked up).
 */
export async function releaseVlan(
  ctx: Context,
  owner: Owner,
  via: { holder?: string; cni?: { k8sNamespace?: string; k8sPod?: string } } = {},
): Promise<boolean> {
  const network = ctx.config.networks.find((n) => n.name === owner.network);
  if (network && !isPooledVlan(network.vlan)) return false;
  const cluster = clusterOf(ctx);
  if (!cluster) return false;
  // A network that left the config (or a CNI network, never in podvlan.yaml): its memberships
  // still live in etcd. Release needs no range, and `per` decides the holder key, so try both.
  const pools = network
    ? [vlanPoolFor(network, cluster)!]
    : (['namespace', 'pod'] as const).map(
        (per) =>
          new EtcdVlanPool(
            cluster.client,
            cluster.prefix,
            owner.network,
            { pool: `${VLAN_MIN}-${VLAN_MAX}`, per },
            cluster.node,
          ),
      );
  const named = via.holder ?? (via.cni && network ? holderFor(network, via.cni) : undefined);
  let freed = false;
  for (const pool of pools) {
    const holders =
      named !== undefined
        ? [named]
        : via.cni !== undefined
          ? await pool.holdersOf(owner.containerId)
          : [pool.holderOf(owner)];
    for (const holder of holders) freed = (await pool.release(owner, holder)).freed || freed;
  }
  return freed;
}

/** The addresses of `addr/len` texts (lease hints). */
export const bareAddresses = (ips: string[]): string[] => ips.map((ip) => ip.split('/')[0]);

/** Free what an owner holds in each of its network's pools (or the node's lease files if the
 * network left the config). `hints`: the addresses it is believed to hold, any family. */
export async function releaseOwner(ctx: Context, owner: Owner, hints: string[] = []): Promise<string[]> {
  const network: Network | undefined = ctx.config.networks.find((n) => n.name === owner.network);
  const pools = network
    ? poolsFor(network, ctx.config.stateDir, hasEtcdPool(network) ? clusterOf(ctx) : undefined)
    : [];
  if (pools.length > 0) {
    const freed: string[] = [];
    // Each pool frees only its own family's lease.
    for (const { family, pool } of pools)
      freed.push(
        ...(await pool.release(
          owner,
          hints.find((h) => familyOfText(h) === family),
        )),
      );
    return freed;
  }
  // A network that left the config: free its node-local leases, and what etcd holds for it. A
  // network without podvlan's IPAM (none, or delegated) may have node-local leases from an older
  // config, never etcd's to ask: its DEL must not depend on an etcd it does not use.
  const leases = leaseDirFor(ctx.config.stateDir, owner.network);
  const held = leases.heldBy(owner, hints.length === 1 ? hints[0] : undefined); // a hint stands for all only alone
  held.forEach((ip) => leases.remove(ip));
  if (network) return held;
  const cluster = clusterOf(ctx);
  if (cluster) held.push(...(await releaseOwnerAddress(cluster.client, cluster.prefix, owner.network, owner)));
  return held;
}
