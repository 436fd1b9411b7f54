// The pod's own interface, in its network namespace: is it there and up, does it answer ARP,
// its MTU and address against the network and the allocator, and what the pod's kernel does
// with the peer's address (route, neighbour, reverse-path filter). Both ends of the path have
// one; the source sends the request, the destination the reply, so each is judged both ways.
import { familyName, familyOfText } from '../../ipam/ip';
import { type EndFacts, endOf, type PathFacts, type Side } from '../facts';
import type { Suspicion } from '../model';
import { duplicateAddress, type OtherAttachment, relevantOthers } from './duplicate-address';
import { type Check, type HopModule, inPod, pick, unreadable } from './module';
import { notOnTrunk, trunkUnchecked } from './trunk-port';

/** The facts (keys of EndFacts.unread) read in the pod's namespace or about its address. */
const POD_SIDE = ['netns', 'pod interface', 'addresses', 'route', 'neighbour', 'sysctl', 'receive path', 'lease'];

export interface PodInterfaceFacts {
  side: Side;
  pod: string; // ns/pod
  interface: string;
  mtu: number; // the network's
  family?: 6; // the path's family (absent: IPv4)
  recordedIp?: string; // of the path's family
  recordedIps?: string[]; // every address setup gave the interface, both families
  /** What this hop does not judge in this family, and why (IPv6: rp_filter and arp_ignore are IPv4's). */
  notJudged?: string[];
  peerAddress?: string; // the other end's address (where requests or replies go)
  peerMac?: string; // the other end's MAC, to compare the neighbour entry with
  peerPod?: string; // the other end's ns/pod (set for the far half, where others span two nodes)
  recordedNetns?: string;
  netns?: EndFacts['netns'];
  link?: EndFacts['podLink'];
  addresses?: string[];
  dadFailed?: string[];
  route?: EndFacts['route'];
  routeError?: string;
  nextHop?: string;
  neighbour?: EndFacts['neighbour'];
  receive?: EndFacts['receive'];
  sysctl?: EndFacts['sysctl'];
  lease?: EndFacts['lease'];
  vlan?: number; // as recorded
  trunk?: boolean; // a trunk port's interface: VLAN `vlan` lives on a subinterface the pod makes
  others?: OtherAttachment[]; // other attachments of the VLAN sharing its address or neighbour's MAC
  unread: Record<string, string>;
}

const object = (f: PodInterfaceFacts) => `${f.interface} of ${f.pod}`;
const hint = (f: PodInterfaceFacts, args: string) => inPod(f.netns?.path, args);
const bare = (cidr?: string) => cidr?.split('/')[0];

const netns: Check<PodInterfaceFacts> = (f) => {
  const n = f.netns;
  if (n?.gone)
    return {
      level: 'FATAL',
      code: 'netns-gone',
      message: `the network namespace ${n.inode} recorded for ${f.pod} is gone: its container is dead`,
      hint: 'podvlan gc',
    };
  if (!f.recordedNetns && f.link === undefined)
    return { level: 'WARNING', code: 'netns-unknown', message: `no network namespace is recorded for ${f.pod}` };
  return undefined;
};

const unread: Check<PodInterfaceFacts> = (f) => (f.netns?.gone ? [] : unreadable(object(f), f.unread));

const present: Check<PodInterfaceFacts> = (f) => {
  const link = f.link;
  if (link === null)
    return {
      level: 'CRITICAL',
      code: 'interface-missing',
      message: `${f.pod} has no interface ${f.interface} in its network namespace ${f.recordedNetns ?? ''}`.trim(),
    };
  if (link && !link.up)
    return {
      level: 'CRITICAL',
      code: 'interface-down',
      message: `${object(f)} is down`,
      hint: hint(f, `ip link set ${f.interface} up`),
    };
  return undefined;
};

const arp: Check<PodInterfaceFacts> = (f) => {
  const out: Suspicion[] = [];
  if (f.link?.noarp)
    out.push({
      level: 'CRITICAL',
      code: 'arp-off',
      message: `${object(f)} has ARP off: it neither answers nor asks who has an address`,
      hint: hint(f, `ip link set ${f.interface} arp on`),
    });
  const ignore = f.sysctl && f.family !== 6 ? Math.max(...f.sysctl.arpIgnore) : 0; // NDP has no arp_ignore
  if (ignore >= 8)
    out.push({
      level: 'CRITICAL',
      code: 'arp-ignore',
      message: `${object(f)} never answers ARP (arp_ignore=${ignore})`,
      hint: hint(f, `sysctl -w net.ipv4.conf.all.arp_ignore=0 net.ipv4.conf.${f.interface}.arp_ignore=0`),
    });
  return out;
};

const mtu: Check<PodInterfaceFacts> = (f) => {
  const m = f.link?.mtu;
  if (m === undefined || m === f.mtu) return undefined;
  return {
    level: 'WARNING',
    code: 'mtu-mismatch',
    message: `${object(f)} has MTU ${m}, the network ${f.mtu}: ${m > f.mtu ? `frames over ${f.mtu} bytes are dropped` : 'larger frames to it are dropped'}`,
    hint: hint(f, `ip link set ${f.interface} mtu ${f.mtu}`),
  };
};

const address: Check<PodInterfaceFacts> = (f) => {
  const have = f.addresses;
  if (have === undefined || !f.link) return undefined;
  const out: Suspicion[] = [];
  // Every family's address against the record: CRITICAL for the path's own family, a WARNING for
  // the other (this path does not need it, that family's traffic does).
  const recorded = f.recordedIps ?? (f.recordedIp ? [f.recordedIp] : []);
  for (const want of recorded.filter((a) => !have.includes(a))) {
    const family = familyOfText(want);
    const same = have.filter((a) => familyOfText(a) === family);
    const level = family === (f.family ?? 4) ? 'CRITICAL' : 'WARNING';
    const v6 = family === 6 ? ['-6 ', ' nodad'] : ['', ''];
    const add = hint(f, `ip ${v6[0]}addr add ${want} dev ${f.interface}${v6[1]}`);
    out.push(
      same.length === 0
        ? {
            level,
            code: 'address-missing',
            message: `${object(f)} has no ${have.length === 0 ? '' : `${familyName(family)} `}address (the allocator gave it ${want})`,
            hint: add,
          }
        : {
            level,
            code: 'address-differs',
            message: `${object(f)} has ${same.join(', ')}, not ${want} that the allocator gave it`,
            hint: add,
          },
    );
  }
  const extra = have.filter((a) => !recorded.includes(a));
  if (recorded.length > 0 && extra.length > 0 && extra.length < have.length)
    out.push({ level: 'INFO', code: 'address-extra', message: `${object(f)} also has ${extra.join(', ')}` });
  const lease = f.lease;
  if (f.recordedIp && lease === null)
    out.push({
      level: 'WARNING',
      code: 'lease-missing',
      message: `no lease holds ${f.recordedIp} for ${f.pod}: another pod may be given it`,
    });
  else if (lease && !lease.mine)
    out.push({
      level: 'CRITICAL',
      code: 'lease-other',
      message: `the lease of ${f.recordedIp} names ${lease.holder ?? 'another owner'}, not ${f.pod}: the address may be in use twice`,
    });
  return out;
};

/** rp_filter: the kernel's own receive path for a packet from the peer. A reverse-path failure
 * answers EXDEV (older kernels) or EINVAL (6.x, as for a martian source). */
const receive: Check<PodInterfaceFacts> = (f) => {
  const r = f.receive;
  if (f.family === 6) return undefined; // IPv6 has no reverse-path filter (notJudged says so)
  if (!r || r.ok || (r.errno !== 18 && r.errno !== 22)) return undefined;
  // Only judged where the packet would be for this pod: its address there, its interface up.
  if (!f.link?.up || !f.recordedIp || !f.addresses?.includes(f.recordedIp)) return undefined;
  const rp = f.sysctl ? Math.max(...f.sysctl.rpFilter) : undefined;
  if (rp === 0)
    return {
      level: 'CRITICAL',
      code: 'receive-refused',
      message: `${f.pod} refuses packets from ${f.peerAddress} on ${f.interface}: ${r.error}`,
    };
  return {
    level: 'CRITICAL',
    code: 'rp-filter-drops',
    message: `${f.pod} drops packets from ${f.peerAddress} on ${f.interface}: rp_filter${rp === undefined ? '' : `=${rp}`} and its route back to ${f.peerAddress} does not use ${f.interface}`,
    hint: hint(f, `sysctl -w net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.${f.interface}.rp_filter=0`),
  };
};

const route: Check<PodInterfaceFacts> = (f) => {
  const link = f.link;
  if (!f.peerAddress || !link) return undefined;
  const r = f.route;
  const what =
    f.side === 'src' ? `${f.pod} has no route to ${f.peerAddress}` : `${f.pod} cannot reply to ${f.peerAddress}`;
  const why = f.routeError
    ? `the kernel answers ${f.routeError}`
    : r && (r.type !== 'unicast' || r.oif !== link.index)
      ? `its route ${r.type === 'unicast' ? `goes out of ${r.oifName ?? `interface ${r.oif}`}` : `is ${r.type}`}`
      : undefined;
  if (!why) return undefined;
  return { level: 'CRITICAL', code: 'no-route', message: `${what} via ${f.interface}: ${why}` };
};

const neighbour: Check<PodInterfaceFacts> = (f) => {
  const n = f.neighbour;
  const hop = f.nextHop;
  if (n === undefined || !hop || f.link?.noarp) return undefined;
  const v6 = f.family === 6 || hop.includes(':');
  if (n === null)
    return {
      level: 'INFO',
      code: 'neighbour-unresolved',
      message: `${f.pod} has not resolved ${hop} yet (${v6 ? 'NDP' : 'ARP'} on the first packet)`,
    };
  if (n.state === 'FAILED')
    return {
      level: 'CRITICAL',
      code: 'neighbour-failed',
      message: v6
        ? `${f.pod} sent neighbour solicitations for ${hop} and got no advertisement back (NDP entry FAILED)`
        : `${f.pod} asked who has ${hop} and got no answer (neighbour FAILED)`,
    };
  if (n.state === 'INCOMPLETE')
    return {
      level: 'WARNING',
      code: 'neighbour-incomplete',
      message: v6
        ? `${f.pod} is soliciting ${hop} (NDP INCOMPLETE), with no advertisement yet`
        : `${f.pod} is asking who has ${hop}, with no answer yet`,
    };
  const another = f.others?.some((o) => o.pod !== f.pod && o.vlan === f.vlan && o.mac === n.mac);
  if (n.mac && hop === f.peerAddress && f.peerMac && n.mac !== f.peerMac && !another)
    return {
      level: 'CRITICAL',
      code: 'neighbour-wrong-mac',
      message: `${f.pod} has ${hop} at ${n.mac}, but ${hop}'s interface is ${f.peerMac}: another host answers for it`,
      hint: hint(f, `ip neigh del ${hop} dev ${f.interface}`),
    };
  return undefined;
};

export const podInterface: HopModule<PodInterfaceFacts> = {
  kind: 'pod-interface',
  reads: ['pod-netns', 'pod-record', 'leases', 'config'],
  views(path: PathFacts, side: Side) {
    const end = endOf(path, side);
    const peer = side === 'src' ? path.dst : path.src; // none for a destination on another node
    const facts: PodInterfaceFacts = {
      side,
      pod: `${end.namespace}/${end.pod}`,
      interface: end.interface,
      mtu: path.network.mtu,
      ...(path.family === 6
        ? { family: 6 as const, notJudged: ['rp_filter (IPv4 only)', 'arp_ignore (IPv4 only: NDP has none)'] }
        : {}),
      recordedIp: end.recordedIp,
      ...(end.recordedIps ? { recordedIps: end.recordedIps } : {}),
      peerAddress: bare(side === 'src' ? path.dstAddress : path.srcAddress),
      peerMac: peer?.podLink?.mac ?? peer?.recordedMac,
      recordedNetns: end.recordedNetns,
      netns: end.netns,
      link: end.podLink,
      addresses: end.addresses,
      ...(end.dadFailed ? { dadFailed: end.dadFailed } : {}),
      route: end.route,
      routeError: end.routeError,
      nextHop: end.nextHop,
      neighbour: end.neighbour,
      receive: end.receive,
      sysctl: end.sysctl,
      lease: end.lease,
      vlan: end.recordedTag,
      ...(end.trunk ? { trunk: true } : {}),
      others: relevantOthers(path.others, {
        pod: `${end.namespace}/${end.pod}`,
        vlan: end.recordedTag,
        ip: end.recordedIp,
        addresses: end.addresses,
        neighbourMac: end.neighbour?.mac?.toLowerCase(),
      }),
      unread: pick(end.unread, POD_SIDE),
    };
    return [{ object: `${end.interface} of ${facts.pod}`, facts }];
  },
  checks: [
    netns,
    unread,
    present,
    arp,
    mtu,
    ...[address, duplicateAddress, receive, route, neighbour].map(notOnTrunk),
    trunkUnchecked,
  ],
  summary: (f) => {
    if (f.netns?.gone) return 'namespace gone';
    if (!f.link) return f.link === null ? 'no interface' : 'not read';
    const parts = [
      f.link.up ? 'up' : 'down',
      `mtu ${f.link.mtu}`,
      ...(f.trunk ? [`trunk, vlan ${f.vlan}`] : (f.addresses ?? [])),
    ];
    if (f.route?.oifName && f.peerAddress && !f.trunk) parts.push(`${f.peerAddress} via ${f.route.oifName}`);
    return parts.join(', ');
  },
};
