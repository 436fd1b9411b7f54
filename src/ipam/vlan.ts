// Where a pod's VLAN tag comes from: a fixed id, a number read from the pod's name, or a
// cluster-wide pool in etcd (see vlan-pool.ts; its tag is only known after an etcd round trip).
import { InvalidInputError } from '../errors';
import { quote } from '../names';
import type { Network } from '../config/schema';

export type VlanPer = 'namespace' | 'pod';
export type VlanSource =
  | { id: number }
  | { fromPodName: string; range?: string }
  | { fromAnnotation: string; range?: string } // CNI mode only: the pod annotation of that key
  | { pool: string; per: VlanPer };

/** A source whose tag comes from etcd (EtcdVlanPool), not from vlanFor. */
export function isPooledVlan(source: VlanSource): source is { pool: string; per: VlanPer } {
  return 'pool' in source;
}

export const VLAN_MIN = 1;
export const VLAN_MAX = 4094;

export function vlanFor(source: VlanSource, podName: string, network: string): number {
  if ('id' in source) return source.id;
  if (isPooledVlan(source)) {
    // Setup takes pooled tags from EtcdVlanPool.acquire, after the pod lock; reaching here is a bug.
    throw new Error(
      `network ${network} takes its VLAN from the etcd pool ${source.pool}: use EtcdVlanPool, not vlanFor`,
    );
  }
  if ('fromAnnotation' in source) {
    // Only the CNI front end has pod annotations (cni/vlan.ts); exec configs refuse the source at load.
    throw new InvalidInputError(`network ${network} takes its VLAN from a pod annotation: only in CNI mode`);
  }
  const m = new RegExp(source.fromPodName).exec(podName);
  const text = m?.slice(1).find((g) => g !== undefined);
  if (text === undefined) {
    throw new InvalidInputError(
      `pod name ${quote(podName)} carries no VLAN for network ${network} (expected to match ${source.fromPodName})`,
    );
  }
  if (!/^\d{1,5}$/.test(text) || Number(text) < VLAN_MIN || Number(text) > VLAN_MAX) {
    throw new InvalidInputError(
      `VLAN ${quote(text)} from pod name ${quote(podName)} is outside ${VLAN_MIN}-${VLAN_MAX}`,
    );
  }
  return Number(text);
}

export interface VlanRange {
  first: number;
  last: number;
}

/** "100-199" (or a single "100"), within 1-4094, first <= last. InvalidInputError otherwise.
 * `what` names the value in the message ("VLAN pool", "VLAN range"). */
export function parseVlanRange(text: string, what = 'VLAN pool'): VlanRange {
  const m = /^\s*(\d{1,5})\s*(?:-\s*(\d{1,5})\s*)?$/.exec(text);
  if (!m) throw new InvalidInputError(`${what} ${quote(text)} is not a range like "100-199"`);
  const first = Number(m[1]);
  const last = m[2] === undefined ? first : Number(m[2]);
  for (const v of [first, last]) {
    if (v < VLAN_MIN || v > VLAN_MAX) {
      throw new InvalidInputError(`${what} ${quote(text)}: ${v} is outside ${VLAN_MIN}-${VLAN_MAX}`);
    }
  }
  if (first > last) throw new InvalidInputError(`${what} ${quote(text)}: ${first} is after ${last}`);
  return { first, last };
}

export function vlanRangesOverlap(a: VlanRange, b: VlanRange): boolean {
  return a.first <= b.last && b.first <= a.last;
}

// Which tags each network may use on its bridge. On one bridge a VLAN is one network's: a fixed
// id, a pool and a fromPodName range declare theirs, and a fromPodName network without a range
// may use every tag (1-4094) that no other network on the bridge declares. So a pod name can
// never put a pod on another network's VLAN, and existing configs without ranges stay valid.

/** The part of the config these rules read. */
export interface VlanClaim {
  name: string;
  bridge: string;
  vlan: VlanSource;
}

/** The tags a network declares, or undefined for a fromPodName network without a range (and for
 * an unparsable range, which the schema reports at its own field). */
export function declaredVlans(source: VlanSource): VlanRange | undefined {
  try {
    if ('id' in source) return { first: source.id, last: source.id };
    if (isPooledVlan(source)) return parseVlanRange(source.pool);
    return source.range === undefined ? undefined : parseVlanRange(source.range, 'VLAN range');
  } catch {
    return undefined;
  }
}

export function describeVlans(source: VlanSource, r: VlanRange): string {
  const span = r.first === r.last ? `${r.first}` : `${r.first}-${r.last}`;
  if ('id' in source) return `VLAN ${span}`;
  return isPooledVlan(source) ? `VLAN pool ${span}` : `VLAN range ${span}`;
}

/** For each network that clashes with an earlier one on its bridge: its index and the one-line reason. */
export function vlanClashes(networks: VlanClaim[]): { index: number; message: string }[] {
  const clashes: { index: number; message: string }[] = [];
  networks.forEach((b, j) => {
    const rb = declaredVlans(b.vlan);
    for (const a of networks.slice(0, j)) {
      if (a.bridge !== b.bridge) continue;
      const ra = declaredVlans(a.vlan);
      if (rb && ra && vlanRangesOverlap(ra, rb)) {
        const message =
          `network ${b.name}'s ${describeVlans(b.vlan, rb)} overlaps network ${a.name}'s ` +
          `${describeVlans(a.vlan, ra)} on bridge ${b.bridge}`;
        clashes.push({ index: j, message });
        return;
      }
      const open = (n: VlanClaim, r: VlanRange | undefined) =>
        r === undefined && ('fromPodName' in n.vlan || 'fromAnnotation' in n.vlan) && n.vlan.range === undefined;
      if (open(a, ra) && open(b, rb)) {
        const message =
          `networks ${a.name} and ${b.name} on bridge ${b.bridge} both read VLANs from pod names ` +
          'without a range: give one a range';
        clashes.push({ index: j, message });
        return;
      }
    }
  });
  return clashes;
}

/** Why a tag read from a pod name may not be used on this network, or undefined if it may. */
export function podNameTagProblem(
  tag: number,
  network: VlanClaim,
  networks: VlanClaim[],
  podName: string,
): string | undefined {
  return podTagProblem(tag, network, networks, `VLAN ${tag} from pod name ${quote(podName)}`);
}

/** Why a tag a pod chose (by its name or an annotation) may not be used on this network, or
 * undefined if it may: inside the network's range, or without a range, no other network's on the
 * bridge. `what` names the tag and where it came from, for the message. */
export function podTagProblem(
  tag: number,
  network: VlanClaim,
  networks: VlanClaim[],
  what: string,
): string | undefined {
  const own = declaredVlans(network.vlan);
  if (own) {
    const inside = tag >= own.first && tag <= own.last;
    return inside ? undefined : `${what} is outside ${describeVlans(network.vlan, own)} of network ${network.name}`;
  }
  for (const other of networks) {
    if (other.name === network.name || other.bridge !== network.bridge) continue;
    const r = declaredVlans(other.vlan);
    if (r && tag >= r.first && tag <= r.last) {
      const owner = `network ${other.name} (${describeVlans(other.vlan, r)})`;
      return `${what} belongs to ${owner} on bridge ${network.bridge}, not to network ${network.name}`;
    }
  }
  return undefined;
}

/** The etcd holder key a CNI member's pooled VLAN is taken under: its Kubernetes namespace (per
 * namespace) or namespace/pod (per pod), as CNI_ARGS gave them and its port recorded; undefined
 * without them (the member keys must then be looked up). */
export function holderFor(network: Network, names: { k8sNamespace?: string; k8sPod?: string }): string | undefined {
  if (!('pool' in network.vlan) || names.k8sNamespace === undefined) return undefined;
  if (network.vlan.per === 'namespace') return names.k8sNamespace;
  return names.k8sPod === undefined ? undefined : `${names.k8sNamespace}/${names.k8sPod}`;
}
