// The range an etcd pool hands out, of either family, and how it is searched (see etcd-pool.ts):
// scanned (every IPv4 range, and an IPv6 one of at most SCAN_LIMIT addresses) or probed at
// hashed offsets (a larger IPv6 range, never walked). Pure: no I/O.
import { InvalidInputError } from '../errors';
import { probeOffset, SCAN_LIMIT } from './etcd-keys';
import {
  addToIp,
  type Family,
  familyName,
  formatIp,
  type Ip,
  type IpPrefix,
  parseIp,
  parseIpPrefix,
  poolHostRange,
  prefixContains,
  tryParseIp,
} from './ip';
import { formatIpv4 } from './ipv4';

/** What a range is made of: an etcd pool's config (validated there) and its network's name. */
export interface RangeSpec {
  name: string;
  subnet: string;
  rangeStart?: string;
  rangeEnd?: string;
  gateway?: string;
  exclude: string[];
  fixed?: { address: string }[];
}

export class PoolRange {
  readonly family: Family;
  readonly subnet: IpPrefix;
  readonly first: Ip;
  readonly last: Ip;
  readonly size: bigint;
  /** Too large to scan: allocations probe hashed offsets (an IPv6 range above SCAN_LIMIT). */
  readonly probed: boolean;
  /** Gateway, excluded and fixed addresses, canonical: never handed out dynamically. */
  readonly skip: Set<string>;
  /** The address at an offset (0 .. size-1) of the range, canonical; for scanned ranges. */
  readonly textAt: (offset: number) => string;

  constructor(private readonly spec: RangeSpec) {
    this.subnet = parseIpPrefix(spec.subnet);
    this.family = this.subnet.address.family;
    const [lo, hi] = poolHostRange(this.subnet);
    this.first = spec.rangeStart ? this.ipOf(spec.rangeStart) : lo;
    this.last = spec.rangeEnd ? this.ipOf(spec.rangeEnd) : hi;
    this.size = this.last.value - this.first.value + 1n;
    this.probed = this.family === 6 && this.size > SCAN_LIMIT;
    const base = this.first.value;
    const start = Number(base);
    // IPv4 keeps its number arithmetic: the scanned path formats one address per candidate.
    this.textAt =
      this.family === 4 ? (o) => formatIpv4(start + o) : (o) => formatIp({ family: 6, value: base + BigInt(o) });
    const never = [
      ...(spec.gateway ? [spec.gateway] : []),
      ...spec.exclude,
      ...(spec.fixed ?? []).map((f) => f.address),
    ];
    this.skip = new Set(never.map((a) => formatIp(this.ipOf(a))));
  }

  /** The address a probe with this seed tries: anywhere in the range, canonical. */
  probeAt(seed: string): string {
    return formatIp(addToIp(this.first, probeOffset(seed, this.size)));
  }

  /** Whether a canonical address of this family lies within rangeStart-rangeEnd. */
  inRange(text: string): boolean {
    const v = this.ipOf(text).value;
    return v >= this.first.value && v <= this.last.value;
  }

  /** "first-last", for messages. */
  text(): string {
    return `${formatIp(this.first)}-${formatIp(this.last)}`;
  }

  /** An address, with or without "/len", inside the subnet, written any way: its canonical text. */
  canonical(address: string): string {
    let ip: Ip;
    try {
      ip = parseIp(address.split('/')[0]);
    } catch (err) {
      throw new InvalidInputError((err as Error).message);
    }
    if (!prefixContains(this.subnet, ip))
      throw new InvalidInputError(
        `address ${address} is outside subnet ${this.spec.subnet} of network ${this.spec.name}`,
      );
    return formatIp(ip);
  }

  /** An address of the config: parsed, of this range's family. */
  private ipOf(text: string): Ip {
    const ip = tryParseIp(text);
    if (!ip || ip.family !== this.family)
      throw new InvalidInputError(
        `address ${text} is not an ${familyName(this.family)} address of network ${this.spec.name}`,
      );
    return ip;
  }
}
