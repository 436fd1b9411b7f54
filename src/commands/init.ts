// init: the config validates, OVSDB answers, and every bridge the config names exists.
import { ensureBridges } from '../ovs/bridge';
import { OvsdbClient } from '../ovs/client';
import type { Context } from './context';

export interface InitResult {
  bridges: string[];
  created: string[];
}

export async function init(ctx: Context): Promise<InitResult> {
  const bridges = new Map<string, string>();
  for (const n of ctx.config.networks) bridges.set(n.bridge, n.datapathType);
  const specs = [...bridges].map(([name, datapathType]) => ({ name, datapathType }));
  const ovs = await OvsdbClient.connect(ctx.config.ovsdb, ctx.config.timeoutMs);
  try {
    const created = await ensureBridges(ovs, specs, ctx.config.timeoutMs);
    ctx.log.info('init', { bridges: [...bridges.keys()], created });
    return { bridges: [...bridges.keys()], created };
  } finally {
    ovs.close();
  }
}
