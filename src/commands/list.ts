// list: every attachment on this node, read back from OVSDB (the state of record).
import type { Attachment } from '../ovs/attachment';
import { findPorts } from '../ovs/bridge';
import { OvsdbClient } from '../ovs/client';
import type { Context } from './context';

export async function list(ctx: Context): Promise<Attachment[]> {
  const ovs = await OvsdbClient.connect(ctx.config.ovsdb, ctx.config.timeoutMs);
  try {
    const found = await findPorts(ovs, {});
    return found.map((f) => f.attachment).sort((a, b) => `${a.namespace}/${a.pod}/${a.network}`.localeCompare(`${b.namespace}/${b.pod}/${b.network}`));
  } finally {
    ovs.close();
  }
}
