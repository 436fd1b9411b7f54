// Node-local address pool over a range of a subnet, like CNI's host-local: lowest free address
// after the last one handed out, so a just-freed address is not reused at once.
import { renameSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ConflictError, ExhaustedError, InvalidInputError } from '../errors';
import { formatIpv4, hostRange, parseIpv4, parsePrefix } from './ipv4';
import { readOwnFile, writeFreshFile } from '../state/own-file';
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
  private readonly prefixLength: number;
  private readonly first: number;
  private readonly last: number;
  private readonly skip: Set<number>;

  constructor(
    private readonly leases: LeaseDir,
    private readonly spec: HostLocalSpec,
  ) {
    const subnet = parsePrefix(spec.subnet);
    const [lo, hi] = hostRange(subnet);
    this.prefixLength = subnet.length;
    this.first = spec.rangeStart ? parseIpv4(spec.rangeStart) : lo;
    this.last = spec.rangeEnd ? parseIpv4(spec.rangeEnd) : hi;
    this.skip = new Set([...(spec.gateway ? [spec.gateway] : []), ...spec.exclude].map(parseIpv4));
  }

  private lease(ip: string): Lease {
    const via = this.spec.gateway;
    return {
      address: `${ip}/${this.prefixLength}`,
      gateway: via,
      routes: this.spec.routes.map((r) => ({ dst: r.dst, via: r.via ?? via })),
    };
  }

  async acquire(owner: Owner, hint?: string): Promise<Lease> {
    this.leases.ensure();
    const held = this.leases.heldBy(owner, hint);
    if (held.length > 0) return this.lease(held[0]);
    const taken = this.leases.taken();
    const size = this.last - this.first + 1;
    const start = this.afterLastReserved();
    for (let n = 0; n < size; n++) {
      const ip = this.first + ((start - this.first + n) % size);
      const text = formatIpv4(ip);
      if (this.skip.has(ip) || taken.has(text)) continue;
      if (this.leases.tryTake(text, { ...owner, address: text, since: new Date().toISOString() })) {
        this.remember(text);
        return this.lease(text);
      }
    }
    throw new ExhaustedError(
      `address range ${formatIpv4(this.first)}-${formatIpv4(this.last)} of network ${owner.network} is exhausted`,
    );
  }

  async acquireRequested(owner: Owner, request: AddressRequest): Promise<Lease> {
    const text = request.address;
    const ip = parseIpv4(text);
    const range = `${formatIpv4(this.first)}-${formatIpv4(this.last)}`;
    if (ip < this.first || ip > this.last)
      throw new InvalidInputError(`requested address ${text} is outside range ${range} of network ${owner.network}`);
    if (this.skip.has(ip))
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

  private afterLastReserved(): number {
    try {
      const last = parseIpv4(readOwnFile(join(this.leases.dir, '.last')).trim());
      if (last >= this.first && last < this.last) return last + 1;
    } catch {
      /* none yet */
    }
    return this.first;
  }

  private remember(ip: string): void {
    // Aside and renamed into place: never written through a link.
    const temp = join(this.leases.dir, `.last.tmp-${process.pid}`);
    try {
      writeFreshFile(temp, ip);
      renameSync(temp, join(this.leases.dir, '.last'));
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
