// Where the cluster-wide pools keep their state in etcd, and the pure helpers they share
// (candidate order, back-off). No I/O here.
//
// Key layout, below the configured prefix P (default /podvlan, no trailing slash):
//
//   P/ipam/<network>/ip/<address>                       -> JSON owner record {network, namespace, pod,
//                                                          containerId, interface, node, since}
//   P/ipam/<network>/owner/<containerId>/<interface>    -> "a.b.c.d"  (the IPv4 address held)
//   P/ipam/<network>/owner6/<containerId>/<interface>   -> "fd00::5"  (the IPv6 address held)
//     <address> is the canonical text (IPv6 in RFC 5952's form: one address, one key). An ip key
//     and its owner key are written in one transaction and deleted in one transaction, so each
//     exists only with the other. The ip key makes an address unique; the owner key finds a
//     container's address in one read (a retried setup) without scanning. A dual-stack owner
//     holds one address of each family in one network, so the owner key is per family: IPv4
//     keeps the `owner/` it always had (keys written before IPv6 stay valid), IPv6 has `owner6/`;
//     neither directory is a prefix of the other.
//
//   P/vlan/<network>/tag/<tag>                          -> holder ("<namespace>" or "<namespace>/<pod>")
//   P/vlan/<network>/by/<holder>                        -> "<tag>"
//   P/vlan/<network>/member/<holder>/<containerId>      -> JSON member record {network, namespace, pod,
//                                                          containerId, node, since}
//     The tag key makes a tag unique, the by key finds a holder's tag, and a member key exists
//     for each container using it; see vlan-pool.ts for the rules that keep the three consistent.
//
// Network names are DNS-1123 labels, namespaces labels, pod names subdomains and container ids
// hex: none contains "/", so no key is a prefix of another holder's or network's keys.
import { hash64Hex } from '../names';
import { type Family, formatIp, tryParseIp } from './ip';

/** "/podvlan", "/podvlan/" and "podvlan" all mean "/podvlan". */
export function normalizePrefix(prefix: string): string {
  const trimmed = prefix.replace(/\/+$/, '');
  return trimmed.startsWith('/') || trimmed === '' ? trimmed : `/${trimmed}`;
}

export function ipamKeys(prefix: string, network: string) {
  const base = `${normalizePrefix(prefix)}/ipam/${network}`;
  return {
    ipDir: `${base}/ip/`,
    ip: (address: string) => `${base}/ip/${address}`,
    ownerDir: `${base}/owner/`,
    owner6Dir: `${base}/owner6/`,
    /** The owner key of the address of `family` this container+interface holds. */
    owner: (containerId: string, iface: string, family: Family = 4) =>
      `${base}/${family === 4 ? 'owner' : 'owner6'}/${containerId}/${iface}`,
  };
}

export function vlanKeys(prefix: string, network: string) {
  const base = `${normalizePrefix(prefix)}/vlan/${network}`;
  return {
    tagDir: `${base}/tag/`,
    tag: (tag: number) => `${base}/tag/${tag}`,
    by: (holder: string) => `${base}/by/${holder}`,
    memberDir: (holder: string) => `${base}/member/${holder}/`,
    member: (holder: string, containerId: string) => `${base}/member/${holder}/${containerId}`,
  };
}

/** Parse `<prefix>/ipam/<network>/ip/<address>`; undefined for any other key. */
export function parseIpKey(prefix: string, key: string): { network: string; address: string } | undefined {
  const head = `${normalizePrefix(prefix)}/ipam/`;
  if (!key.startsWith(head)) return undefined;
  const m = /^([^/]+)\/ip\/([^/]+)$/.exec(key.slice(head.length));
  return m ? { network: m[1], address: m[2] } : undefined;
}

/**
 * The address in `text` if it is written exactly as podvlan writes one into a key or an owner
 * value (canonical: no leading zeros, RFC 5952 for IPv6), and of `family` when given; else
 * undefined. Whatever is read back from etcd becomes a key or a lease only through this.
 */
export function keyAddress(text: string, family?: Family): string | undefined {
  const ip = tryParseIp(text);
  if (!ip || (family !== undefined && ip.family !== family)) return undefined;
  return formatIp(ip) === text ? text : undefined;
}

/**
 * Where an IPv6 range stops being scanned: a range of at most this many addresses (a /112) is
 * allocated as IPv4 is (a snapshot of the taken keys, then the first free one from a hashed
 * start), so its last free address is found; a larger one is probed (probeOffset) and never
 * listed. See etcd-pool.ts.
 */
export const SCAN_LIMIT = 65536n;

/**
 * The offset (0 .. size-1) of a probe in a range of `size` addresses, from a hash of `seed`
 * (node, container, interface, try number): 64 bits of hash, 128 for a range beyond 2^64, so
 * the offset is spread over the whole range with a negligible bias.
 */
export function probeOffset(seed: string, size: bigint): bigint {
  const h = BigInt(`0x${hash64Hex(seed)}`);
  const wide = size > 1n << 64n ? (h << 64n) | BigInt(`0x${hash64Hex(`${seed}#`)}`) : h;
  return wide % size;
}

/** A well-spread 48-bit number from a text: where a caller starts looking for a free slot. */
export function seedOf(text: string): number {
  return parseInt(hash64Hex(text).slice(0, 12), 16);
}

/**
 * Every value of first..last exactly once, starting at first + (seed mod size) and wrapping
 * around: a caller with its own seed starts somewhere else in the range than its peers, so
 * parallel allocations rarely try the same slot.
 */
export function* candidateOrder(first: number, last: number, seed: number): Generator<number> {
  const size = last - first + 1;
  if (size <= 0) return;
  const offset = seed % size;
  for (let n = 0; n < size; n++) yield first + ((offset + n) % size);
}

/** The first value in candidate order for which `free` holds, or undefined. */
export function firstFree(first: number, last: number, seed: number, free: (v: number) => boolean): number | undefined {
  for (const v of candidateOrder(first, last, seed)) if (free(v)) return v;
  return undefined;
}

/** Random back-off before round `round` (0-based) of a contended operation: 0 to 5*2^round ms, at most 250. */
export function jitterMs(round: number, random: () => number = Math.random): number {
  return Math.floor(random() * Math.min(250, 5 * 2 ** round));
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** JSON.parse that returns undefined for anything but an object. */
export function parseRecord<T>(text: string): T | undefined {
  try {
    const v = JSON.parse(text) as unknown;
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as T) : undefined;
  } catch {
    return undefined;
  }
}
