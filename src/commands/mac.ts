// The pod interface's MAC, shared by exec setup and CNI ADD.
import type { Lease } from '../ipam';
import { parseIpPrefix } from '../ipam/ip';
import { macFromIpv4, parsePrefix } from '../ipam/ipv4';
import { hash64Hex } from '../names';

const pairs = (hex: string) => hex.replace(/(..)(?!$)/g, '$1:');

/**
 * MAC derived from the address (unique where addresses are), else from the port name:
 * - an IPv4 address (dual-stack too): `0a:58:` + its four bytes, as before IPv6;
 * - IPv6 only: `0a:5a:` + the low 32 bits of the address. Unique among addresses that differ in
 *   those bits (any pool up to /96; host-local hands out consecutive addresses); a /64 etcd pool
 *   picks at random, where two of N pods agree in 32 bits with a chance of about N^2 / 2^33.
 *   The prefix differs from the IPv4 form's, so the two never meet on a VLAN.
 * - no address: `0a:59:` + a hash of the port name.
 */
export function macFor(leases: Lease[], port: string): string {
  const v4 = leases.find((l) => !l.address.includes(':'));
  if (v4) return macFromIpv4(parsePrefix(v4.address).address);
  const v6 = leases[0];
  if (v6)
    return `0a:5a:${pairs((parseIpPrefix(v6.address).address.value & 0xffffffffn).toString(16).padStart(8, '0'))}`;
  return `0a:59:${pairs(hash64Hex(port).slice(0, 8))}`;
}
