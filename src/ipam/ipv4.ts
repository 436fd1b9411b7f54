// Small IPv4 value types, parsed at the edge: an address is a uint32, a prefix is an address and
// a length. Pure arithmetic, no I/O.

export type Ipv4 = number;

export function parseIpv4(text: string): Ipv4 {
  const parts = text.split('.');
  if (parts.length !== 4) throw new Error(`invalid IPv4 address "${text}"`);
  let value = 0;
  for (const p of parts) {
    if (!/^(0|[1-9]\d{0,2})$/.test(p) || Number(p) > 255) throw new Error(`invalid IPv4 address "${text}"`);
    value = value * 256 + Number(p);
  }
  return value;
}

export function formatIpv4(ip: Ipv4): string {
  return [ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255].join('.');
}

export interface Prefix {
  address: Ipv4;
  length: number;
}

export function parsePrefix(text: string): Prefix {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(text);
  if (!m || Number(m[2]) > 32) throw new Error(`invalid IPv4 prefix "${text}" (expected a.b.c.d/len)`);
  return { address: parseIpv4(m[1]), length: Number(m[2]) };
}

export function formatPrefix(p: Prefix): string {
  return `${formatIpv4(p.address)}/${p.length}`;
}

function maskOf(length: number): number {
  return length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0;
}

export function networkOf(p: Prefix): Ipv4 {
  return (p.address & maskOf(p.length)) >>> 0;
}

export function broadcastOf(p: Prefix): Ipv4 {
  return (networkOf(p) | (~maskOf(p.length) >>> 0)) >>> 0;
}

export function contains(p: Prefix, ip: Ipv4): boolean {
  return (ip & maskOf(p.length)) >>> 0 === networkOf(p);
}

/** First and last usable host addresses (network and broadcast excluded for /30 and wider). */
export function hostRange(p: Prefix): [Ipv4, Ipv4] {
  if (p.length >= 31) return [networkOf(p), broadcastOf(p)];
  return [networkOf(p) + 1, broadcastOf(p) - 1];
}

/** A locally administered unicast MAC derived from the address, as ovs-cni and OVN do (0a:58:...). */
export function macFromIpv4(ip: Ipv4): string {
  const bytes = [0x0a, 0x58, ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}
