// Where a pod's VLAN tag comes from: a fixed id, or a number read from the pod's name.
import { InvalidInputError } from '../errors';
import { quote } from '../names';

export type VlanSource = { id: number } | { fromPodName: string };

export const VLAN_MIN = 1;
export const VLAN_MAX = 4094;

export function vlanFor(source: VlanSource, podName: string, network: string): number {
  if ('id' in source) return source.id;
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
