// DEL of one CNI attachment: needs only container id, network and interface (DEL may be blind).
import { findPorts } from '../ovs/bridge';
import { OvsdbClient } from '../ovs/client';
import { lockPod } from '../state/lock';
import type { Context } from '../commands/context';
import { detach, releaseOwner } from '../commands/detach';
import type { Network } from '../config/schema';
import { type CniOwner, cniOwner, ipamOwner, ownerSelector } from './owner';
import { type CniEnv, k8sNamesOf } from './env';
import { holderFor } from './vlan';
import { vlanPoolFor } from '../ipam';
import { clusterOf } from '../commands/context';
import type { Attachment } from '../ovs/attachment';

/** DEL: whatever of this owner exists goes; what is already gone is success. Needs no netns. */
export async function del(
  ctx: Context,
  env: CniEnv,
  network: Network,
): Promise<{ ports: string[]; addresses: string[] }> {
  const owner = cniOwner(env.containerId, network.name, env.ifname);
  const { stateDir, timeoutMs } = ctx.config;
  const lock = await lockPod(stateDir, owner.ref.namespace, owner.ref.pod, timeoutMs);
  let ok = false;
  try {
    const ovs = await OvsdbClient.connect(ctx.config.ovsdb, timeoutMs);
    try {
      const mine = await findPorts(ovs, ownerSelector(owner));
      // The veth of an interrupted ADD has no port yet: its name is the owner's.
      const result = await detach(ctx, ovs, mine, { extraLinks: [owner.port] });
      // Addresses an interrupted ADD took have no port to point at them.
      if (mine.length === 0) result.addresses.push(...(await releaseOwner(ctx, ipamOwner(owner))));
      await leavePooledVlan(ctx, env, network, owner, mine[0]?.attachment);
      ctx.log.info('deleted', { cmd: 'cni-del', container: env.containerId, network: network.name, ...result });
      ok = true;
      return result;
    } finally {
      ovs.close();
    }
  } finally {
    lock.release({ removeFile: ok });
  }
}

/** Leave the etcd VLAN this owner joined at ADD. The holder (the Kubernetes namespace, or
 * namespace/pod) comes from the names the port recorded, else CNI_ARGS (containerd's second DEL
 * has no port left but the same args: no scan for it); only a DEL with neither (ctr, or a blind
 * DEL after an interrupted ADD) looks the container up among the network's member keys. */
async function leavePooledVlan(
  ctx: Context,
  env: CniEnv,
  network: Network,
  owner: CniOwner,
  recorded: Attachment | undefined,
): Promise<void> {
  if (!('pool' in network.vlan)) return;
  const vlans = vlanPoolFor(network, clusterOf(ctx))!;
  const member = { namespace: owner.ref.namespace, pod: owner.ref.pod, containerId: owner.ref.containerId };
  const holder = holderFor(network, recorded?.k8sNamespace !== undefined ? recorded : k8sNamesOf(env.args));
  if (holder !== undefined) {
    await vlans.release(member, holder);
    return;
  }
  for (const other of await vlans.holdersOf(owner.ref.containerId)) await vlans.release(member, other);
}
