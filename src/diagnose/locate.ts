// Where a destination lives when this node does not hold it: with etcd address pools, the
// address's owner record names the pod and its node (src/ipam/etcd-keys.ts). Read only; a record
// that does not look like podvlan's is ignored, never trusted into a path or a command.
import type { Config, Network } from '../config/schema';
import { hasEtcdPool } from '../config/pools';
import { ipamKeys } from '../ipam/etcd-keys';
import { clusterFor } from '../ipam';
import { isDns1123Label, isIpv4, isPodName } from '../names';

export interface Located {
  namespace: string;
  pod: string;
  address: string;
  node: string;
}

function ownerOf(value: string, address: string): Located | undefined {
  try {
    const r = JSON.parse(value) as Record<string, unknown>;
    const { namespace, pod, node } = r;
    if (typeof namespace !== 'string' || !isDns1123Label(namespace)) return undefined;
    if (typeof pod !== 'string' || !isPodName(pod) || typeof node !== 'string' || !isPodName(node)) return undefined;
    return { namespace, pod, address, node };
  } catch {
    return undefined;
  }
}

/** The owner of `address` on `network`, or the address and node of pod `ref` there; undefined
 * without an etcd pool for the network, or when etcd does not know it (or cannot be read). */
export async function locate(
  config: Config,
  network: Network,
  want: { address: string } | { namespace: string; pod: string },
): Promise<Located | undefined> {
  if (!hasEtcdPool(network)) return undefined;
  const cluster = clusterFor(config);
  if (!cluster) return undefined;
  const keys = ipamKeys(cluster.prefix, network.name);
  try {
    if ('address' in want) {
      const kv = await cluster.client.get(keys.ip(want.address));
      return kv ? ownerOf(kv.value, want.address) : undefined;
    }
    for (const kv of await cluster.client.getPrefix(keys.ipDir)) {
      const address = kv.key.slice(keys.ipDir.length);
      const o = isIpv4(address) ? ownerOf(kv.value, address) : undefined;
      if (o && o.namespace === want.namespace && o.pod === want.pod) return o;
    }
    return undefined;
  } catch {
    return undefined; // etcd unreachable: diagnose goes on without knowing the node
  } finally {
    cluster.client.close();
  }
}

/** A DST pod that etcd places on another node: the first of the source's networks that knows it. */
export async function locateByName(
  config: Config,
  on: Set<string>,
  ref: { namespace: string; pod: string },
): Promise<Located | undefined> {
  for (const n of config.networks.filter((x) => on.has(x.name))) {
    const found = await locate(config, n, ref);
    if (found) return found;
  }
  return undefined;
}

/** Where the destination lives, and the snapshot that would complete the path. */
export const needPeer = (w: Located, from?: string) => ({
  level: 'INFO' as const,
  code: 'dst-on-node',
  message: `${w.address} is ${w.namespace}/${w.pod}'s on node ${w.node} (etcd): its half needs that node's snapshot`,
  hint: `podvlan collect ${w.namespace}/${w.pod}${from ? ` --from ${from}` : ''} -o json > peer.json (on ${w.node}), then diagnose --peer peer.json`,
});
