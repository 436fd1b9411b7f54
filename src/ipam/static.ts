// A fixed address. It is still leased on the node, so two pods given the same static address
// on one node are refused instead of silently clashing.
import { ConflictError, InvalidInputError } from '../errors';
import { parsePrefix, formatIpv4 } from './ipv4';
import type { LeaseDir } from './lease-dir';
import type { AddressPool, AddressRequest, Lease, Owner } from './pool';
import { sameOwner } from './pool';

export interface StaticSpec {
  address: string;
  gateway?: string;
  routes: { dst: string; via?: string }[];
}

export class StaticPool implements AddressPool {
  private readonly ip: string;

  constructor(
    private readonly leases: LeaseDir,
    private readonly spec: StaticSpec,
  ) {
    this.ip = formatIpv4(parsePrefix(spec.address).address);
  }

  async acquire(owner: Owner): Promise<Lease> {
    this.leases.ensure();
    const lease = {
      address: this.spec.address,
      gateway: this.spec.gateway,
      routes: this.spec.routes.map((r) => ({ dst: r.dst, via: r.via ?? this.spec.gateway })),
    };
    if (this.leases.tryTake(this.ip, { ...owner, address: this.ip, since: new Date().toISOString() })) return lease;
    const holder = this.leases.read(this.ip);
    if (holder && sameOwner(holder, owner)) return lease;
    throw new ConflictError(
      `static address ${this.ip} of network ${owner.network} is already held by ${holder ? `${holder.namespace}/${holder.pod}` : 'another pod'}`,
    );
  }

  /** A static pool has one address: the request must be it. */
  async acquireRequested(owner: Owner, request: AddressRequest): Promise<Lease> {
    const length = parsePrefix(this.spec.address).length;
    if (request.address !== this.ip || (request.prefixLength !== undefined && request.prefixLength !== length))
      throw new InvalidInputError(
        `requested address ${request.address} is not network ${owner.network}'s static address ${this.spec.address}`,
      );
    return this.acquire(owner);
  }

  async release(owner: Owner): Promise<string[]> {
    const holder = this.leases.read(this.ip);
    if (!holder || !sameOwner(holder, owner)) return [];
    this.leases.remove(this.ip);
    return [this.ip];
  }
}
