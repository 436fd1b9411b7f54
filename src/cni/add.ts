// ADD of one CNI attachment, built from the same core steps as exec setup (leases, veth pair by
// namespace handle, access port with external_ids, the undo stack), so both modes write one state
// of record: `podvlan list`, `gc` and `ipam` read CNI rows too.
import { macFor } from '../commands/mac';
import { type AddressPool, type Lease, type Owner, poolFor, vlanPoolFor } from '../ipam';
import { type Attachment, decodeRoutes, encodeRoutes } from '../ovs/attachment';
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
import { type CniEnv, k8sNamesOf } from './env';
import { type Delegate, delegateAdd, delegateDel } from './delegate';
import { checkMatch } from './match';
import { openNetns } from './netns';
import { parseRequests, type Requests } from './requests';
import { CniCode, CniError } from './spec';
import { planVlan } from './vlan';

export interface Added {
  attachment: Attachment;
  lease?: Lease;
  changed: boolean;
}

/**
 * `runtime`: the runtimeConfig keys of the capabilities the config declares (netconf.ts).
 * `delegate`: the address comes from that IPAM plugin (delegate.ts), else from podvlan's own pool.
 */
export async function add(
  ctx: Context,
  env: CniEnv,
  network: Network,
  runtime: Record<string, unknown> = {},
  delegate?: Delegate,
): Promise<Added> {
  const owner = cniOwner(env.containerId, network.name, env.ifname);
  // Everything the call asks for is checked before anything changes.
  checkMatch(network, env);
  const plan = planVlan(network, env, ctx.config.networks, runtime);
  const asked = parseRequests(runtime, env.args);
  // A delegated IPAM plugin reads runtimeConfig.ips and IP= from the same stdin and environment:
  // the addresses are its to give, podvlan keeps only the MAC request.
  const requests: Requests = delegate ? { ...asked, ips: [] } : asked;
  if (requests.ips.length > 0 && !network.ipam)
    throw new CniError(
      CniCode.invalidNetworkConfig,
      `${requests.ips[0].from} asks for ${requests.ips[0].address} but network ${network.name} has no ipam`,
    );
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
        // A pooled VLAN: the holder's tag from etcd (a repeated ADD gets the same one). The member
        // record names the CNI owner, as its port and leases do, so gc sees one owner for all three.
        const vlans = 'holder' in plan ? vlanPoolFor(network, clusterOf(ctx))! : undefined;
        const member = { namespace: owner.ref.namespace, pod: owner.ref.pod, containerId: owner.ref.containerId };
        const tag = 'tag' in plan ? plan.tag : await vlans!.acquire(member, plan.holder);
        try {
          const pool = poolFor(network, stateDir, network.ipam?.type === 'etcd' ? clusterOf(ctx) : undefined);
          const done = mine.find(
            (f) => isComplete(f, owner, tag, network, sandbox.inode) && honours(f.attachment, requests),
          );
          if (done && mine.length === 1) {
            // The same ADD again: answer with what exists (the lease is the owner's own, not a new one).
            // A delegate's lease is read back from the port, as a second ADD of the delegate would fail.
            const lease = delegate
              ? recordedLease(done.attachment)
              : pool
                ? await leaseFor(pool, ipamOwner(owner), requests, done.attachment.ip)
                : undefined;
            log.info('already added', { port: owner.port });
            return { attachment: done.attachment, lease, changed: false };
          }
          // What an interrupted or outdated ADD of this owner left: its port, its veth. Leases stay
          // (the same owner takes them again).
          if (mine.length > 0 || linkExists(owner.port)) {
            await detach(ctx, ovs, mine, { keepLeases: true, extraLinks: [owner.port] });
            // A delegate cannot be asked for the owner's address twice (host-local refuses): free it first.
            if (delegate) await delegateDel(delegate);
          }
          const added = await attachNew(ctx, ovs, owner, network, { tag, requests, env }, sandbox, log, delegate);
          return { ...added, changed: true };
        } catch (err) {
          if (vlans && 'holder' in plan) await vlans.release(member, plan.holder);
          throw err;
        }
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
  want: { tag: number; requests: Requests; env: CniEnv },
  sandbox: Sandbox,
  log: Context['log'],
  delegate: Delegate | undefined,
): Promise<{ attachment: Attachment; lease?: Lease }> {
  const { timeoutMs } = ctx.config;
  const { tag, requests } = want;
  const undo = new UndoStack(log);
  try {
    const lease = await takeAddress(ctx, network, owner, requests, delegate, undo);
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
      mac: requests.mac ?? macFor(lease, owner.port),
      netns: sandbox.inode,
      node: nodeName(ctx.config),
      runtime: CNI_RUNTIME,
      cniContainerId: owner.cniContainerId,
      ...k8sNamesOf(want.env.args),
      ...(delegate && lease ? delegatedFields(delegate.plugin, lease) : {}),
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

/** The requested address exactly (refused if the pool cannot give it), else the owner's own or a new one. */
function leaseFor(pool: AddressPool, owner: Owner, requests: Requests, held?: string): Promise<Lease> {
  const ask = requests.ips[0];
  if (ask) return pool.acquireRequested(owner, { address: ask.address, prefixLength: ask.prefixLength });
  return pool.acquire(owner, held?.split('/')[0]);
}

/** An existing attachment has what this call asks for (else a repeated ADD re-attaches). */
function honours(a: Attachment, requests: Requests): boolean {
  const ask = requests.ips[0];
  return (requests.mac === undefined || a.mac === requests.mac) && (!ask || a.ip?.split('/')[0] === ask.address);
}

/**
 * The attachment's address, its undo registered before the call (a lost reply may still have
 * taken it): from the delegated IPAM plugin (its DEL undoes, SPEC.md "Delegated plugins"), else
 * from podvlan's own pool; undefined when the network has no IPAM.
 */
async function takeAddress(
  ctx: Context,
  network: Network,
  owner: CniOwner,
  requests: Requests,
  delegate: Delegate | undefined,
  undo: UndoStack,
): Promise<Lease | undefined> {
  if (delegate) {
    undo.push(`DEL of ipam plugin ${delegate.plugin}`, () => delegateDel(delegate));
    return delegateAdd(delegate);
  }
  const pool = poolFor(network, ctx.config.stateDir, network.ipam?.type === 'etcd' ? clusterOf(ctx) : undefined);
  if (!pool) return undefined;
  undo.push(`release address of ${network.name}`, () => pool.release(ipamOwner(owner)));
  return leaseFor(pool, ipamOwner(owner), requests);
}

/** What the port records of a delegate's lease: podvlan holds no lease of its own for it. */
function delegatedFields(plugin: string, lease: Lease): Partial<Attachment> {
  return {
    ipamPlugin: plugin,
    ...(lease.gateway ? { gateway: lease.gateway } : {}),
    ...(lease.routes.length > 0 ? { routes: encodeRoutes(lease.routes) } : {}),
  };
}

function recordedLease(a: Attachment): Lease | undefined {
  if (a.ip === undefined) return undefined;
  return { address: a.ip, gateway: a.gateway, routes: decodeRoutes(a.routes ?? '') ?? [] };
}

/** The port is this owner's as planned, in this very namespace, with its veth. */
export function isComplete(
  f: FoundPort,
  owner: CniOwner,
  tag: number | undefined, // undefined: a pooled VLAN, whose tag only etcd knows
  network: Network,
  inode: string,
): boolean {
  const a = f.attachment;
  return (
    a.port === owner.port &&
    (tag === undefined || a.tag === tag) &&
    a.bridge === network.bridge &&
    a.netns === inode &&
    linkExists(owner.port)
  );
}
