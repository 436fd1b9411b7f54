// A fixed address. It is still leased on the node, so two pods given the same static address
// on one node are refused instead of silently clashing. Either family: the lease file is named by
// the address's canonical text, and the pool sees only its own family's files.
import { ConflictError, InvalidInputError } from '../errors';
import { canonicalRoute } from './host-local';
import { canonicalIp, formatIp, parseIpPrefix, tryParseIp } from './ip';
import type { LeaseDir } from './lease-dir';
import type { AddressPool, AddressRequest, Lease, Owner } from './pool';
import { sameOwner } from './pool';

export interface StaticSpec {
  address: string;
  gateway?: string;
  routes: { dst: string; via?: string }[];
}

export class StaticPool implements AddressPool {
  private readonly leases: LeaseDir;
  private readonly ip: string; // canonical text
  private readonly length: number;
  private readonly lease: Lease;

  constructor(leases: LeaseDir, spec: StaticSpec) {
    const prefix = parseIpPrefix(spec.address);
    this.leases = leases.only(prefix.address.family);
    this.ip = formatIp(prefix.address);
    this.length = prefix.length;
    const gateway = spec.gateway === undefined ? undefined : canonicalIp(spec.gateway);
    this.lease = {
      address: `${this.ip}/${this.length}`,
      gateway,
      routes: spec.routes.map((r) => canonicalRoute(r, gateway)),
    };
  }

  async acquire(owner: Owner): Promise<Lease> {
    this.leases.ensure();
    const lease = structuredClone(this.lease);
    if (this.leases.tryTake(this.ip, { ...owner, address: this.ip, since: new Date().toISOString() })) return lease;
    const holder = this.leases.read(this.ip);
    if (holder && sameOwner(holder, owner)) return lease;
    throw new ConflictError(
      `static address ${this.ip} of network ${owner.network} is already held by ${holder ? `${holder.namespace}/${holder.pod}` : 'another pod'}`,
    );
  }

  /** A static pool has one address: the request must be it (compared canonically). */
  async acquireRequested(owner: Owner, request: AddressRequest): Promise<Lease> {
    const asked = tryParseIp(request.address);
    if (
      !asked ||
      formatIp(asked) !== this.ip ||
      (request.prefixLength !== undefined && request.prefixLength !== this.length)
    )
      throw new InvalidInputError(
        `requested address ${request.address} is not network ${owner.network}'s static address ${this.lease.address}`,
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
