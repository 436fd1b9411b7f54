// What every address pool offers the setup and teardown commands.

export interface Owner {
  network: string;
  namespace: string;
  pod: string;
  containerId: string;
  interface: string;
}

export interface Lease {
  address: string; // a.b.c.d/len, as configured on the pod's interface
  gateway?: string;
  routes: { dst: string; via?: string }[];
}

export interface AddressPool {
  /** The owner's existing lease, or a new one. `hint` is an address the owner is believed to hold. */
  acquire(owner: Owner, hint?: string): Promise<Lease>;
  /** Free whatever this owner (container + interface) holds; returns the freed addresses. */
  release(owner: Owner, hint?: string): Promise<string[]>;
}

export function sameOwner(a: Owner, b: Owner): boolean {
  return a.containerId === b.containerId && a.interface === b.interface && a.network === b.network &&
    a.namespace === b.namespace && a.pod === b.pod;
}
