// Where a pod's VLAN tag comes from: a fixed id, a number read from the pod's name, or a
// cluster-wide pool in etcd (see vlan-pool.ts; its tag is only known after an etcd round trip).
import { InvalidInputError } from '../errors';
import { quote } from '../names';

export type VlanPer = 'namespace' | 'pod';
export type VlanSource = { id: number } | { fromPodName: string } | { pool: string; per: VlanPer };

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
    throw new Error(`network ${network} takes its VLAN from the etcd pool ${source.pool}: use EtcdVlanPool, not vlanFor`);
  }
  const m = new RegExp(source.fromPodName).exec(podName);
  const text = m?.slice(1).find((g) => g !== undefined);
  if (text === undefined) {
    throw new InvalidInputError(`pod name ${quote(podName)} carries no VLAN for network ${network} (expected to match ${source.fromPodName})`);
  }
  if (!/^\d{1,5}$/.test(text) || Number(text) < VLAN_MIN || Number(text) > VLAN_MAX) {
    throw new InvalidInputError(`VLAN ${quote(text)} from pod name ${quote(podName)} is outside ${VLAN_MIN}-${VLAN_MAX}`);
  }
  return Number(text);
}

export interface VlanRange { first: number; last: number }

/** "100-199" (or a single "100"), within 1-4094, first <= last. InvalidInputError otherwise. */
export function parseVlanRange(text: string): VlanRange {
  const m = /^\s*(\d{1,5})\s*(?:-\s*(\d{1,5})\s*)?$/.exec(text);
  if (!m) throw new InvalidInputError(`VLAN pool ${quote(text)} is not a range like "100-199"`);
  const first = Number(m[1]);
  const last = m[2] === undefined ? first : Number(m[2]);
  for (const v of [first, last]) {
    if (v < VLAN_MIN || v > VLAN_MAX) throw new InvalidInputError(`VLAN pool ${quote(text)}: ${v} is outside ${VLAN_MIN}-${VLAN_MAX}`);
  }
  if (first > last) throw new InvalidInputError(`VLAN pool ${quote(text)}: ${first} is after ${last}`);
  return { first, last };
}

export function vlanRangesOverlap(a: VlanRange, b: VlanRange): boolean {
  return a.first <= b.last && b.first <= a.last;
}
