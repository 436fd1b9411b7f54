// The one attach path of both front ends (exec `setup`, CNI ADD): per item its VLAN and address,
// then every veth pair in one call, then every access port in one OVSDB transaction. Each
// mutation registers its undo in the caller's stack before it runs; the caller unwinds it on
// failure, with its own entries (exec's pod record) in the same order around these.
// The counterpart of detach.ts. Nothing here is exec- or CNI-specific: what differs (the owner's
// names, a delegated IPAM plugin, a requested MAC, CNI's extra port fields) comes in the items.
import type { Network } from '../config/schema';
import { hasEtcdPool, poolOfFamily } from '../config/pools';
import { InvalidInputError, oneLine } from '../errors';
import { familyName, familyOfText } from '../ipam/ip';
import { type AddressPool, type AddressRequest, type Lease, type Owner, poolsFor, vlanPoolFor } from '../ipam';
import { trunkText } from '../ipam/vlan';
import { type Attachment, encodeRoutes } from '../ovs/attachment';
import { addAccessPorts, findPorts } from '../ovs/bridge';
import type { Logger } from '../log';
import type { OvsdbClient } from '../ovs/client';
import type { Sandbox } from '../runtime/sandbox';
import { announceAddresses, createPairs, linkExists } from '../veth/pair';
import { type Context, clusterOf, nodeName } from './context';
import { detach } from './detach';
import { macFor } from './mac';
import type { UndoStack } from './undo';

/**
 * Where an item's addresses come from.
 * - pool: the network's own pools (poolsFor: one per family, none without `ipam`), one lease of
 *   each. Per family, `requested` asks for exactly that address (refused if the pool cannot give
 *   it), else `hints` holds the address the owner had (kept when still free), else the pool picks.
 * - delegate: an IPAM plugin the caller runs (CNI); `del` is its undo. The port records the
 *   plugin, gateways and routes, as podvlan holds no lease of its own to read them back from.
 */
export type AddressSource =
  | { from: 'pool'; hints?: string[]; requested?: AddressRequest[] }
  | { from: 'delegate'; plugin: string; add: () => Promise<Lease[]>; del: () => Promise<unknown> };

export interface AttachItem {
  owner: Owner; // the lease owner; its namespace, pod, container id and interface go on the port
  network: Network;
  port: string; // host veth and OVS port name (hostVethName of the owner)
  tag: number | 'pool'; // 'pool': taken here from the network's cluster-wide VLAN pool
  address: AddressSource;
  mac?: string; // asked for by the caller; else derived from the addresses (macFor)
  fields?: Partial<Attachment>; // more port fields (CNI: runtime, its container id, Kubernetes names)
}

export interface AttachCall {
  sandbox: Sandbox; // the pod's namespace handle, opened and closed by the caller
  items: AttachItem[];
  ownPorts: Record<string, string>; // external_ids that select exactly this call's ports (for their undo)
  // The undo log's step names: "delete veths"/"delete OVS ports" for exec's pod (its networks),
  // the singular for CNI's one attachment; kept as each mode logged them.
  plural: boolean;
  log?: Logger; // the caller's, with the pod's fields, for what this logs itself (else ctx.log)
}

export interface Attached {
  attachments: Attachment[]; // in item order
  leases: Lease[][]; // likewise: per item its leases, IPv4 first (none without an address)
  applyMs: number; // how long ovs-vswitchd took to apply the ports
}

export async function attachNetworks(
  ctx: Context,
  ovs: OvsdbClient,
  call: AttachCall,
  undo: UndoStack,
): Promise<Attached> {
  const { sandbox, items } = call;
  const leases: Lease[][] = [];
  const tags: number[] = [];
  for (const item of items) {
    tags.push(await takeTag(ctx, item, undo));
    leases.push(await takeAddresses(ctx, item, undo));
  }
  const attachments: Attachment[] = items.map((item, i) => ({
    namespace: item.owner.namespace,
    pod: item.owner.pod,
    containerId: item.owner.containerId,
    network: item.network.name,
    interface: item.owner.interface,
    bridge: item.network.bridge,
    port: item.port,
    tag: tags[i],
    ...trunkOf(item.network),
    // The tag set, recorded beside it so a view tells one changed by hand (podvlan/vlan); a
    // trunk port has none (its VLANs are recorded as podvlan/trunks).
    ...(trunkOf(item.network).trunks === undefined ? { vlan: tags[i] } : {}),
    ips: leases[i].map((l) => l.address),
    mac: item.mac ?? macFor(leases[i], item.port),
    netns: sandbox.inode,
    node: nodeName(ctx.config),
    ...item.fields,
    ...(item.address.from === 'delegate' && leases[i].length > 0
      ? delegatedFields(item.address.plugin, leases[i])
      : {}),
  }));
  const { timeoutMs } = ctx.config;
  const s = call.plural ? 's' : '';
  undo.push(`delete veth${s}`, () => detach(ctx, ovs, [], { extraLinks: attachments.map((a) => a.port) }));
  const unannounced = await createPairs(
    sandbox,
    sandbox.inode,
    attachments.map((a, i) => ({
      hostName: a.port,
      podName: a.interface,
      mac: a.mac,
      mtu: items[i].network.mtu,
      addresses: a.ips, // every family's, IPv4 first
      routes: leases[i].flatMap((l) => l.routes),
    })),
    timeoutMs,
  );
  // Addresses and VLANs have undos of their own, further down the stack.
  undo.push(`delete OVS port${s}`, async () =>
    detach(ctx, ovs, await findPorts(ovs, call.ownPorts), { keepLeases: true }),
  );
  const { applyMs } = await addAccessPorts(ovs, attachments, timeoutMs);
  await announce(call.log ?? ctx.log, ctx.config.timeoutMs, sandbox, attachments, unannounced);
  return { attachments, leases, applyMs };
}

/** Neighbours learn each new address at once (gratuitous ARP), so a moved or reused address is
 * not black-holed by their stale caches. Only now: ovs-vswitchd drops what a port sends before it
 * has applied it. A failure is logged and fails nothing; their caches age out as before. */
async function announce(
  log: Logger,
  timeoutMs: number,
  sandbox: Sandbox,
  attachments: Attachment[],
  unannounced: string[],
): Promise<void> {
  const targets = attachments.filter((a) => a.ips.length > 0).map((a) => ({ podName: a.interface, mac: a.mac }));
  try {
    if (unannounced.length > 0) throw new Error(unannounced.join('; ')); // arp_notify not set: it would be silent
    await announceAddresses(sandbox, targets, timeoutMs);
  } catch (err) {
    log.warn('gratuitous ARP not sent', { interfaces: targets.map((t) => t.podName), error: oneLine(err) });
  }
}

async function takeTag(ctx: Context, item: AttachItem, undo: UndoStack): Promise<number> {
  if (item.tag !== 'pool') return item.tag;
  const vlans = vlanPoolFor(item.network, clusterOf(ctx))!;
  undo.push(`leave the VLAN of ${item.network.name}`, () => vlans.release(item.owner));
  return vlans.acquire(item.owner);
}

/**
 * The item's leases, one per pool, IPv4 first. Each undo is registered before its request (a lost
 * reply may still have taken the address), so a failure of the second family's pool (exhausted,
 * say) unwinds the first family's lease too: nothing is left half-addressed.
 */
async function takeAddresses(ctx: Context, item: AttachItem, undo: UndoStack): Promise<Lease[]> {
  const { network, owner, address } = item;
  if (address.from === 'delegate') {
    undo.push(`DEL of ipam plugin ${address.plugin}`, address.del); // its DEL undoes (SPEC.md "Delegated plugins")
    return address.add();
  }
  const problem = requestProblem(network, address.requested ?? []);
  if (problem) throw new InvalidInputError(problem);
  const pools = poolsFor(network, ctx.config.stateDir, hasEtcdPool(network) ? clusterOf(ctx) : undefined);
  const leases: Lease[] = [];
  for (const { family, pool } of [...pools].sort((a, b) => a.family - b.family)) {
    const ofFamily = (text: string) => familyOfText(text) === family;
    const hint = address.hints?.find(ofFamily);
    const requested = address.requested?.find((r) => ofFamily(r.address));
    const name = pools.length > 1 ? `${familyName(family)} address` : 'address';
    undo.push(`release ${name} of ${network.name}`, () => pool.release(owner, hint));
    leases.push(await leaseFrom(pool, owner, { hint, requested }));
  }
  return leases;
}

/** Why these requested addresses cannot be asked of the network's pools: a family with no pool,
 * or two addresses of one family (an attachment holds one per family). Undefined when they can. */
export function requestProblem(network: Network, requested: { address: string; from?: string }[]): string | undefined {
  const seen = new Set<number>();
  for (const r of requested) {
    const family = familyOfText(r.address);
    const from = r.from ? `${r.from} asks for ${r.address}` : `${r.address} is asked for`;
    if (!poolOfFamily(network, family)) return `${from} but network ${network.name} has no ${familyName(family)} pool`;
    if (seen.has(family))
      return `${from}, a second ${familyName(family)} address: an attachment holds one address per family`;
    seen.add(family);
  }
  return undefined;
}

/** The requested address exactly (refused if the pool cannot give it), else the hinted one if free, else a new one. */
export function leaseFrom(
  pool: AddressPool,
  owner: Owner,
  ask: { hint?: string; requested?: AddressRequest },
): Promise<Lease> {
  if (ask.requested) return pool.acquireRequested(owner, ask.requested);
  return pool.acquire(owner, ask.hint);
}

/** What the port records of a delegate's leases: podvlan holds no lease of its own for them. */
function delegatedFields(plugin: string, leases: Lease[]): Partial<Attachment> {
  const gateways = leases.flatMap((l) => (l.gateway ? [l.gateway] : []));
  const routes = leases.flatMap((l) => l.routes);
  return {
    ipamPlugin: plugin,
    ...(gateways.length > 0 ? { gateway: gateways.join(',') } : {}),
    ...(routes.length > 0 ? { routes: encodeRoutes(routes) } : {}),
  };
}

/** A trunk network's port carries its VLANs (the tag is TRUNK_TAG then); other ports none. */
function trunkOf(network: Network): Pick<Attachment, 'trunks'> {
  const trunks = trunkText(network.vlan);
  return trunks === undefined ? {} : { trunks };
}

/** What a found port must be for a repeated call to leave it as it is: the planned port, tag
 * (undefined: a pooled VLAN, whose tag only etcd knows), a trunk's VLANs, bridge and interface, in this very
 * namespace (a container restarted under the same id has a new one, and its old veths die with
 * the old one, the kernel may take a moment), with its veth. */
export function isInPlace(
  a: Attachment,
  want: { port: string; tag: number | undefined; network: Network; interface: string; netns: string },
): boolean {
  return (
    a.port === want.port &&
    (want.tag === undefined || a.tag === want.tag) &&
    a.trunks === trunkText(want.network.vlan) && // a trunk port's VLANs as configured (else both undefined)
    a.bridge === want.network.bridge &&
    a.interface === want.interface &&
    a.netns === want.netns &&
    linkExists(want.port)
  );
}
