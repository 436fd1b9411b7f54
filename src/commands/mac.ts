// The pod interface's MAC, shared by exec setup and CNI ADD.
import type { Lease } from '../ipam';
import { macFromIpv4, parsePrefix } from '../ipam/ipv4';
import { hash64Hex } from '../names';

/** MAC derived from the address (unique where addresses are), else from the port name. */
export function macFor(lease: Lease | undefined, port: string): string {
  if (lease) return macFromIpv4(parsePrefix(lease.address).address);
  return `0a:59:${hash64Hex(port)
    .slice(0, 8)
    .replace(/(..)(?!$)/g, '$1:')}`;
}
