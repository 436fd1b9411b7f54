// STATUS (CNI 1.1.0): whether this plugin can serve ADD now. OVSDB must answer (else 50: no ADD
// can work) and ovs-vswitchd must apply a change (else 51: existing attachments may have lost
// their datapath too). A network whose addresses or VLAN come from etcd needs etcd as well: no
// ADD can allocate without it (50); existing attachments keep working, so it is never 51.
import type { Context } from '../commands/context';
import type { Network } from '../config/schema';
import { hasEtcdPool } from '../config/pools';
import { clusterFor, isPooledVlan } from '../ipam';
import { normalizePrefix } from '../ipam/etcd-keys';
import { probeVswitchd } from '../ovs/bridge';
import { OvsdbClient } from '../ovs/client';
import { CniCode, CniError } from './spec';

// STATUS is polled by runtimes: a short bound, not the config's timeout for setups.
const STATUS_TIMEOUT_MS = 2000;

export async function status(ctx: Context): Promise<void> {
  const timeoutMs = Math.min(ctx.config.timeoutMs, STATUS_TIMEOUT_MS);
  const network = ctx.config.networks[0]; // a CNI config is one network
  let ovs: OvsdbClient;
  try {
    ovs = await OvsdbClient.connect(ctx.config.ovsdb, timeoutMs);
  } catch (err) {
    throw new CniError(CniCode.pluginNotAvailable, `OVSDB ${ctx.config.ovsdb} does not answer`, (err as Error).message);
  }
  try {
    // Both at once: a STATUS with both down answers within one bound, and names both.
    const [vswitchd, etcd] = await Promise.all([
      probeVswitchd(ovs, timeoutMs).then(
        () => undefined,
        (err: Error) => err.message,
      ),
      network && usesEtcd(network) ? etcdProblem(ctx, network, timeoutMs) : undefined,
    ]);
    if (vswitchd !== undefined)
      throw new CniError(
        CniCode.limitedConnectivity,
        `ovs-vswitchd does not apply changes${etcd ? `; ${etcd.msg}` : ''}`,
        etcd ? `${vswitchd}; ${etcd.details}` : vswitchd,
      );
    if (etcd) throw new CniError(CniCode.pluginNotAvailable, etcd.msg, etcd.details);
  } finally {
    ovs.close();
  }
}

const usesEtcd = (n: Network) => hasEtcdPool(n) || isPooledVlan(n.vlan);

/** Why etcd cannot serve this network's ADDs now, or undefined when it answers a read. */
async function etcdProblem(
  ctx: Context,
  network: Network,
  timeoutMs: number,
): Promise<{ msg: string; details: string } | undefined> {
  const what = hasEtcdPool(network) ? 'addresses' : 'VLAN';
  const etcd = ctx.config.etcd;
  if (!etcd) return { msg: `network ${network.name} takes its ${what} from etcd`, details: 'no etcd is configured' };
  // The client is the call's (closed by the front end), bounded like the rest of STATUS.
  const bounded = { ...etcd, timeoutMs: Math.min(etcd.timeoutMs ?? timeoutMs, timeoutMs) };
  const cluster = clusterFor({ ...ctx.config, etcd: bounded });
  ctx.cluster = cluster;
  try {
    // One read of one key: what every allocation starts with, and cheap for etcd.
    await cluster?.client.get(`${normalizePrefix(etcd.prefix)}/`);
    return undefined;
  } catch (err) {
    return {
      msg: `etcd ${etcd.endpoints.join(',')} does not answer (network ${network.name} takes its ${what} from it)`,
      details: (err as Error).message,
    };
  }
}
