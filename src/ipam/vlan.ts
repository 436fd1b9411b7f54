// Where a pod's VLAN tag comes from: a fixed id, a number read from the pod's name, or a
// cluster-wide pool in etcd (see vlan-pool.ts; its tag is only known after an etcd round trip);
// or none at all: a trunk port carries a list of VLANs and the pod tags its own frames.
import { InvalidInputError } from '../errors';
import { quote } from '../names';
import type { Network } from '../config/schema';

export type VlanPer = 'namespace' | 'pod';
export type VlanSource =
  | { id: number }
  | { fromPodName: string; range?: string }
  | { fromAnnotation: string; range?: string } // CNI mode only: the pod annotation of that key
  | { pool: string; per: VlanPer }
  | { trunk: string }; // "100-110,200": the pod's interface is a trunk port of these VLANs

/** A source that makes a trunk port (no tag of its own), not an access port. */
export function isTrunkVlan(source: VlanSource): source is { trunk: string } {
  return 'trunk' in source;
}

/** A source whose tag comes from etcd (EtcdVlanPool), not from vlanFor. */
export function isPooledVlan(source: VlanSource): source is { pool: string; per: VlanPer } {
  return 'pool' in source;
}

export const VLAN_MIN = 1;
export const VLAN_MAX = 4094;

/** The tag of a trunk port's attachment: none (OVS Port.tag empty); its VLANs are in `trunks`. */
export const TRUNK_TAG = 0;

export function vlanFor(source: VlanSource, podName: string, network: string): number {
  if ('id' in source) return source.id;
  if (isTrunkVlan(source)) return TRUNK_TAG;
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

const RANGE = /^\s*(\d{1,5})\s*(?:-\s*(\d{1,5})\s*)?$/;

/** "100-199" (or a single "100"), within 1-4094, first <= last: the range; else the reason
 * ("4095 is outside 1-4094"), or undefined when the text is no range at all. Ranges, pools and
 * each item of a trunk are read by it. */
function boundsOf(text: string): VlanRange | string | undefined {
  const m = RANGE.exec(text);
  if (!m) return undefined;
  const first = Number(m[1]);
  const last = m[2] === undefined ? first : Number(m[2]);
  for (const v of [first, last]) if (v < VLAN_MIN || v > VLAN_MAX) return `${v} is outside ${VLAN_MIN}-${VLAN_MAX}`;
  if (first > last) return `${first} is after ${last}`;
  return { first, last };
}

/** "100-199" (or a single "100"), within 1-4094, first <= last. InvalidInputError otherwise.
 * `what` names the value in the message ("VLAN pool", "VLAN range"). */
export function parseVlanRange(text: string, what = 'VLAN pool'): VlanRange {
  const r = boundsOf(text);
  if (r === undefined) throw new InvalidInputError(`${what} ${quote(text)} is not a range like "100-199"`);
  if (typeof r === 'string') throw new InvalidInputError(`${what} ${quote(text)}: ${r}`);
  return r;
}

/** A trunk's VLANs, "100-110,200": ids and ranges, comma-separated, each in 1-4094, none listed
 * twice or overlapping another (a typo more likely than intent). Sorted. InvalidInputError otherwise. */
export function parseVlanTrunk(text: string, what = 'VLAN trunk'): VlanRange[] {
  const items = text.split(',');
  const ranges = items.map((item) => {
    const r = boundsOf(item);
    if (r === undefined)
      throw new InvalidInputError(`${what} ${quote(text)} is not a list of VLANs and ranges like "100-110,200"`);
    if (typeof r === 'string') throw new InvalidInputError(`${what} ${quote(text)}: ${r}`);
    return { ...r, item: item.trim() };
  });
  ranges.sort((a, b) => a.first - b.first);
  for (let i = 1; i < ranges.length; i++) {
    const [a, b] = [ranges[i - 1], ranges[i]];
    if (b.first > a.last) continue;
    const why = a.item === b.item ? `${a.item} is listed twice` : `${b.item} overlaps ${a.item}`;
    throw new InvalidInputError(`${what} ${quote(text)}: ${why}`);
  }
  return ranges.map(({ first, last }) => ({ first, last }));
}

/** Every VLAN of the ranges, ascending (the ranges sorted and apart, as parseVlanTrunk gives them). */
export function vlansOf(ranges: VlanRange[]): number[] {
  const out: number[] = [];
  for (const r of ranges) for (let v = r.first; v <= r.last; v++) out.push(v);
  return out;
}

/** "22,100-199": a sorted VLAN list as ranges (also a trunk's canonical text). */
export function vlanListText(vlans: number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < vlans.length; ) {
    let j = i;
    while (j + 1 < vlans.length && vlans[j + 1] === vlans[j] + 1) j++;
    parts.push(i === j ? `${vlans[i]}` : `${vlans[i]}-${vlans[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

/** A trunk network's VLANs in the one form podvlan records and compares ("100-105,106" -> "100-106");
 * undefined for any other source. */
export function trunkText(source: VlanSource): string | undefined {
  return isTrunkVlan(source) ? vlanListText(vlansOf(parseVlanTrunk(source.trunk))) : undefined;
}

export function vlanRangesOverlap(a: VlanRange, b: VlanRange): boolean {
  return a.first <= b.last && b.first <= a.last;
}

// Which tags each network may use on its bridge. On one bridge a VLAN is one network's: a fixed
// id, a pool, a fromPodName range and a trunk declare theirs, and a fromPodName network without a
// range may use every tag (1-4094) that no other network on the bridge declares. So a pod name can
// never put a pod on another network's VLAN, and existing configs without ranges stay valid.

/** The part of the config these rules read. */
export interface VlanClaim {
  name: string;
  bridge: string;
  vlan: VlanSource;
}

/** The tags a network declares (one range, or a trunk's several), or undefined for a fromPodName
 * network without a range (and for an unparsable text, which the schema reports at its own field). */
export function declaredVlans(source: VlanSource): VlanRange[] | undefined {
  try {
    if ('id' in source) return [{ first: source.id, last: source.id }];
    if (isPooledVlan(source)) return [parseVlanRange(source.pool)];
    if (isTrunkVlan(source)) return parseVlanTrunk(source.trunk);
    return source.range === undefined ? undefined : [parseVlanRange(source.range, 'VLAN range')];
  } catch {
    return undefined;
  }
}

export function describeVlans(source: VlanSource, ranges: VlanRange[]): string {
  const span = ranges.map((r) => (r.first === r.last ? `${r.first}` : `${r.first}-${r.last}`)).join(',');
  if ('id' in source) return `VLAN ${span}`;
  if (isTrunkVlan(source)) return `VLAN trunk ${span}`;
  return isPooledVlan(source) ? `VLAN pool ${span}` : `VLAN range ${span}`;
}

const anyOverlap = (a: VlanRange[], b: VlanRange[]) => a.some((x) => b.some((y) => vlanRangesOverlap(x, y)));
const holds = (ranges: VlanRange[], tag: number) => ranges.some((r) => tag >= r.first && tag <= r.last);

/** For each network that clashes with an earlier one on its bridge: its index and the one-line reason. */
export function vlanClashes(networks: VlanClaim[]): { index: number; message: string }[] {
  const clashes: { index: number; message: string }[] = [];
  networks.forEach((b, j) => {
    const rb = declaredVlans(b.vlan);
    for (const a of networks.slice(0, j)) {
      if (a.bridge !== b.bridge) continue;
      const ra = declaredVlans(a.vlan);
      if (rb && ra && anyOverlap(ra, rb)) {
        const message =
          `network ${b.name}'s ${describeVlans(b.vlan, rb)} overlaps network ${a.name}'s ` +
          `${describeVlans(a.vlan, ra)} on bridge ${b.bridge}`;
        clashes.push({ index: j, message });
        return;
      }
      const open = (n: VlanClaim, r: VlanRange[] | undefined) =>
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
    return holds(own, tag)
      ? undefined
      : `${what} is outside ${describeVlans(network.vlan, own)} of network ${network.name}`;
  }
  for (const other of networks) {
    if (other.name === network.name || other.bridge !== network.bridge) continue;
    const r = declaredVlans(other.vlan);
    if (r && holds(r, tag)) {
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
