// Cluster-wide address pool in etcd: an address is unique across every node that shares the
// etcd prefix and the network name. No lock: each allocation is one compare-and-swap
// transaction on the address's own key (see etcd-keys.ts for the key layout):
//
//   if P/ipam/<net>/ip/<addr> and P/ipam/<net>/owner[6]/<container>/<if> both do not exist
//   then put both, else read the owner key
//
// A pool is of one family (its subnet's). How it picks the address to try depends on the range:
//
// - **Scanned** (every IPv4 range, as it always was; an IPv6 range of at most SCAN_LIMIT =
//   65536 addresses, a /112): one read takes a snapshot of the taken addresses (keys only)
//   together with the owner key; each try takes the first free address after a pseudo-random
//   point of the range (a hash of node, container, interface and attempt), so parallel nodes
//   rarely pick the same one, and a lost race costs one more transaction. After a few lost races
//   the snapshot is refreshed after a random pause; a fresh snapshot with no free address is
//   ExhaustedError (so the last free address is always found), and too many lost races in a row
//   (only under extreme contention) is UnavailableError, which the kubelet retries.
//
// - **Probed** (an IPv6 range larger than that: a /64 has 2^64 addresses). Neither the range nor
//   the taken keys are ever read: the snapshot would grow with every pod of the network, and a
//   walk of the range could not end. Each try is the compare-and-swap itself, on the address at
//   a hashed offset of the whole range (node, container, interface and try number: 64 bits of
//   hash, 128 beyond 2^64); the same transaction's failure branch reads the owner key, so a
//   retried setup gets its address back in that one round trip. A try fails only when the
//   address is taken, with probability (taken / size) per try: 2^-44 for a million pods on a
//   /64, so a setup costs one transaction. After MAX_PROBES (32) taken addresses in a row the
//   range is called full (ExhaustedError, saying so): that needs a range at least half full
//   (a 2^-32 chance per setup at half, 1 in 10 000 at three quarters), which for a range above
//   65536 addresses means more than 32768 pods in one network.
//   Why not a cursor key (the next address to hand out, advanced by compare-and-swap): every
//   allocation of the cluster would contend for that one key, serialising all nodes, the very
//   thing the per-address keys avoid. Why hashed and not random: the offsets spread as well,
//   and a test or a bug report can replay them.
import type { EtcdClient, KeyValue } from '../etcd/client';
import { cmp, op, rangeKvs } from '../etcd/client';
import { ConflictError, ExhaustedError, InvalidInputError, UnavailableError } from '../errors';
import {
  type Allocation,
  forceRelease,
  listAllocations,
  type OwnerRecord,
  releaseOwnerAddress,
} from './etcd-allocations';
import { firstFree, ipamKeys, jitterMs, keyAddress, parseRecord, seedOf, sleep } from './etcd-keys';
import { PoolRange } from './etcd-range';
import type { HostLocalSpec } from './host-local';
import type { Family } from './ip';
import type { AddressPool, AddressRequest, Lease, Owner } from './pool';
import { sameOwner } from './pool';

export type { Allocation, OwnerRecord } from './etcd-allocations';
export { forceRelease, listAllocations, releaseOwnerAddress } from './etcd-allocations';

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

export interface EtcdPoolOptions {
  /** Snapshot rounds before giving up under contention (default 10). */
  maxRounds?: number;
  /** Compare-and-swap attempts per snapshot (default 3). */
  triesPerRound?: number;
  /** Probes of a large IPv6 range before calling it full (default MAX_PROBES). */
  maxProbes?: number;
}

/** Taken addresses in a row after which a probed range is called full (see the header). */
export const MAX_PROBES = 32;

export class EtcdAddressPool implements AddressPool {
  readonly network: string;
  readonly family: Family;
  /** Compare-and-swap allocations tried, and those lost to another owner (for benchmarks and logs). */
  readonly stats = { attempts: 0, conflicts: 0 };
  private readonly keys: ReturnType<typeof ipamKeys>;
  private readonly range: PoolRange;
  private readonly maxRounds: number;
  private readonly triesPerRound: number;
  private readonly maxProbes: number;

  constructor(
    private readonly client: EtcdClient,
    private readonly prefix: string,
    private readonly spec: EtcdIpamNetwork,
    private readonly node: string,
    opts: EtcdPoolOptions = {},
  ) {
    this.network = spec.name;
    this.keys = ipamKeys(prefix, spec.name);
    this.range = new PoolRange(spec);
    this.family = this.range.family;
    this.maxRounds = opts.maxRounds ?? 10;
    this.triesPerRound = opts.triesPerRound ?? 3;
    this.maxProbes = opts.maxProbes ?? MAX_PROBES;
  }

  /**
   * The owner's address if it holds one (a retried setup), else its fixed address if the config
   * gives its pod one (see reserve), else a free address of the range.
   */
  async acquire(owner: Owner): Promise<Lease> {
    this.checkNetwork(owner);
    const fixed = this.fixedFor(owner);
    if (fixed) return this.reserve(owner, fixed);
    return this.range.probed ? this.acquireProbed(owner) : this.acquireScanned(owner);
  }

  /** A range small enough to scan: a snapshot of the taken keys, then free addresses from a hashed start. */
  private async acquireScanned(owner: Owner): Promise<Lease> {
    const ownerKey = this.keys.owner(owner.containerId, owner.interface, this.family);
    const { range } = this;
    const count = Number(range.size);
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
        const at = firstFree(
          0,
          count - 1,
          seedOf(`${this.node}/${owner.containerId}/${owner.interface}/${attempt++}`),
          (o) => {
            const text = range.textAt(o);
            return !range.skip.has(text) && !taken.has(text);
          },
        );
        if (at === undefined) {
          if (t === 0)
            throw new ExhaustedError(`address range ${range.text()} of network ${this.network} is exhausted`);
          break; // our snapshot filled up with lost races: take a fresh one
        }
        const address = range.textAt(at);
        const lease = await this.tryTake(owner, ownerKey, address);
        if (lease === 'lost') {
          taken.add(address); // another owner took it first
          continue;
        }
        if (lease === 'stale') break;
        return lease;
      }
    }
    throw new UnavailableError(
      `could not allocate an address in network ${this.network}: ${attempt} attempts lost to concurrent allocations, try again`,
    );
  }

  /** A range too large to scan (an IPv6 /64): compare-and-swap at hashed offsets, nothing listed. */
  private async acquireProbed(owner: Owner): Promise<Lease> {
    const ownerKey = this.keys.owner(owner.containerId, owner.interface, this.family);
    for (let t = 0; t < this.maxProbes; t++) {
      const seed = `${this.node}/${owner.containerId}/${owner.interface}/${t}`;
      const address = this.range.probeAt(seed);
      if (this.range.skip.has(address)) continue;
      const lease = await this.tryTake(owner, ownerKey, address);
      if (lease !== 'lost' && lease !== 'stale') return lease;
    }
    throw new ExhaustedError(
      `address range ${this.range.text()} of network ${this.network}: ${this.maxProbes} addresses tried at random were all taken, so it is nearly full: widen the range`,
    );
  }

  /**
   * One compare-and-swap for `address`: the lease, or 'lost' (another owner holds it), or
   * 'stale' (this owner's key named an address no longer its own, now removed).
   */
  private async tryTake(owner: Owner, ownerKey: string, address: string): Promise<Lease | 'lost' | 'stale'> {
    this.stats.attempts++;
    const res = await this.client.txn({
      compare: [cmp.absent(this.keys.ip(address)), cmp.absent(ownerKey)],
      success: [op.put(this.keys.ip(address), this.record(owner)), op.put(ownerKey, address)],
      failure: [op.range(ownerKey)],
    });
    if (res.succeeded) return this.lease(address);
    const nowHeld = rangeKvs(res.responses[0])[0];
    if (nowHeld) {
      // a concurrent call for this same owner won (or the reply to our own was lost), or a retry
      return (await this.leaseOfHeld(owner, nowHeld)) ?? 'stale';
    }
    this.stats.conflicts++;
    return 'lost';
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
    const ip = this.range.canonical(address);
    const ipKey = this.keys.ip(ip);
    const ownerKey = this.keys.owner(owner.containerId, owner.interface, this.family);
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
          const oldOwnerKey = this.keys.owner(rec.containerId, rec.interface, this.family);
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
    const text = this.range.canonical(request.address);
    if (!this.range.inRange(text))
      throw new InvalidInputError(
        `requested address ${text} is outside range ${this.range.text()} of network ${this.network}`,
      );
    if (this.range.skip.has(text))
      throw new InvalidInputError(
        `requested address ${text} is the gateway, excluded or fixed in network ${this.network}: not handed out`,
      );
    if (request.prefixLength !== undefined && request.prefixLength !== this.range.subnet.length)
      throw new InvalidInputError(
        `requested ${text}/${request.prefixLength}: network ${this.network}'s subnet is ${this.spec.subnet}`,
      );
    return this.reserve(owner, text);
  }

  /**
   * Free what this owner holds of this pool's family: both keys in one transaction guarded by
   * their mod revisions, so an address handed to someone else meanwhile (a newer container of
   * the same pod has its own owner key) is never freed. The same container id under another pod
   * name frees nothing.
   */
  async release(owner: Owner): Promise<string[]> {
    this.checkNetwork(owner);
    return releaseOwnerAddress(this.client, this.prefix, this.network, owner, {
      family: this.family,
      maxRounds: this.maxRounds,
    });
  }

  /** Every allocation of this network (both families), by address. */
  list(): Promise<Allocation[]> {
    return listAllocations(this.client, this.prefix, this.network);
  }

  /** Free an address whoever holds it (operators); returns what it was, or undefined if free. */
  forceRelease(address: string): Promise<Allocation | undefined> {
    return forceRelease(this.client, this.prefix, this.network, this.range.canonical(address));
  }

  // ---- helpers ----

  private lease(address: string): Lease {
    const via = this.spec.gateway;
    return {
      address: `${address}/${this.range.subnet.length}`,
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
   * pod; undefined after removing the owner key if the address is no longer this owner's (or
   * the key's value is no address of this family: nothing podvlan wrote).
   */
  private async leaseOfHeld(owner: Owner, held: KeyValue): Promise<Lease | undefined> {
    const address = keyAddress(held.value, this.family);
    const ipKv = address ? await this.client.get(this.keys.ip(address)) : undefined;
    const rec = ipKv ? parseRecord<OwnerRecord>(ipKv.value) : undefined;
    if (address && rec && sameOwner(rec, owner)) return this.lease(address);
    if (rec && rec.containerId === owner.containerId && rec.interface === owner.interface) {
      throw new ConflictError(
        `container ${owner.containerId} already holds ${address} in network ${this.network} as pod ${rec.namespace}/${rec.pod}, not ${owner.namespace}/${owner.pod}`,
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
}
