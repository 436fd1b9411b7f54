// The owner of a CNI attachment is the runtime's container id, the network and the interface
// (SPEC.md: "a unique combination of CNI_CONTAINERID and CNI_IFNAME" per network); unlike exec
// mode it has no pod name a DEL can rely on (ctr and containerd's second DEL send no CNI_ARGS
// worth trusting). The core keys everything by namespace, pod and a hex container id, so the CNI
// owner is mapped into that form, deterministically, from the three alone:
//   namespace  "cni" (the runtime=cni key tells such rows apart from an exec pod of that namespace)
//   pod        "cni-" + 16 hex of a hash of container id and interface
//   containerId 64 hex of a hash of the CNI container id (which need not be hex)
// and the runtime's own id is kept readable in podvlan/cniContainerId.
import { cniHexId, hash64Hex, hostVethName, type PodRef } from '../names';
import type { Owner } from '../ipam';
import { KEY_PREFIX, MANAGED_KEY } from '../ovs/attachment';

export const CNI_NAMESPACE = 'cni';
export const CNI_RUNTIME = 'cni';

export interface CniOwner {
  ref: PodRef;
  cniContainerId: string;
  network: string;
  interface: string;
  port: string; // host veth and OVS port name
}

export function cniOwner(cniContainerId: string, network: string, ifname: string): CniOwner {
  const ref: PodRef = {
    namespace: CNI_NAMESPACE,
    pod: `cni-${hash64Hex(`${cniContainerId}/${ifname}`)}`,
    containerId: cniHexId(cniContainerId),
  };
  return { ref, cniContainerId, network, interface: ifname, port: hostVethName(ref.namespace, ref.pod, network) };
}

/** An owner (of a lease) in the form cniOwner maps CNI owners to; leases carry no runtime key. */
export function isCniOwner(o: Pick<Owner, 'namespace' | 'pod'>): boolean {
  return o.namespace === CNI_NAMESPACE && /^cni-[0-9a-f]{16}$/.test(o.pod);
}

export function ipamOwner(o: CniOwner): Owner {
  return {
    network: o.network,
    namespace: o.ref.namespace,
    pod: o.ref.pod,
    containerId: o.ref.containerId,
    interface: o.interface,
  };
}

/** The external_ids that select exactly this owner's port. */
export function ownerSelector(o: CniOwner): Record<string, string> {
  return {
    [MANAGED_KEY]: 'true',
    [`${KEY_PREFIX}runtime`]: CNI_RUNTIME,
    [`${KEY_PREFIX}namespace`]: o.ref.namespace,
    [`${KEY_PREFIX}pod`]: o.ref.pod,
    [`${KEY_PREFIX}containerId`]: o.ref.containerId,
    [`${KEY_PREFIX}network`]: o.network,
    [`${KEY_PREFIX}interface`]: o.interface,
  };
}
