// list: every attachment on this node, read back from OVSDB (the state of record).
import type { Attachment } from '../ovs/attachment';
import { findPorts } from '../ovs/bridge';
import { OvsdbClient } from '../ovs/client';
import type { Context } from './context';
import { matchContainerId, validateContainerId } from '../names';

/** container: only this container's attachments (its full id or a unique prefix of at least 12 digits). */
export async function list(ctx: Context, opts: { container?: string } = {}): Promise<Attachment[]> {
  const ovs = await OvsdbClient.connect(ctx.config.ovsdb, ctx.config.timeoutMs);
  try {
    let rows = (await findPorts(ovs, {})).map((f) => f.attachment);
    if (opts.container !== undefined) {
      const id = matchContainerId(
        validateContainerId(opts.container),
        rows.map((a) => a.containerId),
      );
      rows = rows.filter((a) => a.containerId === id);
    }
    const key = (a: Attachment) => `${a.namespace}/${a.pod}/${a.network}`;
    return rows.sort((a, b) => key(a).localeCompare(key(b)));
  } finally {
    ovs.close();
  }
}

export const LIST_COLUMNS = ['NAMESPACE', 'POD', 'CONTAINER', 'NETWORK', 'BRIDGE', 'PORT', 'TAG', 'INTERFACE', 'IP'];

/** One table row. A CNI row shows the Kubernetes names the runtime gave (its owner names are
 * digests, kept in the JSON output), and the runtime's own id (its containerId is a digest of it). */
export function listRow(a: Attachment): string[] {
  const cni = a.cniContainerId !== undefined;
  return [
    cni ? (a.k8sNamespace ?? a.namespace) : a.namespace,
    cni ? (a.k8sPod ?? a.pod) : a.pod,
    cni ? `cni:${a.cniContainerId!.slice(0, 40)}` : a.containerId.slice(0, 12),
    a.network,
    a.bridge,
    a.port,
    a.trunks === undefined ? String(a.tag) : `trunk ${a.trunks || 'all'}`, // '': emptied by hand, OVS trunks every VLAN
    a.interface,
    a.ip ?? '-',
  ];
}
