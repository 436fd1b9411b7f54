// What every address pool offers the setup and teardown commands.
import { isContainerId, isDns1123Label, isInterfaceName, isPodName } from '../names';

export interface Owner {
  network: string;
  namespace: string;
  pod: string;
  containerId: string;
  interface: string;
}

export interface Lease {
  address: string; // addr/len, as configured on the pod's interface: canonical (IPv6 in RFC 5952 form)
  gateway?: string;
  routes: { dst: string; via?: string }[];
}

/** One address asked for by the caller (a CNI runtimeConfig.ips or IP= request). */
export interface AddressRequest {
  address: string; // an address of either family, any spelling: pools compare it canonically
  prefixLength?: number; // when asked as a CIDR: must be the pool's
}

export interface AddressPool {
  /** The owner's existing lease, or a new one. `hint` is an address the owner is believed to hold. */
  acquire(owner: Owner, hint?: string): Promise<Lease>;
  /** Exactly the requested address, never another: InvalidInputError when the pool does not hand it
   * out (outside its range, the gateway, excluded, another prefix length), ConflictError when another
   * owner holds it or this owner holds a different address. The owner's own lease of it is returned. */
  acquireRequested(owner: Owner, request: AddressRequest): Promise<Lease>;
  /** Free whatever this owner (container + interface) holds; returns the freed addresses. */
  release(owner: Owner, hint?: string): Promise<string[]>;
}

export function sameOwner(a: Owner, b: Owner): boolean {
  return (
    a.containerId === b.containerId &&
    a.interface === b.interface &&
    a.network === b.network &&
    a.namespace === b.namespace &&
    a.pod === b.pod
  );
}

/**
 * An owner read back from a lease file or etcd is acted on (a path, a key, a release) only when
 * every part has the form podvlan writes: anything else was not written by podvlan.
 */
export function isValidOwner(o: Owner): boolean {
  return (
    isDns1123Label(o.network) &&
    isDns1123Label(o.namespace) &&
    isPodName(o.pod) &&
    isContainerId(o.containerId) &&
    (o.interface === '' || isInterfaceName(o.interface))
  );
}
