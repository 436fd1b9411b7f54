// ADD of one CNI attachment, built from the same core steps as exec setup (leases, veth pair by
// namespace handle, access port with external_ids, the undo stack), so both modes write one state
// of record: `podvlan list`, `gc` and `ipam` read CNI rows too.
import { macFor } from '../commands/mac';
import { poolFor, type Lease } from '../ipam';
import type { Attachment } from '../ovs/attachment';
import { addAccessPorts, ensureBridges, findPorts, type FoundPort } from '../ovs/bridge';
import { OvsdbClient } from '../ovs/client';
import type { Sandbox } from '../runtime/sandbox';
import { lockPod } from '../state/lock';
import { createPairs, linkExists } from '../veth/pair';
import { type Context, clusterOf, nodeName } from '../commands/context';
import { detach } from '../commands/detach';
import { UndoStack } from '../commands/undo';
import type { Network } from '../config/schema';
import { type CniOwner, CNI_RUNTIME, cniOwner, ipamOwner, ownerSelector } from './owner';
import type { CniEnv } from './env';
import { openNetns } from './netns';
import { tagFor } from './vlan';

export interface Added {
  attachment: Attachment;
  lease?: Lease;
  changed: boolean;
}

export async function add(ctx: Context, env: CniEnv, network: Network): Promise<Added> {
  const owner = cniOwner(env.containerId, network.name, env.ifname);
  const tag = tagFor(network, env, ctx.config.networks);
  const { stateDir, timeoutMs } = ctx.config;
  const log = ctx.log.with({
    cmd: 'cni-add',
    container: env.containerId,
    network: network.name,
    interface: env.ifname,
  });
  const sandbox = openNetns(env.netns);
  try {
    const lock = await lockPod(stateDir, owner.ref.namespace, owner.ref.pod, timeoutMs);
    try {
      const ovs = await OvsdbClient.connect(ctx.config.ovsdb, timeoutMs);
      try {
        // Both questions at once, answered in one round trip's time (findPorts reads; it changes nothing).
        const [, mine] = await Promise.all([
          ensureBridges(ovs, [{ name: network.bridge, datapathType: network.datapathType }], timeoutMs),
          findPorts(ovs, ownerSelector(owner)),
        ]);
        const pool = poolFor(network, stateDir, network.ipam?.type === 'etcd' ? clusterOf(ctx) : undefined);
        const done = mine.find((f) => isComplete(f, owner, tag, network, sandbox.inode));
        if (done && mine.length === 1) {
          // The same ADD again: answer with what exists (the lease is the owner's own, not a new one).
          const lease = pool ? await pool.acquire(ipamOwner(owner), done.attachment.ip?.split('/')[0]) : undefined;
          log.info('already added', { port: owner.port });
          return { attachment: done.attachment, lease, changed: false };
        }
        // What an interrupted or outdated ADD of this owner left: its port, its veth. Leases stay
        // (the same owner takes them again).
        if (mine.length > 0 || linkExists(owner.port))
          await detach(ctx, ovs, mine, { keepLeases: true, extraLinks: [owner.port] });
        const added = await attachNew(ctx, ovs, owner, network, tag, sandbox, log);
        return { ...added, changed: true };
      } finally {
        ovs.close();
      }
    } finally {
      lock.release();
    }
  } finally {
    sandbox.close();
  }
}

async function attachNew(
  ctx: Context,
  ovs: OvsdbClient,
  owner: CniOwner,
  network: Network,
  tag: number,
  sandbox: Sandbox,
  log: Context['log'],
): Promise<{ attachment: Attachment; lease?: Lease }> {
  const { stateDir, timeoutMs } = ctx.config;
  const undo = new UndoStack(log);
  try {
    const pool = poolFor(network, stateDir, network.ipam?.type === 'etcd' ? clusterOf(ctx) : undefined);
    let lease: Lease | undefined;
    if (pool) {
      // Registered before the call: a lost reply may still have taken the address.
      undo.push(`release address of ${network.name}`, () => pool.release(ipamOwner(owner)));
      lease = await pool.acquire(ipamOwner(owner));
    }
    const attachment: Attachment = {
      namespace: owner.ref.namespace,
      pod: owner.ref.pod,
      containerId: owner.ref.containerId,
      network: network.name,
      interface: owner.interface,
      bridge: network.bridge,
      port: owner.port,
      tag,
      ip: lease?.address,
      mac: macFor(lease, owner.port),
      netns: sandbox.inode,
      node: nodeName(ctx.config),
      runtime: CNI_RUNTIME,
      cniContainerId: owner.cniContainerId,
    };
    undo.push('delete veth', () => detach(ctx, ovs, [], { extraLinks: [owner.port] }));
    await createPairs(
      sandbox,
      sandbox.inode,
      [
        {
          hostName: owner.port,
          podName: owner.interface,
          mac: attachment.mac,
          mtu: network.mtu,
          address: attachment.ip,
          routes: lease?.routes ?? [],
        },
      ],
      timeoutMs,
    );
    undo.push('delete OVS port', async () =>
      detach(ctx, ovs, await findPorts(ovs, ownerSelector(owner)), { keepLeases: true }),
    );
    const { applyMs } = await addAccessPorts(ovs, [attachment], timeoutMs);
    log.info('added', { port: owner.port, ip: attachment.ip, tag, vswitchdApplyMs: Math.round(applyMs * 10) / 10 });
    return { attachment, lease };
  } catch (err) {
    await undo.unwind();
    throw err;
  }
}

/** The port is this owner's as planned, in this very namespace, with its veth. */
export function isComplete(f: FoundPort, owner: CniOwner, tag: number, network: Network, inode: string): boolean {
  const a = f.attachment;
  return (
    a.port === owner.port && a.tag === tag && a.bridge === network.bridge && a.netns === inode && linkExists(owner.port)
  );
}
