// readNodeView: the node as the views show it, read afresh from the state of record and the
// kernel, never changed. Reads, overlapping where they can: the pools (etcd, bounded) from the
// start; OVSDB in one transaction; then the host veths (sysfs) and the pod ends in their recorded
// namespaces (only for veths that exist: a missing one says enough). assemble.ts judges.
import { clusterOf, type Context, nodeName } from '../commands/context';
import { readLink } from '../cni/host';
import { OvsdbClient } from '../ovs/client';
import { listPodRecords } from '../state/pod-record';
import { assemble } from './assemble';
import type { HostVeth } from './judge';
import type { NodeView } from './model';
import { type PoolResult, readPools } from './pools';
import { readNamespaces } from './read-netns';
import { readOvs } from './read-ovs';

export interface ViewOptions {
  pools?: boolean; // read address pool usage (default true; `list` does not need it)
}

/** How long a view waits for etcd: a down etcd must not hold up the node's view. */
export const ETCD_BOUND_MS = 2000;

export async function readNodeView(ctx: Context, opts: ViewOptions = {}): Promise<NodeView> {
  const { config } = ctx;
  const etcdMs = Math.min(ETCD_BOUND_MS, config.etcd?.timeoutMs ?? config.timeoutMs);
  const pools: Promise<Map<string, PoolResult>> =
    opts.pools === false
      ? Promise.resolve(new Map())
      : readPools(config, config.etcd ? clusterOf(ctx) : undefined, etcdMs);
  const ovs = await OvsdbClient.connect(config.ovsdb, config.timeoutMs);
  let snapshot: Awaited<ReturnType<typeof readOvs>>;
  try {
    snapshot = await readOvs(
      ovs,
      config.bridges.flatMap((b) => b.uplinks),
    );
  } finally {
    ovs.close();
  }
  const records = listPodRecords(config.stateDir).filter((r) => r.ready === true);
  const names = [
    ...snapshot.podPorts.map((p) => p.attachment.port),
    ...records.flatMap((r) => (Array.isArray(r.attachments) ? r.attachments.map((a) => a?.port) : [])),
  ];
  const veths = new Map<string, HostVeth>();
  for (const name of new Set(names)) {
    const veth = typeof name === 'string' ? hostVeth(name) : undefined;
    if (veth) veths.set(name as string, veth);
  }
  const inodes = snapshot.podPorts.flatMap(({ attachment: a }) =>
    a.netns !== undefined && veths.has(a.port) ? [a.netns] : [],
  );
  const netns = await readNamespaces(inodes, config.timeoutMs);
  return assemble({ config, node: nodeName(config), ovs: snapshot, records, veths, netns, pools: await pools });
}

/** The host end from sysfs (readLink takes interface names only: a record's text is checked there). */
function hostVeth(name: string): HostVeth | undefined {
  const ifindex = Number(readLink(name, 'ifindex'));
  const iflink = Number(readLink(name, 'iflink'));
  return Number.isInteger(ifindex) && ifindex > 0 && Number.isInteger(iflink) ? { ifindex, iflink } : undefined;
}
