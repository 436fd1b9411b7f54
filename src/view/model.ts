// The node as the operator's views see it: `list` (state per attachment), `networks`, `topology`,
// `metrics`, and later `diagnose`. Read only, rebuilt each time from the state of record (OVSDB
// rows and external_ids, the kernel's links, the allocators); never from podvlan's own memory.
// readNodeView (node-view.ts) builds it; the views only format it.
import type { Attachment } from '../ovs/attachment';

/** Something wrong, named so a script can match it and a person can act on it. */
export interface Problem {
  code: ProblemCode;
  message: string; // one line naming the object: "host veth pv1234 is missing"
}

/**
 * What can be wrong with one attachment, in the order they are judged (the first is its state):
 * - no-port: the record names a port that is not on its bridge (a pod's record without its port)
 * - no-veth: the host end of the veth is gone
 * - wrong-netns: the pod end is not in the network namespace recorded at setup (or is gone)
 * - ofport: ovs-vswitchd gave the interface ofport -1 or none
 * - error: the Interface row has an `error` text
 * - tag-differs: the port's VLAN tag (or trunks) is not what podvlan recorded at setup
 * - address-differs: an address podvlan gave (either family) is missing from the pod's interface,
 *   or another of that family stands in its place
 * Bridge, uplink and network problems:
 * - no-bridge: a configured bridge does not exist in OVSDB
 * - uplink-missing: a configured uplink is not a port (run `podvlan init`)
 * - uplink-vlans: an uplink does not carry a VLAN in use on its bridge, or carries one no network has
 * - pool-exhausted: an address pool has no free address left
 * - pool-unreadable: the pool's usage could not be read (etcd down or slower than the views wait)
 */
export type ProblemCode =
  | 'no-port'
  | 'no-veth'
  | 'wrong-netns'
  | 'ofport'
  | 'error'
  | 'tag-differs'
  | 'address-differs'
  | 'no-bridge'
  | 'uplink-missing'
  | 'uplink-vlans'
  | 'pool-exhausted'
  | 'pool-unreadable';

export interface AttachmentView {
  attachment: Attachment;
  state: 'ok' | ProblemCode; // 'ok' when problems is empty, else problems[0].code
  problems: Problem[];
  ofport?: number; // as ovs-vswitchd reports it
  error?: string; // Interface.error
  podInterface?: { name: string; up: boolean; mtu?: number; addresses: string[] }; // when its netns was read
}

export interface UplinkView {
  name: string;
  bridge: string;
  managed: boolean; // marked podvlan/uplink=true (made by init)
  exists: boolean; // a Port row of that name on the bridge
  trunks: number[]; // the Port's trunks column, sorted
  mtu?: number; // the Interface's mtu (as the kernel has it)
  ofport?: number;
  error?: string;
  missing: number[]; // VLANs in use (or declared) on the bridge that it does not carry
  extra: number[]; // VLANs it carries that no network on the bridge declares
}

export interface BridgeView {
  name: string;
  exists: boolean;
  datapathType: string; // as OVSDB has it ("" read as system), else the config's
  uplinks: UplinkView[];
}

/** For 'delegated' (a CNI IPAM plugin's addresses) only `used` is known: the range is the plugin's
 * own, so size and free are 0 and say nothing (never judged exhausted). */
export interface PoolUsage {
  type: 'host-local' | 'static' | 'etcd' | 'delegated';
  subnet?: string;
  size: number; // addresses the pool hands out (beyond 2^53 the nearest double: see sizeExact)
  used: number; // held (on this node for host-local and static, cluster-wide for etcd)
  free: number;
  sizeExact?: string; // the exact size in decimal, only when it is beyond 2^53 (an IPv6 pool)
  freeExact?: string; // likewise for free
}

export interface NetworkView {
  name: string;
  bridge: string;
  // 'unknown': a network known only from its ports (gone from the config and the CNI conf dir)
  vlanSource: 'id' | 'fromPodName' | 'fromAnnotation' | 'pool' | 'trunk' | 'unknown';
  declared: string; // the VLANs the config declares: "22", "20-99", "300-303", "100-110,200"; "any" for a range-less pod-name network, "" for unknown
  inUse: { vlan: number; pods: number }[]; // VLANs this node's attachments carry, with how many pods
  uplinks: { name: string; carries: boolean; missing: number[] }[]; // whether each uplink carries inUse
  pool?: PoolUsage; // absent without ipam; the first of pools (kept for readers of one pool)
  pools?: PoolUsage[]; // every pool, in config order (a dual-stack network: IPv4, IPv6)
  attachments: { ok: number; broken: number };
  problems: Problem[];
}

export interface NodeView {
  node: string; // nodeName
  bridges: BridgeView[];
  networks: NetworkView[];
  attachments: AttachmentView[]; // sorted as list sorts them
  problems: Problem[]; // bridge and uplink problems (attachment ones stay on their attachment)
}
