// init: the config validates, OVSDB answers, every bridge the config names exists, and every
// uplink is a trunk port carrying exactly its bridge's VLANs. All uplinks are checked before
// anything changes: a refused one leaves the node as it was (bridges included).
import { datapathTypeOf } from '../config/datapath';
import { hostLinks } from '../net/host-links';
import { ensureBridges } from '../ovs/bridge';
import { OvsdbClient } from '../ovs/client';
import { select } from '../ovs/ops';
import { applyUplinks, describeChange, planUplinks, uplinkSpecs } from '../ovs/uplink';
import type { Context } from './context';

export interface InitResult {
  bridges: string[];
  created: string[]; // with dryRun: the bridges it would create
  uplinks: string[]; // one line per uplink (describeChange)
}

export async function init(ctx: Context, opts: { dryRun?: boolean } = {}): Promise<InitResult> {
  const { config } = ctx;
  const names = [...new Set([...config.networks.map((n) => n.bridge), ...config.bridges.map((b) => b.name)])];
  const specs = names.map((name) => ({ name, datapathType: datapathTypeOf(config, name) }));
  const uplinks = uplinkSpecs(config);
  const ovs = await OvsdbClient.connect(config.ovsdb, config.timeoutMs);
  try {
    const plan = await planUplinks(ovs, uplinks, hostLinks());
    if (opts.dryRun) {
      const found = await ovs.transact(names.map((b) => select('Bridge', [['name', '==', b]], ['name'])));
      const missing = names.filter((_, i) => (found[i].rows ?? []).length === 0);
      return { bridges: names, created: missing, uplinks: plan.map((c) => describeChange(c, true)) };
    }
    const created = await ensureBridges(ovs, specs, config.timeoutMs);
    await applyUplinks(ovs, plan, config.timeoutMs);
    const lines = plan.map((c) => describeChange(c, false));
    ctx.log.info('init', { bridges: names, created, uplinks: lines });
    return { bridges: names, created, uplinks: lines };
  } finally {
    ovs.close();
  }
}
