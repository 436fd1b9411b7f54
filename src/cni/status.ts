// STATUS (CNI 1.1.0): whether this plugin can serve ADD now. OVSDB must answer (else 50: no ADD
// can work) and ovs-vswitchd must apply a change (else 51: existing attachments may have lost
// their datapath too).
import type { Context } from '../commands/context';
import { probeVswitchd } from '../ovs/bridge';
import { OvsdbClient } from '../ovs/client';
import { CniCode, CniError } from './spec';

// STATUS is polled by runtimes: a short bound, not the config's timeout for setups.
const STATUS_TIMEOUT_MS = 2000;

export async function status(ctx: Context): Promise<void> {
  const timeoutMs = Math.min(ctx.config.timeoutMs, STATUS_TIMEOUT_MS);
  let ovs: OvsdbClient;
  try {
    ovs = await OvsdbClient.connect(ctx.config.ovsdb, timeoutMs);
  } catch (err) {
    throw new CniError(CniCode.pluginNotAvailable, `OVSDB ${ctx.config.ovsdb} does not answer`, (err as Error).message);
  }
  try {
    await probeVswitchd(ovs, timeoutMs);
  } catch (err) {
    throw new CniError(CniCode.limitedConnectivity, 'ovs-vswitchd does not apply changes', (err as Error).message);
  } finally {
    ovs.close();
  }
}
