// ADD of one CNI attachment through the same attach core as exec setup (commands/attach.ts: lease,
// veth pair by namespace handle, access port with external_ids, each undo in the stack), so both
// modes write one state of record: `podvlan list`, `gc` and `ipam` read CNI rows too.
import { type AddressRequest, type FamilyPool, type Lease, type Owner, poolsFor, vlanPoolFor } from '../ipam';
import { familyOfText } from '../ipam/ip';
import { type Attachment, decodeRoutes } from '../ovs/attachment';
import { ensureBridges, findPorts } from '../ovs/bridge';
import { OvsdbClient } from '../ovs/client';
import type { Sandbox } from '../runtime/sandbox';
import { lockPod } from '../state/lock';
import { linkExists } from '../veth/pair';
import { type AttachItem, attachNetworks, isInPlace, leaseFrom, requestProblem } from '../commands/attach';
import { type Context, clusterOf } from '../commands/context';
import { bareAddresses, detach } from '../commands/detach';
import { UndoStack } from '../commands/undo';
import { datapathTypeOf } from '../config/datapath';
import type { Network } from '../config/schema';
import { hasEtcdPool, ipamPools } from '../config/pools';
import { type CniOwner, CNI_RUNTIME, cniOwner, ipamOwner, ownerSelector } from './owner';
import { type CniEnv, k8sNamesOf } from './env';
import { type Delegate, delegateAdd, delegateDel } from './delegate';
import { checkMatch } from './match';
import { openNetns } from './netns';
import { parseRequests, type Request, type Requests } from './requests';
import { CniCode, CniError } from './spec';
import { planVlan } from './vlan';

export interface Added {
  attachment: Attachment;
  leases: Lease[]; // IPv4 first; none without an address
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
  // A delegated IPAM plugin reads runtimeConfig.ips and IP= from the same stdin and environment:
  // the addresses are its to give, podvlan keeps only the MAC request.
  const requests: Requests = parseRequests(runtime, env.args, delegate === undefined);
  if (requests.ips.length > 0 && ipamPools(network).length === 0)
    throw new CniError(
      CniCode.invalidNetworkConfig,
      `${requests.ips[0].from} asks for ${requests.ips[0].address} but network ${network.name} has no ipam`,
    );
  // A requested family the network has no pool for, refused before anything is taken.
  const problem = requestProblem(network, requests.ips);
  if (problem)
    throw new CniError(
      requests.ips[0].from.startsWith('CNI_ARGS') ? CniCode.invalidEnvironment : CniCode.invalidNetworkConfig,
      problem,
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
          ensureBridges(
            ovs,
            [{ name: network.bridge, datapathType: datapathTypeOf(ctx.config, network.bridge) }],
            timeoutMs,
          ),
          findPorts(ovs, ownerSelector(owner)),
        ]);
        // A pooled VLAN: the holder's tag from etcd (a repeated ADD gets the same one). The member
        // record names the CNI owner, as its port and leases do, so gc sees one owner for all three.
        const vlans = 'holder' in plan ? vlanPoolFor(network, clusterOf(ctx))! : undefined;
        const member = { namespace: owner.ref.namespace, pod: owner.ref.pod, containerId: owner.ref.containerId };
        let tag = 'tag' in plan ? plan.tag : 0;
        try {
          if (vlans && 'holder' in plan) tag = await vlans.acquire(member, plan.holder);
          const pools = poolsFor(network, stateDir, hasEtcdPool(network) ? clusterOf(ctx) : undefined);
          const done = mine.find(
            (f) =>
              isInPlace(f.attachment, {
                port: owner.port,
                tag,
                network,
                interface: owner.interface,
                netns: sandbox.inode,
              }) && honours(f.attachment, requests),
          );
          if (done && mine.length === 1) {
            // The same ADD again: answer with what exists (the lease is the owner's own, not a new one).
            // A delegate's lease is read back from the port, as a second ADD of the delegate would fail.
            const leases = delegate
              ? recordedLeases(done.attachment)
              : await ownLeases(pools, ipamOwner(owner), requests, bareAddresses(done.attachment.ips));
            log.info('already added', { port: owner.port });
            return { attachment: done.attachment, leases, changed: false };
          }
          // What an interrupted or outdated ADD of this owner left: its port, its veth. Leases stay
          // (the same owner takes them again).
          // Another address asked of a working attachment: refused before anything is taken apart
          // (the pool would refuse it only after the port is gone, leaving the pod with nothing).
          const holding = mine.flatMap((f) => bareAddresses(f.attachment.ips));
          for (const { address: asked } of delegate ? [] : requests.ips) {
            const held = holding.find((h) => familyOfText(h) === familyOfText(asked));
            if (held !== undefined && held !== asked)
              throw new CniError(
                CniCode.conflict,
                `${env.ifname} of ${env.containerId} already has ${held} in network ${network.name}, ` +
                  `not the requested ${asked}: DEL it first`,
              );
          }
          if (mine.length > 0 || linkExists(owner.port)) {
            await detach(ctx, ovs, mine, { keepLeases: true, extraLinks: [owner.port] });
            // A delegate cannot be asked for the owner's address twice (host-local refuses): free it first.
            if (delegate) await delegateDel(delegate);
          }
          const added = await attachNew(ctx, ovs, owner, network, { tag, requests, env }, sandbox, log, delegate);
          return { ...added, changed: true };
        } catch (err) {
          // Leave the VLAN only when this owner has no port left: a repeated ADD that failed after
          // finding its port in place (or whose detach failed) must not free a tag a live port carries.
          if (vlans && 'holder' in plan) {
            const left = await findPorts(ovs, ownerSelector(owner)).catch(() => undefined);
            if (left?.length === 0) await vlans.release(member, plan.holder);
          }
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
): Promise<{ attachment: Attachment; leases: Lease[] }> {
  const { tag, requests } = want;
  const undo = new UndoStack(log);
  try {
    const item: AttachItem = {
      owner: ipamOwner(owner),
      network,
      port: owner.port,
      tag, // taken by add() already: a repeated ADD needs it before it knows whether to attach
      // A delegated IPAM plugin's DEL undoes its ADD (SPEC.md "Delegated plugins").
      address: delegate
        ? {
            from: 'delegate',
            plugin: delegate.plugin,
            add: () => delegateAdd(delegate),
            del: () => delegateDel(delegate),
          }
        : { from: 'pool', requested: requests.ips.map(asRequest) },
      mac: requests.mac,
      fields: { runtime: CNI_RUNTIME, cniContainerId: owner.cniContainerId, ...k8sNamesOf(want.env.args) },
    };
    const call = { sandbox, items: [item], ownPorts: ownerSelector(owner), plural: false, log };
    const { attachments, leases, applyMs } = await attachNetworks(ctx, ovs, call, undo);
    const attachment = attachments[0];
    log.info('added', { port: owner.port, ips: attachment.ips, tag, vswitchdApplyMs: Math.round(applyMs * 10) / 10 });
    return { attachment, leases: leases[0] };
  } catch (err) {
    await undo.unwind();
    throw err;
  }
}

/** A request as a pool takes it (at most one per family: parseRequests and requestProblem). */
const asRequest = (r: Request): AddressRequest =>
  r.prefixLength === undefined ? { address: r.address } : { address: r.address, prefixLength: r.prefixLength };

/** The owner's leases again, one per pool (IPv4 first): a repeated ADD answers with them. */
async function ownLeases(pools: FamilyPool[], owner: Owner, requests: Requests, hints: string[]): Promise<Lease[]> {
  const leases: Lease[] = [];
  for (const { family, pool } of [...pools].sort((a, b) => a.family - b.family)) {
    const requested = requests.ips.find((r) => familyOfText(r.address) === family);
    const hint = hints.find((h) => familyOfText(h) === family);
    leases.push(await leaseFrom(pool, owner, { requested: requested && asRequest(requested), hint }));
  }
  return leases;
}

/** An existing attachment has what this call asks for (else a repeated ADD re-attaches). */
function honours(a: Attachment, requests: Requests): boolean {
  const held = bareAddresses(a.ips);
  return (requests.mac === undefined || a.mac === requests.mac) && requests.ips.every((r) => held.includes(r.address));
}

/** A delegate's leases as its port recorded them: each address with its family's gateway and routes. */
function recordedLeases(a: Attachment): Lease[] {
  const gateways = a.gateway?.split(',') ?? [];
  const routes = decodeRoutes(a.routes ?? '') ?? [];
  return a.ips.map((address) => {
    const family = familyOfText(address);
    const gateway = gateways.find((g) => familyOfText(g) === family);
    return {
      address,
      ...(gateway !== undefined ? { gateway } : {}),
      routes: routes.filter((r) => familyOfText(r.dst) === family),
    };
  });
}
