// DEL of one CNI attachment: needs only container id, network and interface (DEL may be blind).
import { findPorts } from '../ovs/bridge';
import { OvsdbClient } from '../ovs/client';
import { lockPod } from '../state/lock';
import type { Context } from '../commands/context';
import { detach, releaseOwner } from '../commands/detach';
import type { Network } from '../config/schema';
import { cniOwner, ipamOwner, ownerSelector } from './owner';
import type { CniEnv } from './env';

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
