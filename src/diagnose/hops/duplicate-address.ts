// Two holders of one address on a VLAN: the pod-interface hop's check for it, in its own file.
// Three ways it shows: two attachments of this node on the VLAN recorded with the same address
// (their OVSDB rows); the pod's interface holding an address recorded for another pod there
// (diagnose --all reads every pod's interface); the pod's neighbour entry for its peer holding
// the MAC of another pod of the VLAN (that pod answered for the peer's address).
import type { Suspicion } from '../model';
import type { Check } from './module';
import type { PodInterfaceFacts } from './pod-interface';

/** Another attachment of this node on the same network and VLAN, as OVSDB records it. */
export interface OtherAttachment {
  pod: string; // ns/pod
  port: string;
  vlan?: number;
  ip?: string; // addr/len of the path's family
  mac?: string;
  node?: string; // set for the far half of a path (diagnose --peer): the node it is on
}

const bare = (cidr?: string) => cidr?.split('/')[0];

/** The others that matter to one pod's interface (its VLAN, its addresses, its neighbour's MAC):
 * what its facts carry, so the JSON does not list the whole node on every hop. */
export function relevantOthers(
  others: OtherAttachment[] | undefined,
  end: { pod: string; vlan?: number; ip?: string; addresses?: string[]; neighbourMac?: string },
): OtherAttachment[] | undefined {
  const mine = new Set([end.ip, ...(end.addresses ?? [])].map(bare).filter(Boolean));
  const found = (others ?? []).filter(
    (o) =>
      o.pod !== end.pod &&
      end.vlan !== undefined &&
      o.vlan === end.vlan &&
      (mine.has(bare(o.ip)) || (end.neighbourMac !== undefined && o.mac?.toLowerCase() === end.neighbourMac)),
  );
  return found.length > 0 ? found : undefined;
}

export const duplicateAddress: Check<PodInterfaceFacts> = (f) => {
  const others = f.others ?? []; // already those of its VLAN, other pods (relevantOthers)
  const out: Suspicion[] = [];
  const own = bare(f.recordedIp);
  // IPv6's own detection: the kernel found another host answering for the address (DAD failed).
  for (const a of f.dadFailed ?? [])
    out.push({
      level: 'CRITICAL',
      code: 'duplicate-address',
      message: `${f.interface} of ${f.pod}: ${bare(a)} failed duplicate address detection, another host on VLAN ${f.vlan} has it`,
      hint: `podvlan ipam show ${bare(a)}; ip -6 neigh show ${bare(a)} on the VLAN's hosts names the MAC`,
    });
  for (const o of others)
    if (own && bare(o.ip) === own)
      out.push({
        level: 'CRITICAL',
        code: 'duplicate-address',
        message: `${own} is recorded for both ${f.pod} and ${o.pod} on VLAN ${f.vlan}`,
      });
  for (const a of f.addresses ?? []) {
    const o = others.find((x) => bare(x.ip) === bare(a));
    if (o && bare(a) !== own)
      out.push({
        level: 'CRITICAL',
        code: 'duplicate-address',
        message: `${f.interface} of ${f.pod} holds ${bare(a)}, the address of ${o.pod} on VLAN ${f.vlan}`,
        hint: f.netns?.path ? `nsenter --net=${f.netns.path} ip addr del ${a} dev ${f.interface}` : undefined,
      });
  }
  // A pod of the other node recorded with the peer's (the source's) address: the reply may go to it.
  for (const o of others)
    if (o.node !== undefined && f.peerAddress && bare(o.ip) === f.peerAddress && o.pod !== f.peerPod)
      out.push({
        level: 'CRITICAL',
        code: 'duplicate-address',
        message: `${f.peerAddress}, the address of ${f.peerPod ?? 'the source'}, is also recorded for ${o.pod} on node ${o.node} on VLAN ${f.vlan}: ${f.pod}'s reply may reach ${o.pod} instead`,
        hint: `podvlan ipam show ${f.peerAddress} (on ${o.node}); node ranges must not overlap`,
      });
  const n = f.neighbour;
  const hop = f.nextHop;
  if (n?.mac && hop && hop === f.peerAddress && n.mac !== f.peerMac) {
    const o = others.find((x) => x.mac !== undefined && x.mac.toLowerCase() === n.mac?.toLowerCase());
    if (o)
      out.push({
        level: 'CRITICAL',
        code: 'duplicate-address',
        message: `${f.pod} has ${hop} at ${n.mac}, the MAC of ${o.pod}: ${o.pod} also answers for ${hop} on VLAN ${f.vlan}`,
        hint: 'find the address on the other pod: ip -n NETNS addr (podvlan diagnose --all names it)',
      });
  }
  return out;
};
