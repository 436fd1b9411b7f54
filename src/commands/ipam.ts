// ipam list|show|release: what is allocated, to whom, since when, and freeing one by hand.
// Node-local leases come from the state directory, cluster-wide ones from etcd (every node's).
import { ConflictError, InvalidInputError, NotFoundError } from '../errors';
import { isDns1123Label, matchContainerId, quote } from '../names';
import { tryLockPod } from '../state/lock';
import { poolOfFamily } from '../config/pools';
import { leaseDirFor, listNodeLeases } from '../ipam';
import { familyOfText } from '../ipam/ip';
import { forceRelease, listAllocations } from '../ipam/etcd-pool';
import { compareIp, formatIp, tryParseIp } from '../ipam/ip';
import { listVlans } from '../ipam/vlan-pool';
import { findPorts } from '../ovs/bridge';
import { OvsdbClient } from '../ovs/client';
import { clusterOf, type Context } from './context';
import { releaseVlan } from './detach';

export interface AddressRow {
  scope: 'node' | 'cluster';
  network: string;
  address: string;
  namespace: string;
  pod: string;
  containerId: string;
  interface: string;
  node?: string;
  since: string;
}
export interface VlanRow {
  network: string;
  tag: number;
  holder: string;
  members: { namespace: string; pod: string; containerId: string; node: string; since: string }[];
}
export interface IpamView {
  addresses: AddressRow[];
  vlans: VlanRow[];
}

export async function ipamList(ctx: Context, network?: string): Promise<IpamView> {
  const addresses: AddressRow[] = listNodeLeases(ctx.config.stateDir).map((l) => ({ scope: 'node' as const, ...l }));
  let vlans: VlanRow[] = [];
  const cluster = clusterOf(ctx);
  if (cluster) {
    const [allocations, tags] = await Promise.all([
      listAllocations(cluster.client, cluster.prefix, network),
      listVlans(cluster.client, cluster.prefix, network),
    ]);
    addresses.push(...allocations.map((a) => ({ scope: 'cluster' as const, ...a })));
    vlans = tags;
  }
  // By network, then IPv4 before IPv6, then by value (not as text: 10.0.0.10 after 10.0.0.9).
  const byAddress = (a: AddressRow, b: AddressRow) =>
    a.network.localeCompare(b.network) || compareAddressText(a.address, b.address);
  return { addresses: addresses.filter((a) => !network || a.network === network).sort(byAddress), vlans };
}

/** One address (IPv4 or IPv6, any spelling: compared canonically), everything one pod
 * (namespace/pod) holds, or one container (its full id or a unique prefix of at least 12 hex
 * digits; neither an address nor a pod has that form: an IPv6 address has a colon). */
export async function ipamShow(ctx: Context, what: string): Promise<IpamView> {
  const pod = /^([^/]+)\/([^/]+)$/.exec(what);
  const isId = /^[0-9a-f]{12,64}$/.test(what);
  const ip = pod || isId ? undefined : tryParseIp(what);
  if (!pod && !isId && !ip) {
    const expected = 'an address (a.b.c.d or an IPv6 address), namespace/pod or a container id (12-64 hex digits)';
    throw new InvalidInputError(`expected ${expected}, got ${quote(what)}`);
  }
  const view = await ipamList(ctx);
  if (isId) {
    const held = [...view.addresses, ...view.vlans.flatMap((v) => v.members)].map((x) => x.containerId);
    const id = matchContainerId(what, held);
    return {
      addresses: view.addresses.filter((a) => a.containerId === id),
      vlans: view.vlans.filter((v) => v.members.some((m) => m.containerId === id)),
    };
  }
  const mine = (x: { namespace: string; pod: string }) => (pod ? x.namespace === pod[1] && x.pod === pod[2] : false);
  return {
    addresses: view.addresses.filter((a) => (pod ? mine(a) : ip !== undefined && a.address === formatIp(ip))),
    vlans: pod ? view.vlans.filter((v) => v.members.some(mine)) : [],
  };
}

/** Free an address by hand. Refused while a port on this node still uses it, unless forced. */
export async function ipamRelease(ctx: Context, network: string, asked: string, force: boolean): Promise<AddressRow> {
  const address = canonicalAddress(asked); // a lease file and an etcd key are named by the canonical text
  // The name becomes a path under the state directory and a key in etcd: a label, nothing else.
  if (!isDns1123Label(network)) throw new InvalidInputError(`invalid network name ${quote(network)}`);
  const net = ctx.config.networks.find((n) => n.name === network);
  if (!force) {
    const ovs = await OvsdbClient.connect(ctx.config.ovsdb, ctx.config.timeoutMs);
    try {
      const ports = await findPorts(ovs, { 'podvlan/network': network });
      const user = ports.find((f) => f.attachment.ips.some((ip) => ip.split('/')[0] === address));
      if (user)
        throw new ConflictError(
          `${network}/${address} is in use by port ${user.attachment.port} of ${user.attachment.namespace}/${user.attachment.pod}: tear the pod down first, or pass --force`,
        );
    } finally {
      ovs.close();
    }
  }
  if (net && poolOfFamily(net, familyOfText(address))?.type === 'etcd') {
    const cluster = clusterOf(ctx)!;
    const freed = await forceRelease(cluster.client, cluster.prefix, network, address);
    if (!freed) throw new NotFoundError(`${network}/${address} is not allocated`);
    ctx.log.info('ipam release', { network, address, owner: freed });
    return { scope: 'cluster', ...freed };
  }
  const leases = leaseDirFor(ctx.config.stateDir, network);
  const lease = leases.read(address);
  if (!lease) throw new NotFoundError(`${network}/${address} is not leased on this node`);
  // A setup of that pod in flight holds the lease before its port exists: never free it under one.
  const lock = await tryLockPod(ctx.config.stateDir, lease.namespace, lease.pod);
  if (!lock)
    throw new ConflictError(
      `${network}/${address}: a podvlan call for ${lease.namespace}/${lease.pod} is running, try again`,
    );
  try {
    leases.remove(address);
  } finally {
    lock.release();
  }
  ctx.log.info('ipam release', { network, address, owner: lease });
  return { scope: 'node', ...lease };
}

export interface VlanLeft {
  network: string;
  tag: number;
  namespace: string;
  pod: string;
  containerId: string;
  node: string;
  freed: boolean;
}

/**
 * Take one pod's memberships out of a network's cluster-wide VLAN by hand: what a node that is
 * gone for good left in etcd. The tag goes back to the pool when its last member leaves. Refused
 * while a port on this node uses it, unless forced (other nodes' ports are theirs to know).
 */
export async function ipamReleaseVlan(
  ctx: Context,
  network: string,
  target: string,
  force: boolean,
): Promise<VlanLeft[]> {
  if (!isDns1123Label(network)) throw new InvalidInputError(`invalid network name ${quote(network)}`);
  const m = /^([^/]+)\/([^/]+)$/.exec(target);
  if (!m) throw new InvalidInputError(`expected namespace/pod, got ${quote(target)}`);
  const [, namespace, pod] = m;
  const cluster = clusterOf(ctx);
  if (!cluster) throw new InvalidInputError('no etcd section in the config: there are no cluster-wide VLANs');
  const members = (await listVlans(cluster.client, cluster.prefix, network)).flatMap((v) =>
    v.members.filter((x) => x.namespace === namespace && x.pod === pod).map((x) => ({ ...x, tag: v.tag })),
  );
  if (members.length === 0) throw new NotFoundError(`${namespace}/${pod} is no member of a VLAN of network ${network}`);
  if (!force) await refuseInUse(ctx, network, namespace, pod);
  const lock = await tryLockPod(ctx.config.stateDir, namespace, pod);
  if (!lock) throw new ConflictError(`a podvlan call for ${namespace}/${pod} is running, try again`);
  try {
    const left: VlanLeft[] = [];
    for (const x of members) {
      const freed = await releaseVlan(ctx, { network, namespace, pod, containerId: x.containerId, interface: '' });
      left.push({ network, tag: x.tag, namespace, pod, containerId: x.containerId, node: x.node, freed });
    }
    ctx.log.info('ipam release-vlan', { network, namespace, pod, left });
    return left;
  } finally {
    lock.release();
  }
}

async function refuseInUse(ctx: Context, network: string, namespace: string, pod: string): Promise<void> {
  const ovs = await OvsdbClient.connect(ctx.config.ovsdb, ctx.config.timeoutMs);
  try {
    const selector = { 'podvlan/network': network, 'podvlan/namespace': namespace, 'podvlan/pod': pod };
    const user = (await findPorts(ovs, selector))[0];
    if (user)
      throw new ConflictError(
        `${namespace}/${pod} uses network ${network} through port ${user.attachment.port} on this node: tear the pod down first, or pass --force`,
      );
  } finally {
    ovs.close();
  }
}

function canonicalAddress(address: string): string {
  const ip = tryParseIp(address);
  if (!ip) throw new InvalidInputError(`invalid address ${quote(address)}`);
  return formatIp(ip);
}

function compareAddressText(a: string, b: string): number {
  const x = tryParseIp(a);
  const y = tryParseIp(b);
  return x && y ? compareIp(x, y) : a.localeCompare(b);
}
