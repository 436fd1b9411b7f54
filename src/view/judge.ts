// The checks behind every state the views show: small pure functions over facts already read
// (node-view.ts reads them), one per thing that can be wrong, each returning one Problem or none.
// A later `diagnose` runs the same checks on one pod's path.
import type { Attachment } from '../ovs/attachment';
import { familyOfText } from '../ipam/ip';
import { parseVlanTrunk, vlansOf } from '../ipam/vlan';
import { vlanText } from '../ovs/uplink';
import type { Problem, UplinkView } from './model';

/** The OVS side of an attachment's port; undefined when OVSDB has no such Port row. */
export interface PortFacts {
  bridge?: string; // the bridge whose ports list it (none: no bridge holds it)
  ofport?: number;
  error?: string;
}

/** The host end of the veth, from sysfs; undefined when it is gone. */
export interface HostVeth {
  ifindex: number;
  iflink: number; // the peer's ifindex (in the peer's namespace)
}

/** One link inside a pod's namespace, as its rtnetlink link and address dumps give it. */
export interface PodLink {
  name: string;
  ifindex: number;
  peerIndex?: number; // a veth's peer's ifindex
  kind?: string; // "veth"
  up: boolean;
  mtu?: number;
  addresses: string[]; // addr/len, either family (IPv6 in RFC 5952 form; no link-local)
}

/** What was found of the network namespace recorded at setup. */
export type NetnsFacts =
  | { state: 'read'; links: PodLink[] }
  | { state: 'gone'; why: string } // nothing holds it: it no longer exists
  | { state: 'unknown'; why: string }; // could not be told or read: not judged

export interface AttachmentFacts {
  port?: PortFacts;
  veth?: HostVeth;
  netns?: NetnsFacts; // undefined: not read (no inode recorded, or no host veth)
  expectedTag?: number; // what podvlan set (podvlan/vlan), else the config's fixed id, else unknown
}

const where = (a: Attachment) => `${a.namespace}/${a.pod} on ${a.network}`;

/** no-port: no Port row for the attachment, or one on another bridge than recorded. */
export function checkPort(a: Attachment, f: AttachmentFacts): Problem | undefined {
  if (!f.port)
    return { code: 'no-port', message: `OVS port ${a.port} of ${where(a)} is missing from bridge ${a.bridge}` };
  if (f.port.bridge !== a.bridge)
    return {
      code: 'no-port',
      message: `OVS port ${a.port} of ${where(a)} is ${f.port.bridge ? `on bridge ${f.port.bridge}` : 'on no bridge'}, not on ${a.bridge}`,
    };
  return undefined;
}

/** no-veth: the host end of the pair is gone (the pod end goes with it). */
export function checkVeth(a: Attachment, f: AttachmentFacts): Problem | undefined {
  return f.veth ? undefined : { code: 'no-veth', message: `host veth ${a.port} of ${where(a)} is missing` };
}

/** wrong-netns: the pod end, the host veth's peer, is not the recorded namespace's interface. */
export function checkPodEnd(a: Attachment, f: AttachmentFacts): Problem | undefined {
  if (!f.veth || !f.netns || f.netns.state === 'unknown') return undefined;
  const ns = `netns ${a.netns}`;
  if (f.netns.state === 'gone')
    return { code: 'wrong-netns', message: `${ns} recorded for ${where(a)} is gone (${f.netns.why})` };
  const link = podEndOf(a, f.netns.links);
  if (!link)
    return {
      code: 'wrong-netns',
      message: `${a.interface} of ${where(a)} is not in its recorded ${ns} (moved or deleted)`,
    };
  if (link.kind !== 'veth' || link.peerIndex !== f.veth.ifindex || f.veth.iflink !== link.ifindex)
    return {
      code: 'wrong-netns',
      message: `${a.interface} in ${ns} is not the peer of host veth ${a.port} (${where(a)})`,
    };
  return undefined;
}

/** The pod's interface of this attachment, by the name it was given. */
export function podEndOf(a: Attachment, links: PodLink[]): PodLink | undefined {
  return links.find((l) => l.name === a.interface);
}

/** ofport: ovs-vswitchd gave the interface -1 (could not open it) or none (never took it). */
export function checkOfport(a: Attachment, f: AttachmentFacts): Problem | undefined {
  if (!f.port) return undefined;
  const { ofport } = f.port;
  if (ofport !== undefined && ofport > 0) return undefined;
  const what = ofport === undefined ? 'no ofport' : `ofport ${ofport}`;
  return { code: 'ofport', message: `ovs-vswitchd gave port ${a.port} of ${where(a)} ${what}` };
}

/** error: the Interface row carries ovs-vswitchd's error text. */
export function checkError(a: Attachment, f: AttachmentFacts): Problem | undefined {
  if (!f.port?.error) return undefined;
  return { code: 'error', message: `port ${a.port} of ${where(a)}: ${f.port.error}` };
}

/** tag-differs: the port's tag is not the one podvlan set. */
export function checkTag(a: Attachment, f: AttachmentFacts): Problem | undefined {
  if (!f.port) return undefined;
  if (a.trunks !== undefined && a.recordedTrunks !== undefined && a.trunks !== a.recordedTrunks) {
    const now = a.trunks === '' ? 'empty trunks (every VLAN)' : `trunks ${a.trunks}`;
    return {
      code: 'tag-differs',
      message: `port ${a.port} of ${where(a)} has ${now}, podvlan set ${a.recordedTrunks}`,
    };
  }
  if (f.expectedTag === undefined || a.tag === f.expectedTag) return undefined;
  const now = a.tag === 0 ? 'no tag' : `tag ${a.tag}`;
  return { code: 'tag-differs', message: `port ${a.port} of ${where(a)} has ${now}, podvlan set ${f.expectedTag}` };
}

/** address-differs: a recorded address (either family) is not on the pod's interface, or the
 * interface holds another address of that family in its place. Judged only when the pod end was
 * read and is the right one (else wrong-netns says more). */
export function checkAddresses(a: Attachment, f: AttachmentFacts): Problem | undefined {
  if (f.netns?.state !== 'read' || a.ips.length === 0) return undefined;
  const link = podEndOf(a, f.netns.links);
  if (!link || link.peerIndex !== f.veth?.ifindex) return undefined;
  const parts = a.ips.flatMap((want) => {
    if (link.addresses.includes(want)) return [];
    const family = familyOfText(want);
    const other = link.addresses.filter((x) => familyOfText(x) === family);
    return [other.length ? `has ${other.join(', ')}, not ${want}` : `lacks ${want}`];
  });
  if (parts.length === 0) return undefined;
  return {
    code: 'address-differs',
    message: `${a.interface} of ${where(a)} ${parts.join(' and ')} that podvlan gave it (ip addr add it back, or set up the pod again)`,
  };
}

const ATTACHMENT_CHECKS = [checkPort, checkVeth, checkPodEnd, checkOfport, checkError, checkTag, checkAddresses];

/** Every problem of one attachment, in the order of ProblemCode (the first is its state). */
export function judgeAttachment(a: Attachment, f: AttachmentFacts): Problem[] {
  return ATTACHMENT_CHECKS.flatMap((check) => check(a, f) ?? []);
}

/** The VLANs a pod's port puts it on: an access port its tag (none when untagged by hand), a trunk
 * port its trunks (none when emptied by hand: every VLAN, which no list can say). */
export function podVlans(a: Attachment): number[] {
  if (a.trunks !== undefined) return a.trunks === '' ? [] : vlansOf(parseVlanTrunk(a.trunks));
  return a.tag >= 1 ? [a.tag] : [];
}

/** The VLANs an OVS port carries: an access port its tag, a trunk port its trunks (and a native
 * VLAN mode its tag too); a trunk port with empty trunks carries every VLAN ('all'). */
export function carriedVlans(p: { trunks: number[]; vlanMode?: string; tag?: number }): number[] | 'all' {
  const access = p.vlanMode === 'access' || (p.vlanMode === undefined && p.tag !== undefined);
  if (access) return p.tag === undefined ? [] : [p.tag];
  if (p.trunks.length === 0) return 'all';
  const native = p.vlanMode?.startsWith('native') && p.tag !== undefined ? [p.tag] : [];
  return [...new Set([...p.trunks, ...native])].sort((a, b) => a - b);
}

/** What an uplink lacks of `want`, and carries beyond `allowed` (undefined: any VLAN may be a
 * network's, as with a range-less pod-name network on the bridge). */
export function trunkGaps(
  carried: number[] | 'all',
  want: number[],
  allowed: Set<number> | undefined,
): { missing: number[]; extra: number[] } {
  if (carried === 'all') return { missing: [], extra: [] }; // said apart: it carries every VLAN
  const have = new Set(carried);
  return { missing: want.filter((v) => !have.has(v)), extra: allowed ? carried.filter((v) => !allowed.has(v)) : [] };
}

/** A network's bridge and uplink problems restate the node's, per network: a list says them once. */
export const NODE_CODES: ReadonlySet<string> = new Set(['no-bridge', 'uplink-missing', 'uplink-vlans']);

export const noBridge = (bridge: string): Problem => ({
  code: 'no-bridge',
  message: `OVS bridge ${bridge} does not exist (run podvlan init)`,
});

/** An uplink's problems: not a port of its bridge, VLANs it lacks or has too many of, not attached. */
export function uplinkProblems(u: UplinkView): Problem[] {
  const at = `uplink ${u.name} of bridge ${u.bridge}`;
  if (!u.exists) return [{ code: 'uplink-missing', message: `${at} is not a port of it (run podvlan init)` }];
  const out: Problem[] = [];
  const parts = [
    ...(u.missing.length ? [`does not carry VLAN ${vlanText(u.missing)}`] : []),
    ...(u.extra.length ? [`carries VLAN ${vlanText(u.extra)} that no network on it declares`] : []),
  ];
  if (parts.length) out.push({ code: 'uplink-vlans', message: `${at} ${parts.join(' and ')} (run podvlan init)` });
  if (u.error) out.push({ code: 'error', message: `${at}: ${u.error}` });
  else if (u.ofport === undefined || u.ofport <= 0)
    out.push({
      code: 'ofport',
      message: `ovs-vswitchd gave ${at} ${u.ofport === undefined ? 'no ofport' : `ofport ${u.ofport}`}`,
    });
  return out;
}
