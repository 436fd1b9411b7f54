// A pod on a trunk network (`vlan: {trunk: ...}`): its port's trunks column must carry the VLAN the
// path follows, in place of an access tag; its pod interface is judged as a trunk, not for the VLAN.
import { vlanListText } from '../../ipam/vlan';
import { carriedVlans } from '../../view/judge';
import type { PortFacts } from '../facts';
import type { Suspicion } from '../model';
import type { Check } from './module';
import type { PodInterfaceFacts } from './pod-interface'; // type only: it imports the checks below

export interface TrunkFacts {
  vlan: number; // the VLAN followed (--vlan, or the one both ends share)
  recorded?: string; // the trunks setup made, "100-110"
}

/** What the port's VLAN columns say, for the hop's summary ("trunks 100-110" or "tag 22"). */
export function trunkSummary(o: PortFacts): string {
  const carried = carriedVlans(o);
  if (carried === 'all') return 'trunks all';
  return o.vlanMode === 'trunk' || o.tag === undefined ? `trunks ${vlanListText(carried) || 'none'}` : `tag ${o.tag}`;
}

/** trunk-lacks-vlan (CRITICAL): the port does not pass VLAN N; trunks-differ (WARNING): it does,
 * but its trunks are not the ones setup made. */
export function checkTrunkPort(port: string, pod: string, o: PortFacts | undefined, t: TrunkFacts): Suspicion[] {
  if (!o) return [];
  const carried = carriedVlans(o);
  const fix = t.recorded ? `ovs-vsctl set port ${port} trunks=${t.recorded}` : undefined;
  const now = trunkSummary(o);
  if (carried !== 'all' && !carried.includes(t.vlan))
    return [
      {
        level: 'CRITICAL',
        code: 'trunk-lacks-vlan',
        message: `trunk port ${port} of ${pod} does not carry VLAN ${t.vlan}: it has ${now}${t.recorded ? `, podvlan set trunks ${t.recorded}` : ''}`,
        ...(fix ? { hint: fix } : {}),
      },
    ];
  const column = carried === 'all' ? 'all' : vlanListText(carried);
  if (t.recorded === undefined || column === t.recorded) return [];
  return [
    {
      level: 'WARNING',
      code: 'trunks-differ',
      message: `trunk port ${port} of ${pod} has ${now}, podvlan set ${t.recorded} (VLAN ${t.vlan} passes)`,
      ...(fix ? { hint: fix } : {}),
    },
  ];
}

/** On a trunk interface the VLAN's address, route and neighbour are the pod's own subinterface's
 * (an 802.1Q link, or a switch in the pod): not read, said as INFO; the interface itself is. */
export const trunkUnchecked: Check<PodInterfaceFacts> = (f) =>
  f.trunk && f.link
    ? {
        level: 'INFO',
        code: 'trunk-vlan-unchecked',
        message: `${f.interface} of ${f.pod} is a trunk of VLAN ${f.vlan}: the pod's own interface for that VLAN (address, route, neighbour) is not checked`,
      }
    : undefined;
export const notOnTrunk =
  (check: Check<PodInterfaceFacts>): Check<PodInterfaceFacts> =>
  (f) =>
    f.trunk ? undefined : check(f);
