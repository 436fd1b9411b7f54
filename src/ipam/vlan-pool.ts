// Cluster-wide VLAN pool in etcd: `vlan: { pool: "100-199", per: namespace | pod }`. Each holder
// (a namespace, or a namespace/pod with per: pod) gets one tag of the pool, the same on every
// node, for as long as at least one of its containers is a member; the last member to leave
// frees it. Keys (see etcd-keys.ts):
//
//   P/vlan/<net>/tag/<tag>                      -> holder      the tag is taken, and by whom
//   P/vlan/<net>/by/<holder>                    -> tag         the holder's tag
//   P/vlan/<net>/member/<holder>/<containerId>  -> member JSON one per container using it
//
// Invariant: whenever a member key exists, its holder's by key and tag key exist and agree.
// Every write is one transaction that keeps it:
//
//   allocate  if tag/<t> and by/<h> are absent         put tag/<t>, by/<h>, member   (atomic)
//   join      if by/<h> exists with value t            put member
//   leave     delete member, then
//   free      if no key exists under member/<h>/,
//             by/<h> == t and tag/<t> == h             delete by/<h>, tag/<t>
//
// The race that matters is a pod joining while the last one leaves. etcd applies transactions
// one at a time, so either
//   - the join commits first: its member key exists when `free` is evaluated, the "no key under
//     member/<h>/" compare fails, and the VLAN stays (with the newcomer as its member); or
//   - `free` commits first: by/<h> is gone when `join` is evaluated, its compare fails, and the
//     joiner starts over on the allocate path, getting a tag (possibly the same one) with its
//     member key in the same transaction.
// No interleaving leaves a member without its tag, or a tag that two holders use. The "no
// member" test is a compare on the whole member/<h>/ range (etcd >= 3.3: an empty range compares
// as an absent key, so create_revision == 0 holds only if no key exists under it), evaluated
// inside the same transaction as the delete. A check made by a separate read first (count the
// members, then delete guarded by by/<h>'s mod revision) would not do on its own: a join does
// not write by/<h>, so its mod revision does not change when a member arrives between the read
// and the delete. The loop around `free` is only for liveness (re-reading a by key that changed).
//
// A leave that dies between its two steps leaves a tag with no members: the next join of that
// holder reuses it, and a repeated teardown (the kubelet retries) frees it.
import type { EtcdClient } from '../etcd/client';
import { cmp, op, rangeKvs } from '../etcd/client';
import { ConflictError, ExhaustedError, UnavailableError } from '../errors';
import { firstFree, jitterMs, normalizePrefix, parseRecord, seedOf, sleep, vlanKeys } from './etcd-keys';
import { parseVlanRange, type VlanPer, type VlanRange } from './vlan';
import { isDns1123Label, isPodName } from '../names';

export interface VlanPoolSpec {
  pool: string;
  per: VlanPer;
}

/** Who asks: the same fields as an address pool's Owner (network and interface are not needed). */
export interface VlanOwner {
  namespace: string;
  pod: string;
  containerId: string;
}

export interface MemberRecord {
  network: string;
  namespace: string;
  pod: string;
  containerId: string;
  node: string;
  since: string;
}

/** One tag in use, for `podvlan ipam list|show`. */
export interface VlanAllocation {
  network: string;
  tag: number;
  holder: string;
  members: MemberRecord[];
}

export interface VlanRelease {
  tag?: number; // the tag this container was a member of (undefined: it held none)
  freed: boolean; // this was the last member and the tag went back to the pool
}

export class EtcdVlanPool {
  readonly range: VlanRange;
  private readonly keys: ReturnType<typeof vlanKeys>;
  private readonly maxRounds: number;

  constructor(
    private readonly client: EtcdClient,
    private readonly prefix: string,
    readonly network: string,
    private readonly spec: VlanPoolSpec,
    private readonly node: string,
    opts: { maxRounds?: number } = {},
  ) {
    this.range = parseVlanRange(spec.pool);
    this.keys = vlanKeys(prefix, network);
    this.maxRounds = opts.maxRounds ?? 20;
  }

  /** "<namespace>" with per: namespace, "<namespace>/<pod>" with per: pod. */
  holderOf(owner: VlanOwner): string {
    return this.spec.per === 'pod' ? `${owner.namespace}/${owner.pod}` : owner.namespace;
  }

  /** The holder's tag, joining it as a member, or a new tag of the pool. A retry returns the same tag.
   * `holder` is given by the CNI front end, whose owner (namespace "cni") is not the Kubernetes
   * namespace the tag is per (see cni/vlan.ts); exec mode's holder is its owner's. */
  async acquire(owner: VlanOwner, holder = this.holderOf(owner)): Promise<number> {
    const byKey = this.keys.by(holder);
    const memberKey = this.keys.member(holder, owner.containerId);
    const member = JSON.stringify({
      network: this.network,
      namespace: owner.namespace,
      pod: owner.pod,
      containerId: owner.containerId,
      node: this.node,
      since: new Date().toISOString(),
    } satisfies MemberRecord);
    let attempt = 0;
    for (let round = 0; round < this.maxRounds; round++) {
      if (round > 0) await sleep(jitterMs(Math.min(round, 5)));
      // One snapshot: am I a member already, the holder's tag, and the tags taken.
      const snap = await this.client.txn({
        success: [op.range(memberKey), op.range(byKey), op.rangePrefix(this.keys.tagDir, { keysOnly: true })],
      });
      const mine = rangeKvs(snap.responses[0])[0];
      const by = rangeKvs(snap.responses[1])[0];
      if (mine) {
        const rec = parseRecord<MemberRecord>(mine.value);
        if (rec && (rec.namespace !== owner.namespace || rec.pod !== owner.pod)) {
          throw new ConflictError(
            `container ${owner.containerId} is already a member of VLAN holder ${holder} in network ${this.network} as pod ${rec.namespace}/${rec.pod}, not ${owner.namespace}/${owner.pod}`,
          );
        }
        if (by) return Number(by.value); // a retry: same tag
        // Cannot happen through this code (see the invariant); someone deleted keys by hand.
        await this.client.txn({
          compare: [cmp.modRevision(memberKey, mine.modRevision)],
          success: [op.delete(memberKey)],
        });
        continue;
      }
      if (by) {
        const joined = await this.client.txn({
          compare: [cmp.value(byKey, by.value)],
          success: [op.put(memberKey, member)],
        });
        if (joined.succeeded) return Number(by.value);
        continue; // freed or changed meanwhile: look again
      }
      const taken = new Set(rangeKvs(snap.responses[2]).map((kv) => Number(kv.key.slice(this.keys.tagDir.length))));
      const tag = firstFree(
        this.range.first,
        this.range.last,
        seedOf(`${this.network}/${holder}/${attempt++}`),
        (t) => !taken.has(t),
      );
      if (tag === undefined)
        throw new ExhaustedError(
          `VLAN pool ${this.range.first}-${this.range.last} of network ${this.network} is exhausted`,
        );
      const res = await this.client.txn({
        compare: [cmp.absent(this.keys.tag(tag)), cmp.absent(byKey)],
        success: [op.put(this.keys.tag(tag), holder), op.put(byKey, String(tag)), op.put(memberKey, member)],
      });
      if (res.succeeded) return tag;
      // Another holder took that tag, or another container of this holder allocated first
      // (then the next round joins it).
    }
    throw new UnavailableError(
      `could not get a VLAN for ${holder} in network ${this.network}: too many concurrent changes, try again`,
    );
  }

  /**
   * Leave the holder's VLAN; free the tag if this was its last member. Idempotent: a repeated
   * release also frees a tag that an interrupted one left without members. The same container
   * id under another pod name releases nothing.
   */
  async release(owner: VlanOwner, holder = this.holderOf(owner)): Promise<VlanRelease> {
    const byKey = this.keys.by(holder);
    const memberKey = this.keys.member(holder, owner.containerId);
    const memberDir = this.keys.memberDir(holder);
    let tag: number | undefined;
    for (let round = 0; round < this.maxRounds; round++) {
      if (round > 0) await sleep(jitterMs(Math.min(round, 5)));
      const snap = await this.client.txn({ success: [op.range(memberKey), op.range(byKey)] });
      const mine = rangeKvs(snap.responses[0])[0];
      const by = rangeKvs(snap.responses[1])[0];
      if (mine) {
        const rec = parseRecord<MemberRecord>(mine.value);
        if (rec && (rec.namespace !== owner.namespace || rec.pod !== owner.pod)) return { freed: false };
        tag = by ? Number(by.value) : undefined;
        const left = await this.client.txn({
          compare: [cmp.modRevision(memberKey, mine.modRevision)],
          success: [op.delete(memberKey)],
        });
        if (!left.succeeded) continue;
      }
      if (!by) return { tag, freed: false };
      const free = await this.client.txn({
        compare: [
          cmp.noneUnder(memberDir),
          cmp.value(byKey, by.value),
          cmp.value(this.keys.tag(Number(by.value)), holder),
        ],
        success: [op.delete(byKey), op.delete(this.keys.tag(Number(by.value)))],
        failure: [
          op.range(byKey),
          op.rangePrefix(memberDir, { countOnly: true }),
          op.range(this.keys.tag(Number(by.value))),
        ],
      });
      if (free.succeeded) return { tag: tag ?? Number(by.value), freed: true };
      const [byResp, members, tagResp] = free.responses;
      const byNow = rangeKvs(byResp)[0];
      if (members?.type === 'range' && members.count > 0) return { tag, freed: false }; // others still use it
      if (!byNow) return { tag, freed: false }; // someone else freed it
      if (byNow.value === by.value && rangeKvs(tagResp)[0]?.value !== holder) {
        // The tag key names another holder (or is gone): only hand edits do that. Drop the by key alone.
        await this.client.txn({
          compare: [cmp.noneUnder(memberDir), cmp.value(byKey, by.value)],
          success: [op.delete(byKey)],
        });
        return { tag, freed: false };
      }
      // by/<holder> changed between our read and the transaction: look again (no membership left to drop).
    }
    throw new UnavailableError(
      `could not release the VLAN of ${holder} in network ${this.network}: too many concurrent changes, try again`,
    );
  }

  /** The holders this container is a member of (a scan of the network's member keys, for a DEL
   * that knows the container but not the Kubernetes names its VLAN was taken for). */
  async holdersOf(containerId: string): Promise<string[]> {
    const dir = this.keys.memberDir('').slice(0, -1); // ".../member/": every holder's members
    const res = await this.client.txn({ success: [op.rangePrefix(dir, { keysOnly: true })] });
    return rangeKvs(res.responses[0])
      .map((kv) => kv.key.slice(dir.length))
      .filter((rest) => rest.endsWith(`/${containerId}`))
      .map((rest) => rest.slice(0, -containerId.length - 1));
  }

  /** Every tag of this network in use, with its members. */
  list(): Promise<VlanAllocation[]> {
    return listVlans(this.client, this.prefix, this.network);
  }
}

function isMemberForm(rec: MemberRecord): boolean {
  return (
    typeof rec.node === 'string' &&
    typeof rec.namespace === 'string' &&
    typeof rec.pod === 'string' &&
    typeof rec.containerId === 'string' &&
    isDns1123Label(rec.namespace) &&
    isPodName(rec.pod) &&
    /^[0-9a-f]{1,64}$/.test(rec.containerId)
  );
}

/** Every VLAN tag in use under the prefix (of one network, or of all), with its members. */
export async function listVlans(client: EtcdClient, prefix: string, network?: string): Promise<VlanAllocation[]> {
  const base = `${normalizePrefix(prefix)}/vlan/`;
  const kvs = await client.getPrefix(network ? `${base}${network}/` : base);
  const tags = new Map<string, VlanAllocation>(); // "<network> <holder>"
  const members: { network: string; holder: string; rec: MemberRecord }[] = [];
  for (const kv of kvs) {
    const rest = kv.key.slice(base.length);
    const tag = /^([^/]+)\/tag\/(\d+)$/.exec(rest);
    if (tag && !isDns1123Label(tag[1])) continue; // not a key podvlan wrote
    if (tag) {
      tags.set(`${tag[1]} ${kv.value}`, { network: tag[1], tag: Number(tag[2]), holder: kv.value, members: [] });
      continue;
    }
    const mem = /^([^/]+)\/member\/(.+)\/([^/]+)$/.exec(rest);
    const rec = mem ? parseRecord<MemberRecord>(kv.value) : undefined;
    // A member is acted on (released by hand, collected by gc): only with names and an id that
    // make podvlan's keys (gc also requires a full container id, isValidOwner).
    if (mem && rec && isMemberForm(rec) && rec.containerId === mem[3]) {
      members.push({ network: mem[1], holder: mem[2], rec: { ...rec, network: mem[1] } });
    }
  }
  for (const m of members) tags.get(`${m.network} ${m.holder}`)?.members.push(m.rec);
  return [...tags.values()].sort((a, b) => a.network.localeCompare(b.network) || a.tag - b.tag);
}
