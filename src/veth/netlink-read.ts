// rtnetlink requests that only read (links, addresses, the kernel's route and neighbour lookups)
// and the parsers of their answers, as bytes. Pure, like netlink.ts: the socket side is
// netlink-ffi.ts. What diagnose reads on both ends of a veth. Constants from the kernel's uapi
// headers (rtnetlink.h, if_link.h, if_addr.h, neighbour.h, if.h). Both families: a request's
// family is its address's; an address dump's is asked for, IPv4 unless said otherwise.
import { type Family, formatIp, parseIp } from '../ipam/ip';
import { attr, ipBytes, ipOfBytes, message, NLM_F_REQUEST, u32Attr } from './netlink';

const LE = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;
const AF_UNSPEC = 0;
const AF_INET_FAMILY = 2;
const AF_INET6_FAMILY = 10;
const AF: Record<Family, number> = { 4: AF_INET_FAMILY, 6: AF_INET6_FAMILY };

const NLMSG_HDRLEN = 16;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
const NLM_F_MULTI = 0x2;
const NLM_F_DUMP = 0x300;
const RTM_NEWLINK = 16;
const RTM_GETLINK = 18;
const RTM_NEWADDR = 20;
const RTM_GETADDR = 22;
const RTM_NEWROUTE = 24;
const RTM_GETROUTE = 26;
const RTM_NEWNEIGH = 28;
const RTM_GETNEIGH = 30;

/** One netlink message: its header fields and the bytes after the header. */
export interface NlMessage {
  type: number;
  flags: number;
  seq: number;
  body: Uint8Array;
}

/** The messages of one datagram. */
export function splitMessages(buf: Uint8Array, length = buf.length): NlMessage[] {
  const view = new DataView(buf.buffer, buf.byteOffset, length);
  const out: NlMessage[] = [];
  for (let off = 0; off + NLMSG_HDRLEN <= length; ) {
    const len = view.getUint32(off, LE);
    if (len < NLMSG_HDRLEN || off + len > length) break;
    out.push({
      type: view.getUint16(off + 4, LE),
      flags: view.getUint16(off + 6, LE),
      seq: view.getUint32(off + 8, LE),
      body: buf.slice(off + NLMSG_HDRLEN, off + len),
    });
    off += (len + 3) & ~3;
  }
  return out;
}

/** Whether `m` ends the answer to a request: an error or ack, DONE, or a single (non-multi) reply. */
export function endsAnswer(m: NlMessage): boolean {
  return m.type === NLMSG_ERROR || m.type === NLMSG_DONE || (m.flags & NLM_F_MULTI) === 0;
}

/** The errno of an NLMSG_ERROR (0 for an ack), else undefined. */
export function errnoOf(m: NlMessage): number | undefined {
  if (m.type !== NLMSG_ERROR || m.body.length < 4) return undefined;
  return -new DataView(m.body.buffer, m.body.byteOffset).getInt32(0, LE);
}

/** Attributes after a family header of `skip` bytes, by type (the nested/byte-order bits masked). */
function attrs(body: Uint8Array, skip: number): Map<number, Uint8Array> {
  const out = new Map<number, Uint8Array>();
  const view = new DataView(body.buffer, body.byteOffset, body.length);
  for (let off = skip; off + 4 <= body.length; ) {
    const len = view.getUint16(off, LE);
    if (len < 4 || off + len > body.length) break;
    out.set(view.getUint16(off + 2, LE) & 0x3fff, body.subarray(off + 4, off + len));
    off += (len + 3) & ~3;
  }
  return out;
}

const u32Of = (b: Uint8Array | undefined) =>
  b && b.length >= 4 ? new DataView(b.buffer, b.byteOffset).getUint32(0, LE) : undefined;
const i32Of = (b: Uint8Array | undefined) =>
  b && b.length >= 4 ? new DataView(b.buffer, b.byteOffset).getInt32(0, LE) : undefined;
/** An address attribute of either family as text (IPv6 in RFC 5952 form). */
const ipOf = (b: Uint8Array | undefined) => {
  const ip = ipOfBytes(b);
  return ip ? formatIp(ip) : undefined;
};
const macOf = (b: Uint8Array | undefined) =>
  b && b.length === 6 ? Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':') : undefined;
const stringOf = (b: Uint8Array | undefined) => (b ? new TextDecoder().decode(b).replace(/\0+$/, '') : undefined);

// ---- links ----

const IFF_UP = 0x1;
const IFF_NOARP = 0x80;
const IFF_LOWER_UP = 0x10000;
const OPERSTATES = ['unknown', 'notpresent', 'down', 'lowerlayerdown', 'testing', 'dormant', 'up'];

export interface LinkFacts {
  index: number;
  name: string;
  up: boolean; // IFF_UP: administratively up
  carrier: boolean; // IFF_LOWER_UP: the other end is there and up
  operstate: string;
  noarp: boolean; // IFF_NOARP (`ip link set X arp off`)
  mtu?: number;
  mac?: string;
  peerIndex?: number; // IFLA_LINK: a veth's peer index, in the peer's namespace
  peerNetnsId?: number; // IFLA_LINK_NETNSID: the peer's namespace, as this namespace numbers it
  master?: number;
  kind?: string; // IFLA_INFO_KIND: "veth" for podvlan's
}

/** `ip link show` of one link by index (a route's output interface). */
export function linkGetByIndex(seq: number, index: number): Uint8Array {
  const header = new Uint8Array(16);
  new DataView(header.buffer).setInt32(4, index, LE);
  return message(RTM_GETLINK, NLM_F_REQUEST, seq, header);
}

/** `ip link show`: every link of the namespace. */
export function linkDump(seq: number): Uint8Array {
  return message(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, seq, new Uint8Array(16));
}

/** An RTM_NEWLINK answer. */
export function parseLink(m: NlMessage): LinkFacts | undefined {
  if (m.type !== RTM_NEWLINK || m.body.length < 16) return undefined;
  const view = new DataView(m.body.buffer, m.body.byteOffset, m.body.length);
  const flags = view.getUint32(8, LE);
  const a = attrs(m.body, 16);
  const oper = a.get(16)?.[0];
  const info = a.get(18); // IFLA_LINKINFO, nested: IFLA_INFO_KIND is its attribute 1
  const kind = info ? stringOf(attrs(info, 0).get(1)) : undefined;
  return {
    index: view.getInt32(4, LE),
    name: stringOf(a.get(3)) ?? '',
    up: (flags & IFF_UP) !== 0,
    carrier: (flags & IFF_LOWER_UP) !== 0,
    operstate: oper === undefined ? 'unknown' : (OPERSTATES[oper] ?? String(oper)),
    noarp: (flags & IFF_NOARP) !== 0,
    mtu: u32Of(a.get(4)),
    mac: macOf(a.get(1)),
    peerIndex: u32Of(a.get(5)),
    peerNetnsId: i32Of(a.get(37)),
    master: u32Of(a.get(10)),
    ...(kind ? { kind } : {}),
  };
}

// ---- addresses ----

/** Which addresses a dump asks for: one family's, or every family's. */
export type AddrFamily = Family | 'both';

/** `ip [-4|-6] addr show`: every address of the namespace of that family, IPv4 by default
 * (filtered by index after). */
export function addrDump(seq: number, family: AddrFamily = 4): Uint8Array {
  const header = new Uint8Array(8);
  header[0] = family === 'both' ? AF_UNSPEC : AF[family];
  return message(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, seq, header);
}

const IFA_FLAGS = 8; // the whole u32 of flags; ifa_flags in the header holds only the low 8 bits
const IFA_F_DADFAILED = 0x08;
const IFA_F_TENTATIVE = 0x40;

export interface AddrFacts {
  index: number;
  address: string; // addr/len, IPv6 in RFC 5952 form
  tentative?: true; // IPv6: duplicate address detection still running; unusable as a source
  dadFailed?: true; // IPv6: duplicate address detection found another node with it
}

/** An RTM_NEWADDR answer, of either family: the interface index and addr/len (and an IPv6
 * address's DAD state, when it is not plainly usable). */
export function parseAddr(m: NlMessage): AddrFacts | undefined {
  const family = m.body[0];
  if (m.type !== RTM_NEWADDR || m.body.length < 8 || (family !== AF_INET_FAMILY && family !== AF_INET6_FAMILY))
    return undefined;
  const a = attrs(m.body, 8);
  const ip = ipOf(a.get(2) ?? a.get(1)); // IFA_LOCAL, else IFA_ADDRESS (IPv6 sends only this one)
  if (!ip) return undefined;
  const flags = u32Of(a.get(IFA_FLAGS)) ?? m.body[2];
  return {
    index: new DataView(m.body.buffer, m.body.byteOffset).getUint32(4, LE),
    address: `${ip}/${m.body[1]}`,
    ...(flags & IFA_F_TENTATIVE ? { tentative: true as const } : {}),
    ...(flags & IFA_F_DADFAILED ? { dadFailed: true as const } : {}),
  };
}

// ---- the kernel's route lookup ----

const RTN_TYPES = [
  'unspec',
  'unicast',
  'local',
  'broadcast',
  'anycast',
  'multicast',
  'blackhole',
  'unreachable',
  'prohibit',
  'throw',
  'nat',
  'xresolve',
];

export interface RouteLookup {
  type: string; // unicast, local, unreachable, blackhole, ...
  oif?: number;
  gateway?: string;
  prefsrc?: string;
}

/**
 * `ip route get DST [from SRC iif IF]`, of DST's family (SRC must be of it too). With an input
 * interface the kernel runs its receive path (ip_route_input, ip6_route_input), IPv4's
 * reverse-path filter included: EXDEV then means rp_filter drops the packet (IPv6 has none).
 */
export function routeGet(seq: number, dst: string, input?: { src: string; iif: number }): Uint8Array {
  const to = parseIp(dst);
  const from = input ? parseIp(input.src) : undefined;
  if (from && from.family !== to.family) throw new Error(`route get ${dst} from ${input!.src}: mixed families`);
  const bits = to.family === 4 ? 32 : 128;
  const header = new Uint8Array(12);
  header.set([AF[to.family], bits, input ? bits : 0]);
  const extra = from ? [attr(2, ipBytes(from)), u32Attr(3, input!.iif)] : [];
  return message(RTM_GETROUTE, NLM_F_REQUEST, seq, header, [attr(1, ipBytes(to)), ...extra]);
}

export function parseRoute(m: NlMessage): RouteLookup | undefined {
  if (m.type !== RTM_NEWROUTE || m.body.length < 12) return undefined;
  const a = attrs(m.body, 12);
  const gateway = ipOf(a.get(5));
  const prefsrc = ipOf(a.get(7));
  return {
    type: RTN_TYPES[m.body[7]] ?? String(m.body[7]),
    oif: u32Of(a.get(4)),
    ...(gateway ? { gateway } : {}),
    ...(prefsrc ? { prefsrc } : {}),
  };
}

// ---- neighbours ----

const NUD_STATES: [number, string][] = [
  [0x01, 'INCOMPLETE'],
  [0x02, 'REACHABLE'],
  [0x04, 'STALE'],
  [0x08, 'DELAY'],
  [0x10, 'PROBE'],
  [0x20, 'FAILED'],
  [0x40, 'NOARP'],
  [0x80, 'PERMANENT'],
];

/** `ip neigh get DST dev IF` (Linux 4.20+), ARP or NDP by DST's family: ENOENT when there is no entry. */
export function neighGet(seq: number, index: number, dst: string): Uint8Array {
  const ip = parseIp(dst);
  const header = new Uint8Array(12);
  header[0] = AF[ip.family];
  new DataView(header.buffer).setInt32(4, index, LE);
  return message(RTM_GETNEIGH, NLM_F_REQUEST, seq, header, [attr(1, ipBytes(ip))]);
}

export function parseNeigh(m: NlMessage): { state: string; mac?: string } | undefined {
  if (m.type !== RTM_NEWNEIGH || m.body.length < 12) return undefined;
  const bits = new DataView(m.body.buffer, m.body.byteOffset).getUint16(8, LE);
  const state = NUD_STATES.find(([bit]) => bits & bit)?.[1] ?? 'NONE';
  const mac = macOf(attrs(m.body, 12).get(2));
  return mac ? { state, mac } : { state };
}
