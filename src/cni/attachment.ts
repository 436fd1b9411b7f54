// ADD, DEL and CHECK of one CNI attachment, built from the same core steps as exec setup and
// teardown (leases, veth pair by namespace handle, access port with external_ids, detach), so
// both modes write one state of record: `podvlan list`, `gc` and `ipam` read CNI rows too.
import { macFor } from '../commands/mac';
import { poolFor, vlanFor, type Lease } from '../ipam';
import { podNameTagProblem } from '../ipam/vlan';
import { isPodName } from '../names';
import type { Attachment } from '../ovs/attachment';
import { addAccessPorts, ensureBridges, findPorts, type FoundPort } from '../ovs/bridge';
import { OvsdbClient } from '../ovs/client';
import { openSandbox, type Sandbox } from '../runtime/sandbox';
import { lockPod } from '../state/lock';
import { createPairs, linkExists } from '../veth/pair';
import { type Context, clusterOf, nodeName } from '../commands/context';
import { detach, releaseOwner } from '../commands/detach';
import { UndoStack } from '../commands/undo';
import type { Network } from '../config/schema';
import { type CniOwner, CNI_RUNTIME, cniOwner, ipamOwner, ownerSelector } from './owner';
import { CniCode, CniError } from './spec';
import type { CniEnv } from './env';

export interface Added {
  attachment: Attachment;
  lease?: Lease;
  changed: boolean;
}

/** The tag of a fixed or pod-name VLAN (cluster pools are not in the CNI mode yet). */
function tagFor(network: Network, env: CniEnv, all: Network[]): number {
  if ('pool' in network.vlan)
    throw new CniError(
      CniCode.invalidNetworkConfig,
      'network config: vlan {pool, per} is not supported in CNI mode yet',
    );
  if ('id' in network.vlan) return network.vlan.id;
  const pod = env.args.K8S_POD_NAME;
  if (pod === undefined || !isPodName(pod)) {
    const got = pod === undefined ? '' : ` (got ${JSON.stringify(pod.slice(0, 60))})`;
    throw new CniError(CniCode.invalidEnvironment, `vlan fromPodName needs K8S_POD_NAME in CNI_ARGS${got}`);
  }
  const tag = vlanFor(network.vlan, pod, network.name);
  const problem = podNameTagProblem(tag, network, all, pod);
  if (problem) throw new CniError(CniCode.invalidNetworkConfig, problem);
  return tag;
}

function openNetns(path: string): Sandbox {
  try {
    return openSandbox(path, `CNI_NETNS ${path}`);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new CniError(
      CniCode.invalidEnvironment,
      `CNI_NETNS ${path} cannot be opened (${code}): no such network namespace`,
    );
  }
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
        await ensureBridges(ovs, [{ name: network.bridge, datapathType: network.datapathType }], timeoutMs);
        const mine = await findPorts(ovs, ownerSelector(owner));
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
function isComplete(f: FoundPort, owner: CniOwner, tag: number, network: Network, inode: string): boolean {
  const a = f.attachment;
  return (
    a.port === owner.port && a.tag === tag && a.bridge === network.bridge && a.netns === inode && linkExists(owner.port)
  );
}

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
