// CHECK of one CNI attachment against the node.
import { findPorts } from '../ovs/bridge';
import { OvsdbClient } from '../ovs/client';
import type { Context } from '../commands/context';
import type { Network } from '../config/schema';
import { cniOwner, ownerSelector } from './owner';
import { CniCode, CniError } from './spec';
import type { CniEnv } from './env';
import { isComplete } from './add';
import { openNetns } from './netns';
import { tagFor } from './vlan';

/** CHECK (minimal for now): the port exists as recorded, in this netns, with its veth. */
export async function check(ctx: Context, env: CniEnv, network: Network): Promise<void> {
  const owner = cniOwner(env.containerId, network.name, env.ifname);
  const tag = tagFor(network, env, ctx.config.networks);
  const sandbox = openNetns(env.netns);
  try {
    const ovs = await OvsdbClient.connect(ctx.config.ovsdb, ctx.config.timeoutMs);
    try {
      const mine = await findPorts(ovs, ownerSelector(owner));
      if (mine.length === 0)
        throw new CniError(
          CniCode.unknownContainer,
          `no podvlan attachment of ${env.containerId} ${env.ifname} on ${network.name}`,
        );
      if (!isComplete(mine[0], owner, tag, network, sandbox.inode))
        throw new CniError(
          CniCode.operationFailed,
          `the attachment of ${env.containerId} ${env.ifname} on ${network.name} differs from its config ` +
            `(port ${owner.port})`,
        );
    } finally {
      ovs.close();
    }
  } finally {
    sandbox.close();
  }
}
