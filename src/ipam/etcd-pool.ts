// Cluster-wide address pool in etcd: an address is unique across every node that shares the
// etcd prefix and the network name. No lock: each allocation is one compare-and-swap
// transaction on the address's own key (see etcd-keys.ts for the key layout):
//
//   if P/ipam/<net>/ip/<addr> and P/ipam/<net>/owner/<container>/<if> both do not exist
//   then put both, else read the owner key
//
// Before trying, one read takes a snapshot of the taken addresses (keys only) together with the
// owner key; each try starts at a pseudo-random point of the range (a hash of node, container,
// interface and attempt), so parallel nodes rarely pick the same address, and a lost race costs
// one more transaction. After a few lost races the snapshot is refreshed after a random pause;
// a fresh snapshot with no free address is ExhaustedError, and too many lost races in a row
// (only under extreme contention) is UnavailableError, which the kubelet retries.
import type { EtcdClient, KeyValue } from '../etcd/client';
import { cmp, op, rangeKvs } from '../etcd/client';
import { ConflictError, ExhaustedError, InvalidInputError, UnavailableError } from '../errors';
import { ipamKeys, jitterMs, normalizePrefix, parseIpKey, parseRecord, seedOf, sleep, firstFree } from './etcd-keys';
import { contains, formatIpv4, hostRange, parseIpv4, parsePrefix } from './ipv4';
import type { AddressPool, AddressRequest, Lease, Owner } from './pool';
import { sameOwner } from './pool';
import { isDns1123Label, isIpv4 } from '../names';
import type { HostLocalSpec } from './host-local';

export interface FixedAddress {
  namespace: string;
  pod: string;
  address: string;
}

/** A network's `ipam: {type: etcd}` section plus its name (the config's shape fits as is). */
export interface EtcdIpamNetwork extends HostLocalSpec {
  name: string;
  fixed?: FixedAddress[];
}

/** What the ip key holds. */
export interface OwnerRecord extends Owner {
  node: string;
  since: string;
}

/** One allocated address and its owner, for `podvlan ipam list|show`. */
export interface Allocation extends OwnerRecord {
  address: string;
}

export interface EtcdPoolOptions {
  /** Snapshot rounds before giving up under contention (default 10). */
  maxRounds?: number;
  /** Compare-and-swap attempts per snapshot (default 3). */
  triesPerRound?: number;
}

export class EtcdAddressPool implements AddressPool {
  readonly network: string;
  /** Compare-and-swap allocations tried, and those lost to another owner (for benchmarks and logs). */
  readonly stats = { attempts: 0, conflicts: 0 };
  private readonly keys: ReturnType<typeof ipamKeys>;
  private readonly prefixLength: number;
  private readonly subnet: ReturnType<typeof parsePrefix>;
  private readonly first: number;
  private readonly last: number;
  private readonly skip: Set<number>; // gateway, excluded and fixed addresses: never handed out dynamically
  private readonly maxRounds: number;
  private readonly triesPerRound: number;

  constructor(
    private readonly client: EtcdClient,
    private readonly prefix: string,
    private readonly spec: EtcdIpamNetwork,
    private readonly node: string,
    opts: EtcdPoolOptions = {},
  ) {
    this.network = spec.name;
    this.keys = ipamKeys(prefix, spec.name);
    this.subnet = parsePrefix(spec.subnet);
    const [lo, hi] = hostRange(this.subnet);
    this.prefixLength = this.subnet.length;
    this.first = spec.rangeStart ? parseIpv4(spec.rangeStart) : lo;
    this.last = spec.rangeEnd ? parseIpv4(spec.rangeEnd) : hi;
    this.skip = new Set(
      [...(spec.gateway ? [spec.gateway] : []), ...spec.exclude, ...(spec.fixed ?? []).map((f) => f.address)].map(
        parseIpv4,
      ),
    );
    this.maxRounds = opts.maxRounds ?? 10;
    this.triesPerRound = opts.triesPerRound ?? 3;
  }

  /**
   * The owner's address if it holds one (a retried setup), else its fixed address if the config
   * gives its pod one (see reserve), else a free address of the range.
   */
  async acquire(owner: Owner): Promise<Lease> {
    this.checkNetwork(owner);
    const fixed = this.fixedFor(owner);
    if (fixed) return this.reserve(owner, fixed);
    const ownerKey = this.keys.owner(owner.containerId, owner.interface);
    let attempt = 0;
    for (let round = 0; round < this.maxRounds; round++) {
      if (round > 0) await sleep(jitterMs(round));
      const snap = await this.client.txn({
        success: [op.range(ownerKey), op.rangePrefix(this.keys.ipDir, { keysOnly: true })],
      });
      const held = rangeKvs(snap.responses[0])[0];
      if (held) {
        const lease = await this.leaseOfHeld(owner, held);
        if (lease) return lease;
        continue; // a stale owner key was removed: look again
      }
      const taken = new Set(rangeKvs(snap.responses[1]).map((kv) => kv.key.slice(this.keys.ipDir.length)));
      for (let t = 0; t < this.triesPerRound; t++) {
        const ip = firstFree(
          this.first,
          this.last,
          seedOf(`${this.node}/${owner.containerId}/${owner.interface}/${attempt++}`),
          (v) => !this.skip.has(v) && !taken.has(formatIpv4(v)),
        );
        if (ip === undefined) {
          if (t === 0)
            throw new ExhaustedError(
              `address range ${formatIpv4(this.first)}-${formatIpv4(this.last)} of network ${this.network} is exhausted`,
            );
          break; // our snapshot filled up with lost races: take a fresh one
        }
        const address = formatIpv4(ip);
        this.stats.attempts++;
        const res = await this.client.txn({
          compare: [cmp.absent(this.keys.ip(address)), cmp.absent(ownerKey)],
          success: [op.put(this.keys.ip(address), this.record(owner)), op.put(ownerKey, address)],
          failure: [op.range(ownerKey)],
        });
        if (res.succeeded) return this.lease(address);
        const nowHeld = rangeKvs(res.responses[0])[0];
        if (nowHeld) {
          // a concurrent call for this same owner won (or the reply to our own was lost)
          const lease = await this.leaseOfHeld(owner, nowHeld);
          if (lease) return lease;
          break;
        }
        this.stats.conflicts++;
        taken.add(address); // another owner took it first
      }
    }
    throw new UnavailableError(
      `could not allocate an address in network ${this.network}: ${attempt} attempts lost to concurrent allocations, try again`,
    );
  }

  /**
   * Reserve one explicit address for the owner, the same compare-and-swap way. ConflictError if
   * another pod holds it, or if this owner already holds a different address.
   *
   * An older container of the same namespace/pod that still holds it is replaced, in one
   * transaction guarded by the address key's mod revision (its owner key goes too): Kubernetes
   * lets one pod of a name exist at a time, so that container is a dead sandbox, possibly on a
   * node that is gone (a StatefulSet pod rescheduled elsewhere), and its late teardown then
   * finds nothing of its own to free.
   */
  async reserve(owner: Owner, address: string): Promise<Lease> {
    this.checkNetwork(owner);
    const ip = this.checkAddress(address);
    const ipKey = this.keys.ip(ip);
    const ownerKey = this.keys.owner(owner.containerId, owner.interface);
    for (let round = 0; round < this.maxRounds; round++) {
      if (round > 0) await sleep(jitterMs(round));
      const res = await this.client.txn({
        compare: [cmp.absent(ipKey), cmp.absent(ownerKey)],
        success: [op.put(ipKey, this.record(owner)), op.put(ownerKey, ip)],
        failure: [op.range(ipKey), op.range(ownerKey)],
      });
      if (res.succeeded) return this.lease(ip);
      const holder = rangeKvs(res.responses[0])[0];
      const mine = rangeKvs(res.responses[1])[0];
      if (mine) {
        const lease = await this.leaseOfHeld(owner, mine);
        if (!lease) continue;
        if (mine.value === ip) return lease;
        throw new ConflictError(
          `container ${owner.containerId} (${owner.namespace}/${owner.pod}) already holds ${mine.value} in network ${this.network}, not the fixed address ${ip}`,
        );
      }
      if (holder) {
        const rec = parseRecord<OwnerRecord>(holder.value);
        if (
          rec &&
          rec.namespace === owner.namespace &&
          rec.pod === owner.pod &&
          rec.containerId !== owner.containerId
        ) {
          const oldOwnerKey = this.keys.owner(rec.containerId, rec.interface);
          const took = await this.client.txn({
            compare: [cmp.modRevision(ipKey, holder.modRevision), cmp.absent(ownerKey)],
            success: [op.put(ipKey, this.record(owner)), op.put(ownerKey, ip), op.delete(oldOwnerKey)],
          });
          if (took.succeeded) return this.lease(ip);
          continue;
        }
        throw new ConflictError(
          `address ${ip} of network ${this.network} is already held by ${rec ? `${rec.namespace}/${rec.pod} (container ${rec.containerId.slice(0, 12)} on node ${rec.node})` : 'another owner'}`,
        );
      }
      // Both were freed between our compare and our read: try again.
    }
    throw new UnavailableError(`could not reserve ${ip} in network ${this.network}: it kept changing, try again`);
  }

  /** Exactly the requested address (see AddressPool): checked against the range, the gateway,
   * excluded and fixed addresses, then taken as `reserve` takes one. */
  async acquireRequested(owner: Owner, request: AddressRequest): Promise<Lease> {
    const ip = parseIpv4(this.checkAddress(request.address));
    const text = formatIpv4(ip);
    if (ip < this.first || ip > this.last)
      throw new InvalidInputError(
        `requested address ${text} is outside range ${formatIpv4(this.first)}-${formatIpv4(this.last)} ` +
          `of network ${this.network}`,
      );
    if (this.skip.has(ip))
      throw new InvalidInputError(
        `requested address ${text} is the gateway, excluded or fixed in network ${this.network}: not handed out`,
      );
    if (request.prefixLength !== undefined && request.prefixLength !== this.prefixLength)
      throw new InvalidInputError(
        `requested ${text}/${request.prefixLength}: network ${this.network}'s subnet is ${this.spec.subnet}`,
      );
    return this.reserve(owner, text);
  }

  /**
   * Free what this owner holds: both keys in one transaction guarded by their mod revisions, so
   * an address handed to someone else meanwhile (a newer container of the same pod has its own
   * owner key) is never freed. The same container id under another pod name frees nothing.
   */
  async release(owner: Owner): Promise<string[]> {
    this.checkNetwork(owner);
    return releaseOwnerAddress(this.client, this.prefix, this.network, owner, this.maxRounds);
  }

  /** Every allocation of this network, by address. */
  list(): Promise<Allocation[]> {
    return listAllocations(this.client, this.prefix, this.network);
  }

  /** Free an address whoever holds it (operators); returns what it was, or undefined if free. */
  forceRelease(address: string): Promise<Allocation | undefined> {
    return forceRelease(this.client, this.prefix, this.network, this.checkAddress(address));
  }

  // ---- helpers ----

  private lease(address: string): Lease {
    const via = this.spec.gateway;
    return {
      address: `${address}/${this.prefixLength}`,
      gateway: via,
      routes: this.spec.routes.map((r) => ({ dst: r.dst, via: r.via ?? via })),
    };
  }

  private record(owner: Owner): string {
    const rec: OwnerRecord = {
      network: this.network,
      namespace: owner.namespace,
      pod: owner.pod,
      containerId: owner.containerId,
      interface: owner.interface,
      node: this.node,
      since: new Date().toISOString(),
    };
    return JSON.stringify(rec);
  }

  /**
   * The owner key says this container+interface holds an address: its lease if the address's
   * record names this very owner; ConflictError if it names the same container under another
   * pod; undefined after removing the owner key if the address is no longer this owner's.
   */
  private async leaseOfHeld(owner: Owner, held: KeyValue): Promise<Lease | undefined> {
    const ipKv = await this.client.get(this.keys.ip(held.value));
    const rec = ipKv ? parseRecord<OwnerRecord>(ipKv.value) : undefined;
    if (rec && sameOwner(rec, owner)) return this.lease(held.value);
    if (rec && rec.containerId === owner.containerId && rec.interface === owner.interface) {
      throw new ConflictError(
        `container ${owner.containerId} already holds ${held.value} in network ${this.network} as pod ${rec.namespace}/${rec.pod}, not ${owner.namespace}/${owner.pod}`,
      );
    }
    await this.client.txn({ compare: [cmp.modRevision(held.key, held.modRevision)], success: [op.delete(held.key)] });
    return undefined;
  }

  private fixedFor(owner: Owner): string | undefined {
    return this.spec.fixed?.find((f) => f.namespace === owner.namespace && f.pod === owner.pod)?.address;
  }

  private checkNetwork(owner: Owner): void {
    if (owner.network !== this.network)
      throw new Error(`owner of network ${owner.network} given to the pool of network ${this.network}`);
  }

  /** "a.b.c.d" or "a.b.c.d/len", inside the subnet; returns "a.b.c.d". */
  private checkAddress(address: string): string {
    let ip: number;
    try {
      ip = parseIpv4(address.split('/')[0]);
    } catch (err) {
      throw new InvalidInputError((err as Error).message);
    }
    if (!contains(this.subnet, ip))
      throw new InvalidInputError(
        `address ${address} is outside subnet ${this.spec.subnet} of network ${this.network}`,
      );
    return formatIpv4(ip);
  }
}

/** Every allocation under the prefix (of one network, or of all), sorted by network and address. */
export async function listAllocations(client: EtcdClient, prefix: string, network?: string): Promise<Allocation[]> {
  const dir = network ? ipamKeys(prefix, network).ipDir : `${normalizePrefix(prefix)}/ipam/`;
  const out: Allocation[] = [];
  for (const kv of await client.getPrefix(dir)) {
    const where = parseIpKey(prefix, kv.key);
    // Keys podvlan did not write (a network that is no label, an address that is no address) are skipped.
    if (!where || !isDns1123Label(where.network) || !isIpv4(where.address)) continue;
    const rec = parseRecord<OwnerRecord>(kv.value);
    out.push(allocationOf(where.network, where.address, rec));
  }
  const num = (a: string) => {
    try {
      return parseIpv4(a);
    } catch {
      return 0;
    }
  };
  return out.sort((a, b) => a.network.localeCompare(b.network) || num(a.address) - num(b.address));
}

/**
 * Free `address` of `network` whoever holds it, with its owner key when that still points at
 * it. Returns the allocation that was freed, or undefined if the address was free.
 */
export async function forceRelease(
  client: EtcdClient,
  prefix: string,
  network: string,
  address: string,
): Promise<Allocation | undefined> {
  const keys = ipamKeys(prefix, network);
  const ipKey = keys.ip(address);
  for (let round = 0; round < 10; round++) {
    if (round > 0) await sleep(jitterMs(round));
    const ipKv = await client.get(ipKey);
    if (!ipKv) return undefined;
    const rec = parseRecord<OwnerRecord>(ipKv.value);
    const ownerKey =
      rec && typeof rec.containerId === 'string' && typeof rec.interface === 'string'
        ? keys.owner(rec.containerId, rec.interface)
        : undefined;
    const both = ownerKey
      ? await client.txn({
          compare: [cmp.modRevision(ipKey, ipKv.modRevision), cmp.value(ownerKey, address)],
          success: [op.delete(ipKey), op.delete(ownerKey)],
        })
      : undefined;
    const done =
      both?.succeeded ||
      (await client.txn({ compare: [cmp.modRevision(ipKey, ipKv.modRevision)], success: [op.delete(ipKey)] }))
        .succeeded;
    if (done) {
      return allocationOf(network, address, rec);
    }
  }
  throw new UnavailableError(`could not release ${address} of network ${network}: it kept changing, try again`);
}

/**
 * Free what `owner` holds in `network`, from the keys alone: usable for a network that has left
 * the config (gc still has to free what its dead containers held).
 */
export async function releaseOwnerAddress(
  client: EtcdClient,
  prefix: string,
  network: string,
  owner: Owner,
  maxRounds = 10,
): Promise<string[]> {
  const keys = ipamKeys(prefix, network);
  const ownerKey = keys.owner(owner.containerId, owner.interface);
  for (let round = 0; round < maxRounds; round++) {
    if (round > 0) await sleep(jitterMs(round));
    const held = await client.get(ownerKey);
    if (!held) return [];
    const address = held.value;
    const ipKey = keys.ip(address);
    const ipKv = await client.get(ipKey);
    const rec = ipKv ? parseRecord<OwnerRecord>(ipKv.value) : undefined;
    const ours = rec !== undefined && sameOwner(rec, owner);
    if (rec && !ours && rec.containerId === owner.containerId && rec.interface === owner.interface) return []; // same id, another pod: not ours to free
    const res = await client.txn({
      compare: [
        cmp.modRevision(ownerKey, held.modRevision),
        ...(ipKv ? [cmp.modRevision(ipKey, ipKv.modRevision)] : []),
      ],
      // A stale owner key (its address is gone or held by someone else) is dropped alone.
      success: [op.delete(ownerKey), ...(ours ? [op.delete(ipKey)] : [])],
    });
    if (res.succeeded) return ours ? [address] : [];
  }
  throw new UnavailableError(
    `could not release the address of ${owner.namespace}/${owner.pod} in network ${network}: it kept changing, try again`,
  );
}

/** An address's allocation as listed and released: '?' for what an unreadable record lacks. */
function allocationOf(network: string, address: string, rec: OwnerRecord | undefined): Allocation {
  return {
    network,
    address,
    namespace: rec?.namespace ?? '?',
    pod: rec?.pod ?? '?',
    containerId: rec?.containerId ?? '?',
    interface: rec?.interface ?? '?',
    node: rec?.node ?? '?',
    since: rec?.since ?? '?',
  };
}
