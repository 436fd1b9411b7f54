// DEL of one CNI attachment: needs only container id, network and interface (DEL may be blind).
import { findPorts } from '../ovs/bridge';
import { OvsdbClient } from '../ovs/client';
import { lockPod } from '../state/lock';
import type { Context } from '../commands/context';
import { detach, releaseOwner, releaseVlan } from '../commands/detach';
import type { Network } from '../config/schema';
import { type CniOwner, cniOwner, ipamOwner, ownerSelector } from './owner';
import { type CniEnv, k8sNamesOf } from './env';
import { type Delegate, delegateDel } from './delegate';

/**
 * DEL: whatever of this owner exists goes; what is already gone is success. Needs no netns.
 * With a delegated IPAM plugin, its DEL runs last, after podvlan's own cleanup, even when no port
 * is left (an interrupted ADD may have taken its address): an error of it fails the DEL, so the
 * runtime retries and the address is not lost.
 */
export async function del(
  ctx: Context,
  env: CniEnv,
  network: Network,
  delegate?: Delegate,
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
      if (mine.length === 0) await leavePooledVlan(ctx, env, network, owner);
      if (delegate) await delegateDel(delegate);
      // netns '' marks a blind DEL (containerd's second one, or after the netns is gone).
      ctx.log.info('deleted', {
        cmd: 'cni-del',
        container: env.containerId,
        network: network.name,
        netns: env.netns,
        ...result,
      });
      ok = true;
      return result;
    } finally {
      ovs.close();
    }
  } finally {
    lock.release({ removeFile: ok });
  }
}

/** Leave the etcd VLAN an owner with no port left joined at ADD (a port's own is left by detach,
 * under the names it recorded). The holder (the Kubernetes namespace, or namespace/pod) comes from
 * CNI_ARGS (containerd's second DEL has no port left but the same args: no scan for it); only a
 * DEL without them (ctr, or a blind DEL after an interrupted ADD) looks the container up among the
 * network's member keys. */
async function leavePooledVlan(ctx: Context, env: CniEnv, network: Network, owner: CniOwner): Promise<void> {
  if (!('pool' in network.vlan)) return;
  await releaseVlan(ctx, ipamOwner(owner), { cni: k8sNamesOf(env.args) });
}
