// rtnetlink messages for the veth work of src/veth/pair.ts, as bytes. Pure: no I/O, no bun
// import, so Node (vitest) can load it. The socket side is in netlink-ffi.ts, which only bun
// loads. Values are those of the kernel's uapi headers (linux/netlink.h, rtnetlink.h,
// if_link.h, if_addr.h, veth.h). Multi-byte header and attribute fields are in host byte order,
// addresses in network order.
import { type Family, familyOfText, type Ip, parseIp, parseIpPrefix } from '../ipam/ip';

const LE = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1; // host byte order

// linux/netlink.h
export const NLMSG_ERROR = 2;
export const NLM_F_REQUEST = 0x01;
export const NLM_F_ACK = 0x04;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;
const NLM_F_CAPPED = 0x100; // in an NLMSG_ERROR: the echoed request is cut to its header
const NLM_F_ACK_TLVS = 0x200; // in an NLMSG_ERROR: extended-ack attributes follow
const NLMSGERR_ATTR_MSG = 1;

// linux/rtnetlink.h
export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
export const RTM_GETLINK = 18;
export const RTM_NEWADDR = 20;
export const RTM_NEWROUTE = 24;
const RT_TABLE_MAIN = 254;
const RTPROT_BOOT = 3;
const RT_SCOPE_UNIVERSE = 0;
const RT_SCOPE_LINK = 253;
const RTN_UNICAST = 1;
const RTA_DST = 1;
const RTA_OIF = 4;
const RTA_GATEWAY = 5;

// linux/if_link.h, linux/veth.h, linux/if_addr.h, linux/if.h, linux/socket.h
const IFLA_ADDRESS = 1;
const IFLA_IFNAME = 3;
const IFLA_MTU = 4;
const IFLA_LINKINFO = 18;
const IFLA_NET_NS_FD = 28;
const IFLA_AF_SPEC = 26;
const IFLA_INET_CONF = 1; // inside IFLA_AF_SPEC > AF_INET: the interface's IPv4 sysctls, by index
const IPV4_DEVCONF_ARP_NOTIFY = 22; // net.ipv4.conf.IF.arp_notify (linux/ip.h)
const IFLA_INFO_KIND = 1;
const IFLA_INFO_DATA = 2;
const VETH_INFO_PEER = 1;
const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;
export const IFA_F_NODAD = 0x02; // linux/if_addr.h: no duplicate address detection, never tentative
const IFF_UP = 0x1;
const AF_UNSPEC = 0;
const AF_INET = 2;
const AF_INET6 = 10;
export const AF_NETLINK = 16;
const AF: Record<Family, number> = { 4: AF_INET, 6: AF_INET6 };

const NLMSG_HDRLEN = 16; // struct nlmsghdr
const IFINFOMSG_LEN = 16; // struct ifinfomsg
const IFADDRMSG_LEN = 8; // struct ifaddrmsg
const RTMSG_LEN = 12; // struct rtmsg

/** Netlink pads every message and attribute to 4 bytes. */
export const align4 = (n: number): number => (n + 3) & ~3;

/** One attribute: 2-byte length (header + payload, unpadded), 2-byte type, payload, padding. */
export function attr(type: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(align4(4 + payload.length));
  const view = new DataView(out.buffer);
  view.setUint16(0, 4 + payload.length, LE);
  view.setUint16(2, type, LE);
  out.set(payload, 4);
  return out;
}

/** A nested attribute: its payload is a run of attributes (each already padded). */
export const nest = (type: number, children: Uint8Array[]): Uint8Array => attr(type, concat(children));
export const u32Attr = (type: number, value: number): Uint8Array => attr(type, u32(value));
/** A NUL-terminated string, as the kernel's NLA_STRING / NLA_NUL_STRING policies accept. */
export const stringAttr = (type: number, value: string): Uint8Array =>
  attr(type, new TextEncoder().encode(`${value}\0`));

/** A whole message: nlmsghdr, the family header, then the attributes. */
export function message(
  type: number,
  flags: number,
  seq: number,
  header: Uint8Array,
  attrs: Uint8Array[] = [],
): Uint8Array {
  const body = concat([header, ...attrs]);
  const out = new Uint8Array(NLMSG_HDRLEN + body.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, out.length, LE);
  view.setUint16(4, type, LE);
  view.setUint16(6, flags, LE);
  view.setUint32(8, seq, LE);
  view.setUint32(12, 0, LE); // nlmsg_pid: 0, the kernel fills in our port id
  out.set(body, NLMSG_HDRLEN);
  return out;
}

function ifinfomsg(index = 0, flags = 0, change = 0): Uint8Array {
  const out = new Uint8Array(IFINFOMSG_LEN);
  const view = new DataView(out.buffer);
  out[0] = AF_UNSPEC;
  view.setInt32(4, index, LE);
  view.setUint32(8, flags, LE);
  view.setUint32(12, change, LE);
  return out; // ifi_type stays 0
}

function ifaddrmsg(family: Family, prefixLength: number, flags: number, index: number): Uint8Array {
  const out = new Uint8Array(IFADDRMSG_LEN);
  out[0] = AF[family];
  out[1] = prefixLength;
  out[2] = flags; // ifa_scope (out[3]) 0, global: for IPv6 the kernel derives it from the address
  new DataView(out.buffer).setUint32(4, index, LE);
  return out;
}

function rtmsg(family: Family, dstLength: number, scope: number): Uint8Array {
  const out = new Uint8Array(RTMSG_LEN); // rtm_flags (the last 4 bytes) stay 0
  out.set([AF[family], dstLength, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT, scope, RTN_UNICAST]);
  return out;
}

export interface VethSpec {
  hostName: string;
  podName: string;
  mac: string;
  mtu: number;
  netnsFd: number; // the pod end is born in the namespace this fd of the sending process holds
}

/** The `ip` words of a veth add with the pod end born in `netns`: what the iproute2 fallback runs,
 * and what the netlink path names in its errors. */
export function vethAddWords(s: Omit<VethSpec, 'netnsFd'>, netns: string): string[] {
  const mtu = String(s.mtu);
  const peer = ['peer', 'name', s.podName, 'mtu', mtu, 'address', s.mac, 'netns', netns];
  return ['link', 'add', s.hostName, 'mtu', mtu, 'type', 'veth', ...peer];
}

/** `ip link add HOST mtu M type veth peer name POD mtu M address MAC netns /proc/self/fd/N`: the
 * namespace by file descriptor (IFLA_NET_NS_FD), never by PID, which may name another by now. */
export function vethAdd(seq: number, s: VethSpec): Uint8Array {
  const peer = concat([
    ifinfomsg(),
    stringAttr(IFLA_IFNAME, ifName(s.podName)),
    u32Attr(IFLA_MTU, mtu(s.mtu)),
    attr(IFLA_ADDRESS, parseMac(s.mac)),
    u32Attr(IFLA_NET_NS_FD, s.netnsFd),
  ]);
  return message(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, seq, ifinfomsg(), [
    stringAttr(IFLA_IFNAME, ifName(s.hostName)),
    u32Attr(IFLA_MTU, mtu(s.mtu)),
    nest(IFLA_LINKINFO, [stringAttr(IFLA_INFO_KIND, 'veth'), nest(IFLA_INFO_DATA, [attr(VETH_INFO_PEER, peer)])]),
  ]);
}

/** `ip link set NAME up`, the link found by name (ifi_index 0 + IFLA_IFNAME). */
export function linkUpByName(seq: number, name: string): Uint8Array {
  return message(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, seq, ifinfomsg(0, IFF_UP, IFF_UP), [
    stringAttr(IFLA_IFNAME, ifName(name)),
  ]);
}

/** `ip link set dev up`, the link found by index. */
export function linkUpByIndex(seq: number, index: number): Uint8Array {
  return message(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, seq, ifinfomsg(index, IFF_UP, IFF_UP));
}

/** `sysctl -w net.ipv4.conf.IF.arp_notify=1` as rtnetlink (IFLA_AF_SPEC > AF_INET >
 * IFLA_INET_CONF): from then on the kernel sends a gratuitous ARP for each of the interface's
 * addresses when the link comes up or its MAC is set. */
export function arpNotifyOn(seq: number, index: number): Uint8Array {
  const conf = nest(IFLA_INET_CONF, [u32Attr(IPV4_DEVCONF_ARP_NOTIFY, 1)]);
  return message(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, seq, ifinfomsg(index), [
    nest(IFLA_AF_SPEC, [nest(AF_INET, [conf])]),
  ]);
}

/** `ip link set dev NAME address MAC`. Given the MAC the link already has, the kernel changes
 * nothing but still runs its address-change notifiers, which is what makes it announce. */
export function linkSetAddress(seq: number, name: string, mac: string): Uint8Array {
  return message(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, seq, ifinfomsg(), [
    stringAttr(IFLA_IFNAME, ifName(name)),
    attr(IFLA_ADDRESS, parseMac(mac)),
  ]);
}

/** The link's RTM_NEWLINK description, to learn its index (no ACK flag: the reply or an error). */
export function linkGet(seq: number, name: string): Uint8Array {
  return message(RTM_GETLINK, NLM_F_REQUEST, seq, ifinfomsg(), [stringAttr(IFLA_IFNAME, ifName(name))]);
}

/** `ip link del NAME` */
export function linkDel(seq: number, name: string): Uint8Array {
  return message(RTM_DELLINK, NLM_F_REQUEST | NLM_F_ACK, seq, ifinfomsg(), [stringAttr(IFLA_IFNAME, ifName(name))]);
}

/** Whether an `ip addr add` of this address carries `nodad`: every IPv6 one. Its pool hands each
 * address to one owner, so duplicate address detection has nothing to find, and would leave the
 * address tentative (unusable as a source, its routes dead) for 1-2 s after setup returns. */
export const noDadFor = (cidr: string): boolean => familyOfText(cidr) === 6;

/** The `ip` words of an address add: what the iproute2 fallback runs, and what netlink names. */
export function addrAddWords(cidr: string, dev: string): string[] {
  return ['addr', 'add', cidr, 'dev', dev, ...(noDadFor(cidr) ? ['nodad'] : [])];
}

/** `ip addr add ADDR/len dev IF` (IPv6: `... nodad`): IFA_LOCAL and IFA_ADDRESS both the
 * address, as ip sends. */
export function addrAdd(seq: number, index: number, cidr: string): Uint8Array {
  const p = parseIpPrefix(cidr);
  const flags = noDadFor(cidr) ? IFA_F_NODAD : 0;
  const header = ifaddrmsg(p.address.family, p.length, flags, index);
  return message(RTM_NEWADDR, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, seq, header, [
    attr(IFA_LOCAL, ipBytes(p.address)),
    attr(IFA_ADDRESS, ipBytes(p.address)),
  ]);
}

/** The `ip` words of a route add. */
export function routeAddWords(dst: string, via: string | undefined, dev: string): string[] {
  return ['route', 'add', dst, ...(via ? ['via', via] : []), 'dev', dev];
}

/** `ip route add DST [via GW] dev IF`: main table, proto boot, unicast; scope universe with a
 * gateway, link without one (what ip chooses). DST and GW of one family (the pools see to it). */
export function routeAdd(seq: number, index: number, dst: string, via?: string): Uint8Array {
  const p = parseIpPrefix(dst);
  const gateway = via === undefined ? undefined : parseIp(via);
  if (gateway && gateway.family !== p.address.family) throw new Error(`route ${dst} via ${via}: mixed families`);
  return message(
    RTM_NEWROUTE,
    NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
    seq,
    rtmsg(p.address.family, p.length, via ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK),
    [
      attr(RTA_DST, ipBytes(p.address)),
      ...(gateway ? [attr(RTA_GATEWAY, ipBytes(gateway))] : []),
      u32Attr(RTA_OIF, index),
    ],
  );
}

/** struct sockaddr_nl for bind: family AF_NETLINK, port id 0 (the kernel picks one), no groups. */
export function sockaddrNl(): Uint8Array {
  const out = new Uint8Array(12);
  new DataView(out.buffer).setUint16(0, AF_NETLINK, LE);
  return out;
}

export type Reply =
  | { kind: 'ack' }
  | { kind: 'error'; errno: number; detail?: string } // detail: the kernel's extended-ack text
  | { kind: 'link'; index: number }
  | { kind: 'other'; type: number };

/** The reply to request `seq` among the messages of one datagram, or undefined if none is. */
export function parseReply(buf: Uint8Array, length: number, seq: number): Reply | undefined {
  const view = new DataView(buf.buffer, buf.byteOffset, length);
  for (let off = 0; off + NLMSG_HDRLEN <= length; ) {
    const len = view.getUint32(off, LE);
    if (len < NLMSG_HDRLEN || off + len > length) break;
    const type = view.getUint16(off + 4, LE);
    const flags = view.getUint16(off + 6, LE);
    if (view.getUint32(off + 8, LE) === seq) {
      if (type === NLMSG_ERROR) {
        const error = view.getInt32(off + NLMSG_HDRLEN, LE);
        if (error === 0) return { kind: 'ack' };
        let detail: string | undefined;
        if (flags & NLM_F_ACK_TLVS) {
          // After the error code comes the request: its header only when capped, else whole.
          const echoed = off + NLMSG_HDRLEN + 4;
          const skip = flags & NLM_F_CAPPED ? NLMSG_HDRLEN : align4(view.getUint32(echoed, LE));
          detail = findStringAttr(buf.subarray(echoed + skip, off + len), NLMSGERR_ATTR_MSG);
        }
        return { kind: 'error', errno: -error, ...(detail ? { detail } : {}) };
      }
      if (type === RTM_NEWLINK && len >= NLMSG_HDRLEN + IFINFOMSG_LEN)
        return { kind: 'link', index: view.getInt32(off + NLMSG_HDRLEN + 4, LE) };
      return { kind: 'other', type };
    }
    off += align4(len);
  }
  return undefined;
}

function findStringAttr(area: Uint8Array, type: number): string | undefined {
  const view = new DataView(area.buffer, area.byteOffset, area.length);
  for (let off = 0; off + 4 <= area.length; ) {
    const len = view.getUint16(off, LE);
    if (len < 4 || off + len > area.length) return undefined;
    if ((view.getUint16(off + 2, LE) & 0x3fff) === type) {
      return new TextDecoder().decode(area.subarray(off + 4, off + len)).replace(/\0+$/, '');
    }
    off += align4(len);
  }
  return undefined;
}

// Linux errno numbers (asm-generic/errno*.h) with glibc's strerror text, for the ones a
// link/address/route request or the socket calls can plausibly return.
const ERRNO: Record<number, [string, string]> = {
  1: ['EPERM', 'Operation not permitted'],
  2: ['ENOENT', 'No such file or directory'],
  3: ['ESRCH', 'No such process'],
  4: ['EINTR', 'Interrupted system call'],
  5: ['EIO', 'Input/output error'],
  6: ['ENXIO', 'No such device or address'],
  9: ['EBADF', 'Bad file descriptor'],
  11: ['EAGAIN', 'Resource temporarily unavailable'],
  12: ['ENOMEM', 'Cannot allocate memory'],
  13: ['EACCES', 'Permission denied'],
  14: ['EFAULT', 'Bad address'],
  16: ['EBUSY', 'Device or resource busy'],
  17: ['EEXIST', 'File exists'],
  19: ['ENODEV', 'No such device'],
  20: ['ENOTDIR', 'Not a directory'],
  22: ['EINVAL', 'Invalid argument'],
  23: ['ENFILE', 'Too many open files in system'],
  24: ['EMFILE', 'Too many open files'],
  28: ['ENOSPC', 'No space left on device'],
  34: ['ERANGE', 'Numerical result out of range'],
  36: ['ENAMETOOLONG', 'File name too long'],
  38: ['ENOSYS', 'Function not implemented'],
  61: ['ENODATA', 'No data available'],
  71: ['EPROTO', 'Protocol error'],
  90: ['EMSGSIZE', 'Message too long'],
  92: ['ENOPROTOOPT', 'Protocol not available'],
  93: ['EPROTONOSUPPORT', 'Protocol not supported'],
  95: ['EOPNOTSUPP', 'Operation not supported'],
  97: ['EAFNOSUPPORT', 'Address family not supported by protocol'],
  98: ['EADDRINUSE', 'Address already in use'],
  99: ['EADDRNOTAVAIL', 'Cannot assign requested address'],
  100: ['ENETDOWN', 'Network is down'],
  101: ['ENETUNREACH', 'Network is unreachable'],
  105: ['ENOBUFS', 'No buffer space available'],
  110: ['ETIMEDOUT', 'Connection timed out'],
  113: ['EHOSTUNREACH', 'No route to host'],
  114: ['EALREADY', 'Operation already in progress'],
};
export const ENODEV = 19;
export const EAGAIN = 11;

/** "Network is unreachable (ENETUNREACH)", or "errno 250" for one not in the table. */
export function describeErrno(errno: number): string {
  const known = ERRNO[errno];
  return known ? `${known[1]} (${known[0]})` : `errno ${errno}`;
}

/** The socket side could not be set up here (no bun:ffi, no libc, no netlink socket) before
 * anything was changed: the caller may fall back to iproute2. */
export class NetlinkUnavailable extends Error {}

function ifName(name: string): string {
  // What the config schema allows for interfaces and what podvlan names its ports; the kernel
  // would refuse other names too, but with a less helpful error.
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(name)) throw new Error(`invalid interface name ${JSON.stringify(name)}`);
  return name;
}

function mtu(value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new Error(`invalid MTU ${value}`);
  return value; // the kernel judges the range, as it does for ip
}

export function parseMac(text: string): Uint8Array {
  const parts = text.split(':');
  if (parts.length !== 6 || !parts.every((p) => /^[0-9a-fA-F]{2}$/.test(p)))
    throw new Error(`invalid MAC address "${text}"`);
  return Uint8Array.from(parts, (p) => parseInt(p, 16));
}

/** An address as netlink carries it: 4 or 16 bytes, network order. */
export function ipBytes(ip: Ip): Uint8Array {
  const out = new Uint8Array(ip.family === 4 ? 4 : 16);
  let v = ip.value;
  for (let i = out.length - 1; i >= 0; i--, v >>= 8n) out[i] = Number(v & 0xffn);
  return out;
}

/** The address in 4 or 16 bytes of network order; undefined for any other length. */
export function ipOfBytes(b: Uint8Array | undefined): Ip | undefined {
  if (!b || (b.length !== 4 && b.length !== 16)) return undefined;
  return { family: b.length === 4 ? 4 : 6, value: b.reduce((acc, x) => (acc << 8n) | BigInt(x), 0n) };
}

function u32(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value, LE);
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
