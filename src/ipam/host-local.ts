// Node-local address pool over a range of a subnet, like CNI's host-local: lowest free address
// after the last one handed out, so a just-freed address is not reused at once. Either family: the
// arithmetic is bigint (ip.ts) and the range is never materialised, so a /64 costs what a /24 does
// (the walk stops at the first free address; only the taken and skipped ones are passed over).
import { renameSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ConflictError, ExhaustedError, InvalidInputError } from '../errors';
import { readOwnFile, writeFreshFile } from '../state/own-file';
import {
  canonicalIp,
  type Family,
  familyName,
  formatIp,
  formatIpPrefix,
  type Ip,
  parseIp,
  parseIpPrefix,
  poolHostRange,
  tryParseIp,
} from './ip';
import type { LeaseDir } from './lease-dir';
import { type AddressPool, type AddressRequest, type Lease, type Owner, sameOwner } from './pool';

export interface HostLocalSpec {
  subnet: string;
  rangeStart?: string;
  rangeEnd?: string;
  gateway?: string;
  exclude: string[];
  routes: { dst: string; via?: string }[];
}

export class HostLocalPool implements AddressPool {
  private readonly leases: LeaseDir;
  private readonly family: Family;
  private readonly prefixLength: number;
  private readonly first: bigint;
  private readonly last: bigint;
  private readonly skip: Set<string>; // canonical text
  private readonly gateway?: string;
  private readonly lastFile: string; // the "last reserved" memory, one per family

  constructor(
    leases: LeaseDir,
    private readonly spec: HostLocalSpec,
  ) {
    const subnet = parseIpPrefix(spec.subnet);
    const [lo, hi] = poolHostRange(subnet);
    this.family = subnet.address.family;
    this.leases = leases.only(this.family);
    this.prefixLength = subnet.length;
    this.first = spec.rangeStart ? parseIp(spec.rangeStart).value : lo.value;
    this.last = spec.rangeEnd ? parseIp(spec.rangeEnd).value : hi.value;
    this.gateway = spec.gateway === undefined ? undefined : canonicalIp(spec.gateway);
    this.skip = new Set([...(spec.gateway ? [spec.gateway] : []), ...spec.exclude].map(canonicalIp));
    this.lastFile = join(this.leases.dir, this.family === 4 ? '.last' : '.last6');
  }

  private ip(value: bigint): Ip {
    return { family: this.family, value };
  }

  private get range(): string {
    return `${formatIp(this.ip(this.first))}-${formatIp(this.ip(this.last))}`;
  }

  private lease(ip: string): Lease {
    const via = this.gateway;
    return {
      address: `${ip}/${this.prefixLength}`,
      gateway: via,
      routes: this.spec.routes.map((r) => canonicalRoute(r, via)),
    };
  }

  async acquire(owner: Owner, hint?: string): Promise<Lease> {
    this.leases.ensure();
    const held = this.leases.heldBy(owner, hint);
    if (held.length > 0) return this.lease(held[0]);
    const taken = this.leases.taken();
    const size = this.last - this.first + 1n;
    const start = this.afterLastReserved();
    // Ends at the first free address: at most taken + skip + lost races steps, even on a /64.
    for (let n = 0n; n < size; n++) {
      const text = formatIp(this.ip(this.first + ((start - this.first + n) % size)));
      if (this.skip.has(text) || taken.has(text)) continue;
      if (this.leases.tryTake(text, { ...owner, address: text, since: new Date().toISOString() })) {
        this.remember(text);
        return this.lease(text);
      }
    }
    throw new ExhaustedError(`address range ${this.range} of network ${owner.network} is exhausted`);
  }

  async acquireRequested(owner: Owner, request: AddressRequest): Promise<Lease> {
    const ip = tryParseIp(request.address);
    if (!ip) throw new InvalidInputError(`requested address ${request.address} is not an IP address`);
    if (ip.family !== this.family)
      throw new InvalidInputError(
        `requested address ${request.address} is ${familyName(ip.family)} but network ${owner.network}'s pool ` +
          `${this.spec.subnet} is ${familyName(this.family)}`,
      );
    const text = formatIp(ip); // FD00:20::05 asks for fd00:20::5
    if (ip.value < this.first || ip.value > this.last)
      throw new InvalidInputError(
        `requested address ${text} is outside range ${this.range} of network ${owner.network}`,
      );
    if (this.skip.has(text))
      throw new InvalidInputError(
        `requested address ${text} is the gateway or excluded in network ${owner.network}: not handed out`,
      );
    if (request.prefixLength !== undefined && request.prefixLength !== this.prefixLength)
      throw new InvalidInputError(
        `requested ${text}/${request.prefixLength}: network ${owner.network}'s subnet is ${this.spec.subnet}`,
      );
    this.leases.ensure();
    const other = this.leases.heldBy(owner, text).filter((held) => held !== text);
    if (other.length > 0)
      throw new ConflictError(
        `this attachment already holds ${other[0]} in network ${owner.network}, not the requested ${text}: ` +
          'DEL it first',
      );
    if (this.leases.tryTake(text, { ...owner, address: text, since: new Date().toISOString() }))
      return this.lease(text);
    const holder = this.leases.read(text);
    if (holder && sameOwner(holder, owner)) return this.lease(text);
    const who = holder ? `${holder.namespace}/${holder.pod}` : 'another owner';
    throw new ConflictError(`requested address ${text} of network ${owner.network} is already held by ${who}`);
  }

  async release(owner: Owner, hint?: string): Promise<string[]> {
    const held = this.leases.heldBy(owner, hint);
    for (const ip of held) this.leases.remove(ip);
    return held;
  }

  private afterLastReserved(): bigint {
    try {
      const last = tryParseIp(readOwnFile(this.lastFile).trim());
      if (last?.family === this.family && last.value >= this.first && last.value < this.last) return last.value + 1n;
    } catch {
      /* none yet */
    }
    return this.first;
  }

  private remember(ip: string): void {
    // Aside and renamed into place: never written through a link.
    const temp = `${this.lastFile}.tmp-${process.pid}`;
    try {
      writeFreshFile(temp, ip);
      renameSync(temp, this.lastFile);
    } catch {
      try {
        unlinkSync(temp);
      } catch {
        /* never written */
      }
      // a hint only
    }
  }
}

/** A configured route as a lease carries it: canonical text, the pool's gateway when it names no via. */
export function canonicalRoute(r: { dst: string; via?: string }, gateway?: string): { dst: string; via?: string } {
  return { dst: formatIpPrefix(parseIpPrefix(r.dst)), via: r.via === undefined ? gateway : canonicalIp(r.via) };
}
