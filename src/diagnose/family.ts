// The family a diagnose path is followed in, and an end's address of it: a pod's attachment holds
// one address per family (IPv4 first); the path judges route, neighbour and trace in one of them.
import { poolOfFamily, poolPrefix } from '../config/pools';
import type { Network } from '../config/schema';
import { type Family, familyOfText, isIpPrefixText, parseIp, parseIpPrefix, prefixContains } from '../ipam/ip';

/** An attachment's address of one family (the path's), from its port or its pod record. */
export const ofFamily = (ips: string[], family: Family) =>
  ips.find((ip) => isIpPrefixText(ip) && familyOfText(ip) === family);

/** A pod record's addresses (`ips`, or an older record's one `ip`), well-formed ones only. */
export function recordedList(rec: { ip?: unknown; ips?: unknown } | undefined): string[] {
  const all = Array.isArray(rec?.ips) ? rec.ips : [rec?.ip];
  return all.filter((ip): ip is string => typeof ip === 'string' && isIpPrefixText(ip));
}

/** The family of a path to a DST pod, from the source's addresses there: IPv4, or IPv6 when it has
 * only IPv6 (an IPv6-only network). An IPv6 DST address makes an IPv6 path of its own. */
export function pathFamily(sourceIps: string[]): Family {
  return sourceIps.length > 0 && sourceIps.every((ip) => familyOfText(ip) === 6) ? 6 : 4;
}

/** Whether the network's pool of the address's family has it in its subnet (a static pool: its prefix). */
export function poolHolds(network: Network, address: string): boolean {
  const ip = parseIp(address);
  const ipam = poolOfFamily(network, ip.family);
  return ipam !== undefined && prefixContains(parseIpPrefix(poolPrefix(ipam)), ip);
}
