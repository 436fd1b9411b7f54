// IP addresses and prefixes of either family as small values, parsed at the edge (the net/netip
// way): an address is its family and its value as a bigint, so IPv4 and IPv6 share one set of
// arithmetic. Pure, no I/O. ipv4.ts stays for the IPv4-only paths that want a plain number.
import { formatIpv4, parseIpv4 } from './ipv4';
import { isIpv4Prefix } from '../names';

export type Family = 4 | 6;

export interface Ip {
  family: Family;
  value: bigint; // 0 .. 2^32-1 or 2^128-1
}

export interface IpPrefix {
  address: Ip; // as written (host bits may be set: an interface address)
  length: number;
}

const BITS: Record<Family, number> = { 4: 32, 6: 128 };

export function bitsOf(family: Family): number {
  return BITS[family];
}

export function familyName(family: Family): string {
  return family === 4 ? 'IPv4' : 'IPv6';
}

/** The family of an address or prefix written as text, without validating the rest. */
export function familyOfText(text: string): Family {
  return text.includes(':') ? 6 : 4;
}

export function parseIp(text: string): Ip {
  if (!text.includes(':')) return { family: 4, value: BigInt(parseIpv4(text)) };
  return { family: 6, value: parseIpv6(text) };
}

/** The address, or undefined when the text is not one of either family. */
export function tryParseIp(text: string): Ip | undefined {
  try {
    return parseIp(text);
  } catch {
    return undefined;
  }
}

function parseIpv6(text: string): bigint {
  const bad = () => new Error(`invalid IPv6 address "${text}"`);
  if (text.length > 45 || !/^[0-9A-Fa-f:.]+$/.test(text)) throw bad();
  let head = text;
  // An embedded IPv4 tail (::ffff:1.2.3.4) is the last two groups, written another way.
  const lastColon = text.lastIndexOf(':');
  if (text.slice(lastColon + 1).includes('.')) {
    const v4 = parseIpv4(text.slice(lastColon + 1));
    head = `${text.slice(0, lastColon + 1)}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`;
  }
  const halves = head.split('::');
  if (halves.length > 2) throw bad();
  const groups = (s: string): number[] => {
    if (s === '') return [];
    return s.split(':').map((g) => {
      if (!/^[0-9A-Fa-f]{1,4}$/.test(g)) throw bad();
      return Number.parseInt(g, 16);
    });
  };
  const left = groups(halves[0]);
  const right = halves.length === 2 ? groups(halves[1]) : [];
  const missing = 8 - left.length - right.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) throw bad();
  const all = [...left, ...Array(halves.length === 2 ? missing : 0).fill(0), ...right];
  return all.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n);
}

/** RFC 5952's form: lower case, no leading zeros, the longest run of two or more zero groups as "::". */
export function formatIp(ip: Ip): string {
  if (ip.family === 4) return formatIpv4(Number(ip.value));
  const groups = Array.from({ length: 8 }, (_, i) => Number((ip.value >> BigInt(112 - 16 * i)) & 0xffffn));
  let best = { at: -1, len: 1 };
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > best.len) best = { at: i, len: j - i };
    i = j === i ? i + 1 : j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best.at < 0) return hex.join(':');
  return `${hex.slice(0, best.at).join(':')}::${hex.slice(best.at + best.len).join(':')}`;
}

export function parseIpPrefix(text: string): IpPrefix {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(text);
  const family = familyOfText(text);
  if (!m || Number(m[2]) > BITS[family] || (m[2].length > 1 && m[2].startsWith('0')))
    throw new Error(`invalid ${familyName(family)} prefix "${text}" (expected address/len)`);
  return { address: parseIp(m[1]), length: Number(m[2]) };
}

export function formatIpPrefix(p: IpPrefix): string {
  return `${formatIp(p.address)}/${p.length}`;
}

function hostMask(family: Family, length: number): bigint {
  return (1n << BigInt(BITS[family] - length)) - 1n;
}

/** The first address of the prefix (host bits cleared). */
export function firstOf(p: IpPrefix): Ip {
  const { family, value } = p.address;
  return { family, value: value & ~hostMask(family, p.length) };
}

/** The last address of the prefix (host bits set): IPv4's broadcast. */
export function lastOf(p: IpPrefix): Ip {
  const { family, value } = p.address;
  return { family, value: (value & ~hostMask(family, p.length)) | hostMask(family, p.length) };
}

export function prefixContains(p: IpPrefix, ip: Ip): boolean {
  return ip.family === p.address.family && firstOf({ address: ip, length: p.length }).value === firstOf(p).value;
}

/**
 * First and last addresses a pool may hand out. IPv4 leaves out the network and broadcast
 * addresses (not on /31 and /32). IPv6 has no broadcast; it leaves out the first address, the
 * Subnet-Router anycast address (RFC 4291 2.6.1), which routers answer.
 */
export function poolHostRange(p: IpPrefix): [Ip, Ip] {
  const first = firstOf(p);
  const last = lastOf(p);
  if (p.address.family === 4 && p.length >= 31) return [first, last];
  if (p.address.family === 6 && p.length >= 127) return [first, last];
  const end = p.address.family === 4 ? last.value - 1n : last.value;
  return [
    { family: first.family, value: first.value + 1n },
    { family: last.family, value: end },
  ];
}

/** The address `n` after `ip` (n may be negative); the caller keeps it in range. */
export function addToIp(ip: Ip, n: bigint): Ip {
  return { family: ip.family, value: ip.value + n };
}

export function sameIp(a: Ip, b: Ip): boolean {
  return a.family === b.family && a.value === b.value;
}

/** The address text in its canonical form (IPv6 written many ways is one lease, one key). */
export function canonicalIp(text: string): string {
  return formatIp(parseIp(text));
}

/** An address/len of either family in the form podvlan writes it (IPv6: RFC 5952), for values
 * read back from OVSDB, etcd or files. */
export function isIpPrefixText(text: string): boolean {
  if (text.length > 49) return false;
  if (!text.includes(':')) return isIpv4Prefix(text);
  try {
    return formatIpPrefix(parseIpPrefix(text)) === text;
  } catch {
    return false;
  }
}

/** An address of either family in the form podvlan writes it. */
export function isIpText(text: string): boolean {
  return text.length <= 45 && isIpPrefixText(`${text}/${text.includes(':') ? 128 : 32}`);
}

/** Order of addresses: IPv4 before IPv6, then by value. */
export function compareIp(a: Ip, b: Ip): number {
  if (a.family !== b.family) return a.family - b.family;
  return a.value < b.value ? -1 : a.value > b.value ? 1 : 0;
}
