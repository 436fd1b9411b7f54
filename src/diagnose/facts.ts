// What diagnose reads about a path, in the shapes the hop modules judge. gather.ts fills it from
// OVSDB, ovs-vswitchd, the kernel (both namespaces) and podvlan's own records; every part may be
// missing, with the reason in `unread`: a fact that could not be read becomes a suspicion, never
// a crash.
import type { Trace } from '../ovs/trace-parse';
import type { LinkFacts, RouteLookup } from '../veth/netlink-read';

/** The sources a hop module reads (documented per module; gather.ts reads them all at once). */
export type Source = 'ovsdb' | 'vswitchd' | 'host-netns' | 'pod-netns' | 'pod-record' | 'leases' | 'config';

export type Side = 'src' | 'dst';

/** The OVSDB Port row of an attachment and its Interface. */
export interface PortFacts {
  name: string;
  bridge?: string; // the bridge whose ports include it
  tag?: number;
  trunks: number[];
  vlanMode?: string;
  ofport?: number; // undefined: empty
  error?: string;
  linkState?: string;
  adminState?: string;
  mtu?: number;
  managed: boolean; // has podvlan/managed=true
  containerId?: string; // podvlan/containerId in external_ids
}

/** One end of the path: a pod attached on this node. */
export interface EndFacts {
  side: Side;
  namespace: string;
  pod: string;
  network: string;
  interface: string; // the network's interface name in the pod
  port: string; // hostVethName: the host veth and OVS port
  recordedTag?: number; // what setup recorded: the port's external_ids, else the pod record
  recordedIp?: string; // addr/len of the path's family (path.family): what the path is judged with
  recordedIps?: string[]; // every address setup gave it (IPv4 first), each checked on the interface
  recordedMac?: string;
  recordedNetns?: string; // inode
  currentContainer?: string; // the pod record's container (the newest setup)
  cni?: boolean; // a CNI attachment (the runtime repairs it, not `podvlan setup`)
  /** On a trunk network: the VLAN followed (also recordedTag), and the trunks setup made. */
  trunk?: { vlan: number; recorded?: string };
  ovs?: PortFacts; // undefined: no Port row of that name
  /** The pod's namespace: `path` opens it (/proc/PID/ns/net or an nsfs mount); gone: nothing holds it. */
  netns?: { inode: string; path?: string; gone?: boolean };
  podLink?: LinkFacts | null; // null: no such interface in the namespace
  addresses?: string[]; // addr/len on the pod interface, both families (no IPv6 link-local)
  dadFailed?: string[]; // IPv6 addresses whose duplicate address detection found another holder
  route?: RouteLookup & { oifName?: string }; // the kernel's lookup of the peer's address
  routeError?: string; // "Network is unreachable (ENETUNREACH)"
  nextHop?: string; // the address whose neighbour entry matters (gateway or the peer)
  neighbour?: { state: string; mac?: string } | null; // null: no entry
  /** The kernel's receive path for a packet from the peer (ip route get OWN from PEER iif IF). */
  receive?: { ok: true } | { ok: false; error: string; errno: number };
  sysctl?: { rpFilter: [all: number, iface: number]; arpIgnore: [all: number, iface: number] };
  hostLink?: LinkFacts | null; // the host end of the veth; null: missing
  lease?: { holder?: string; mine: boolean } | null; // host-local only; null: no lease file
  unread: Record<string, string>; // fact -> why it could not be read
}

export interface BridgeFacts {
  name: string;
  exists?: boolean;
  datapathType?: string;
  flow?: string; // the packet traced
  trace?: Trace & { outputNames: (string | undefined)[] }; // names of trace.outputs' ports
  dstOdpPort?: number; // the destination port's datapath number
  dstMacLearned?: { port: string | number; vlan: number } | null; // fdb; null: not learned
  uplinks?: string[]; // a remote path's: the bridge's uplinks (the config's and those init marked)
  uplinkOdpPorts?: { name: string; odp: number }[]; // their datapath port numbers
  unread: Record<string, string>;
}

/** An uplink of the bridge (a trunk port towards the other nodes): its OVS rows and its link. */
export interface UplinkFacts {
  name: string;
  ovs?: PortFacts; // undefined: no Port row
  hostLink?: LinkFacts | null; // null: no such link on the node
  odpPort?: number; // its datapath port number (dpif/show)
  unread: Record<string, string>;
}

export interface PathFacts {
  node: string;
  /** The family the path is followed in: 6 for an IPv6 DST (or an IPv6-only network); absent: IPv4. */
  family?: 6;
  network: { name: string; mtu: number; interface: string; bridge: string };
  src: EndFacts;
  /** The destination pod on this node; absent when it is elsewhere (`remote`). */
  dst?: EndFacts;
  /** A destination address that no pod of this node holds: the path leaves by the uplinks. */
  remote?: { address: string };
  uplinks?: UplinkFacts[]; // read for a remote destination only
  /** This node's other attachments on the network (OVSDB rows), for duplicate-address. */
  others?: { pod: string; port: string; vlan?: number; ip?: string; mac?: string }[];
  srcAddress?: string; // the address the kernel sends from (the route's prefsrc, else the record)
  dstAddress?: string;
  bridge: BridgeFacts;
}

/** One end of the path by side; the destination end exists on same-node paths only. */
export function endOf(path: PathFacts, side: Side): EndFacts {
  const end = side === 'src' ? path.src : path.dst;
  if (!end) throw new Error(`internal: the path has no ${side} end on this node`);
  return end;
}
