// list: every attachment on this node, read back from OVSDB (the state of record), each with its
// state: `ok`, or the first of its problems (src/view/model.ts). Exit code 0 either way: a broken
// attachment is what the list reports, not a failure to list (docs/operating.md).
import { matchContainerId, validateContainerId } from '../names';
import type { Attachment } from '../ovs/attachment';
import type { AttachmentView } from '../view/model';
import { readNodeView } from '../view/node-view';
import type { Context } from './context';

/** container: only this container's attachments (its full id or a unique prefix of at least 12 digits). */
export async function list(ctx: Context, opts: { container?: string } = {}): Promise<AttachmentView[]> {
  let rows = (await readNodeView(ctx, { pools: false })).attachments;
  if (opts.container !== undefined) {
    const id = matchContainerId(
      validateContainerId(opts.container),
      rows.map((v) => v.attachment.containerId),
    );
    rows = rows.filter((v) => v.attachment.containerId === id);
  }
  return rows;
}

export const LIST_COLUMNS = [
  'NAMESPACE',
  'POD',
  'CONTAINER',
  'NETWORK',
  'BRIDGE',
  'PORT',
  'TAG',
  'INTERFACE',
  'IP',
  'STATE',
];

/** One table row. A CNI row shows the Kubernetes names the runtime gave (its owner names are
 * digests, kept in the JSON output), and the runtime's own id (its containerId is a digest of it). */
export function listRow(v: AttachmentView): string[] {
  const a = v.attachment;
  const cni = a.cniContainerId !== undefined;
  return [
    cni ? (a.k8sNamespace ?? a.namespace) : a.namespace,
    cni ? (a.k8sPod ?? a.pod) : a.pod,
    cni ? `cni:${a.cniContainerId!.slice(0, 40)}` : a.containerId.slice(0, 12),
    a.network,
    a.bridge || '-',
    a.port,
    a.trunks === undefined ? String(a.tag) : `trunk ${a.trunks || 'all'}`, // '': emptied by hand, OVS trunks every VLAN
    a.interface,
    a.ips.join(',') || '-',
    v.state,
  ];
}

/** The lines under the table: each problem of each attachment, one line. */
export function problemLines(rows: AttachmentView[]): string[] {
  return rows.flatMap((v) => v.problems.map((p) => `${p.code}: ${p.message}`));
}

/** `list -o json`: the attachment's fields as before, plus its state and problems. `ips` holds
 * every address (IPv4 first); `ip`, its first, stays for readers of the single-address output. */
export function listJson(v: AttachmentView): Attachment & { ip?: string } & Pick<AttachmentView, 'state' | 'problems'> {
  const first = v.attachment.ips[0];
  return { ...v.attachment, ...(first !== undefined ? { ip: first } : {}), state: v.state, problems: v.problems };
}
