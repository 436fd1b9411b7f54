// Reading and freeing etcd address allocations from the keys alone (etcd-keys.ts has the
// layout), for either family: what `ipam list|release`, gc and the teardown of a network that
// left the config use, and what EtcdAddressPool.release runs for its own family. Every address
// read back from a key or an owner value is acted on only in the canonical form podvlan writes
// (keyAddress); anything else was not written by podvlan.
import type { EtcdClient } from '../etcd/client';
import { cmp, op } from '../etcd/client';
import { InvalidInputError, UnavailableError } from '../errors';
import { isDns1123Label, quote } from '../names';
import { type Family, formatIp, tryParseIp } from './ip';
import { ipamKeys, jitterMs, keyAddress, normalizePrefix, parseIpKey, parseRecord, sleep } from './etcd-keys';
import { type Owner, sameOwner } from './pool';

/** What the ip key holds. */
export interface OwnerRecord extends Owner {
  node: string;
  since: string;
}

/** One allocated address and its owner, for `podvlan ipam list|show`. */
export interface Allocation extends OwnerRecord {
  address: string;
}

/** Every allocation under the prefix (of one network, or of all), sorted by network, family and address. */
export async function listAllocations(client: EtcdClient, prefix: string, network?: string): Promise<Allocation[]> {
  const dir = network ? ipamKeys(prefix, network).ipDir : `${normalizePrefix(prefix)}/ipam/`;
  const out: { a: Allocation; family: Family; value: bigint }[] = [];
  for (const kv of await client.getPrefix(dir)) {
    const where = parseIpKey(prefix, kv.key);
    // Keys podvlan did not write (a network that is no label, an address not in canonical form) are skipped.
    const address = where && isDns1123Label(where.network) ? keyAddress(where.address) : undefined;
    const ip = address ? tryParseIp(address) : undefined;
    if (!where || !address || !ip) continue;
    out.push({ a: allocationOf(where.network, address, parseRecord<OwnerRecord>(kv.value)), ...ip });
  }
  out.sort(
    (x, y) =>
      x.a.network.localeCompare(y.a.network) ||
      x.family - y.family ||
      (x.value < y.value ? -1 : x.value > y.value ? 1 : 0),
  );
  return out.map((x) => x.a);
}

/**
 * Free `address` of `network` whoever holds it, with its owner key when that still points at
 * it. Returns the allocation that was freed, or undefined if the address was free. The address
 * may be written any way (`FD00::05`): its canonical form is the key.
 */
export async function forceRelease(
  client: EtcdClient,
  prefix: string,
  network: string,
  address: string,
): Promise<Allocation | undefined> {
  const ip = tryParseIp(address);
  if (!ip) throw new InvalidInputError(`invalid address ${quote(address)}`);
  const canonical = formatIp(ip);
  const keys = ipamKeys(prefix, network);
  const ipKey = keys.ip(canonical);
  for (let round = 0; round < 10; round++) {
    if (round > 0) await sleep(jitterMs(round));
    const ipKv = await client.get(ipKey);
    if (!ipKv) return undefined;
    const rec = parseRecord<OwnerRecord>(ipKv.value);
    const ownerKey =
      rec && typeof rec.containerId === 'string' && typeof rec.interface === 'string'
        ? keys.owner(rec.containerId, rec.interface, ip.family)
        : undefined;
    const both = ownerKey
      ? await client.txn({
          compare: [cmp.modRevision(ipKey, ipKv.modRevision), cmp.value(ownerKey, canonical)],
          success: [op.delete(ipKey), op.delete(ownerKey)],
        })
      : undefined;
    const done =
      both?.succeeded ||
      (await client.txn({ compare: [cmp.modRevision(ipKey, ipKv.modRevision)], success: [op.delete(ipKey)] }))
        .succeeded;
    if (done) return allocationOf(network, canonical, rec);
  }
  throw new UnavailableError(`could not release ${canonical} of network ${network}: it kept changing, try again`);
}

/**
 * Free what `owner` holds in `network`, from the keys alone: usable for a network that has left
 * the config (gc still has to free what its dead containers held). `family` limits it to that
 * family's address (a pool frees only its own); without it, both are freed.
 */
export async function releaseOwnerAddress(
  client: EtcdClient,
  prefix: string,
  network: string,
  owner: Owner,
  opts: { family?: Family; maxRounds?: number } = {},
): Promise<string[]> {
  const families: Family[] = opts.family ? [opts.family] : [4, 6];
  const freed = await Promise.all(
    families.map((f) => releaseOne(client, prefix, network, owner, f, opts.maxRounds ?? 10)),
  );
  return freed.flat();
}

async function releaseOne(
  client: EtcdClient,
  prefix: string,
  network: string,
  owner: Owner,
  family: Family,
  maxRounds: number,
): Promise<string[]> {
  const keys = ipamKeys(prefix, network);
  const ownerKey = keys.owner(owner.containerId, owner.interface, family);
  for (let round = 0; round < maxRounds; round++) {
    if (round > 0) await sleep(jitterMs(round));
    const held = await client.get(ownerKey);
    if (!held) return [];
    const address = keyAddress(held.value, family);
    // An owner key whose value is no address of its family names no ip key: it is dropped alone.
    const ipKey = address ? keys.ip(address) : undefined;
    const ipKv = ipKey ? await client.get(ipKey) : undefined;
    const rec = ipKv ? parseRecord<OwnerRecord>(ipKv.value) : undefined;
    const ours = rec !== undefined && sameOwner(rec, owner);
    if (rec && !ours && rec.containerId === owner.containerId && rec.interface === owner.interface) return []; // same id, another pod: not ours to free
    const res = await client.txn({
      compare: [
        cmp.modRevision(ownerKey, held.modRevision),
        ...(ipKey && ipKv ? [cmp.modRevision(ipKey, ipKv.modRevision)] : []),
      ],
      // A stale owner key (its address is gone or held by someone else) is dropped alone.
      success: [op.delete(ownerKey), ...(ours && ipKey ? [op.delete(ipKey)] : [])],
    });
    if (res.succeeded) return ours && address ? [address] : [];
  }
  throw new UnavailableError(
    `could not release the address of ${owner.namespace}/${owner.pod} in network ${network}: it kept changing, try again`,
  );
}

/** An address's allocation as listed and released: '?' for what an unreadable record lacks. */
export function allocationOf(network: string, address: string, rec: OwnerRecord | undefined): Allocation {
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
