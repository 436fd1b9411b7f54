// networks: per network its bridge, where its VLANs come from and which are in use (with how many
// pods), whether the bridge's uplinks carry them, its address pool's usage, and its problems.
// Exit code 0 whatever it finds, as `list` (docs/operating.md).
import { vlanText } from '../ovs/uplink';
import { familyName, familyOfText } from '../ipam/ip';
import type { BridgeView, NetworkView, NodeView, PoolUsage, Problem } from '../view/model';
import { countText } from '../view/pools';
import { readNodeView } from '../view/node-view';
import { NODE_CODES } from '../view/judge';
import { inUseText } from '../view/networks';
import type { Context } from './context';

export async function networks(ctx: Context): Promise<NodeView> {
  return readNodeView(ctx);
}

export const NETWORK_COLUMNS = ['NETWORK', 'BRIDGE', 'VLANS', 'IN-USE', 'PODS', 'UPLINKS', 'ADDRESSES', 'PROBLEMS'];

const SOURCE: Record<NetworkView['vlanSource'], string> = {
  id: 'id',
  pool: 'pool',
  fromPodName: 'pod name',
  fromAnnotation: 'annotation',
  trunk: 'trunk',
  unknown: 'unknown',
};

/** One table row; `bridges` tell an uplink that is no port at all from one that lacks VLANs. */
export function networkRow(n: NetworkView, bridges: BridgeView[]): string[] {
  const exists = (u: string) => bridges.find((b) => b.name === n.bridge)?.uplinks.find((x) => x.name === u)?.exists;
  const uplink = (u: NetworkView['uplinks'][number]) =>
    u.carries ? u.name : exists(u.name) ? `${u.name} lacks ${vlanText(u.missing)}` : `${u.name} missing`;
  const pods = n.attachments.ok + n.attachments.broken;
  return [
    n.name,
    n.bridge || '-',
    `${SOURCE[n.vlanSource]}${n.declared ? ` ${n.declared}` : ''}`,
    inUseText(n.inUse) || '-',
    n.attachments.broken ? `${pods} (${n.attachments.broken} broken)` : String(pods),
    n.uplinks.map(uplink).join(', ') || '-',
    poolsText(n.pools ?? (n.pool ? [n.pool] : [])),
    [...new Set(n.problems.map((p) => p.code))].join(',') || '-',
  ];
}

/** The ADDRESSES column: each pool's usage (a dual-stack network's two, each named by family). */
function poolsText(pools: PoolUsage[]): string {
  const one = (pool: PoolUsage) =>
    pool.type === 'delegated'
      ? `${pool.used} used (delegated)`
      : `${pool.used} used, ${countText(pool.free, pool.freeExact)} free of ${countText(pool.size, pool.sizeExact)}`;
  if (pools.length < 2) return pools[0] ? one(pools[0]) : '-';
  return pools.map((p) => `${p.subnet ? familyName(familyOfText(p.subnet)) : p.type} ${one(p)}`).join('; ');
}

/** The node's and the networks' problems, one line each, each said once (a network's uplink and
 * bridge problems restate the node's; the table's UPLINKS column says which network they hit). */
export function problemLines(view: Pick<NodeView, 'problems' | 'networks'>): string[] {
  const all: Problem[] = [
    ...view.problems,
    ...view.networks.flatMap((n) => n.problems.filter((p) => !NODE_CODES.has(p.code))),
  ];
  return [...new Set(all.map((p) => `${p.code}: ${p.message}`))];
}

/** `networks -o json`: the networks, and the bridges with their uplinks. */
export function networksJson(view: NodeView): {
  node: string;
  networks: NetworkView[];
  bridges: BridgeView[];
  problems: Problem[];
} {
  return { node: view.node, networks: view.networks, bridges: view.bridges, problems: view.problems };
}
