// The ADD result in the form of the config's cniVersion (SPEC.md "Success"; 0.3.x and 0.4.0 carry
// "version" in each IP, 1.0.0 dropped it). When podvlan is not first in a chain, what the earlier
// plugins returned (prevResult) comes first and podvlan's interfaces, IPs and routes are added
// after it, its IPs pointing at its own interfaces' new positions. Pure, for unit tests.
import type { Lease } from '../ipam';
import type { Attachment } from '../ovs/attachment';
import type { ChainResult } from './prev-result';
import { compareVersions } from './spec';

export interface ResultInput {
  cniVersion: string;
  attachment: Attachment;
  hostMac?: string;
  sandboxPath: string;
  leases: Lease[]; // one per family, IPv4 first; none without an address
  prevResult?: ChainResult; // the chain's result so far; absent when podvlan is first
}

/** podvlan's own part appended to the chain's result so far (empty when podvlan is first). */
export function chainResult(r: ResultInput): ChainResult {
  const prev = r.prevResult ?? { interfaces: [], ips: [], routes: [], dns: {} };
  const hostIndex = prev.interfaces.length;
  const interfaces = [
    ...prev.interfaces,
    { name: r.attachment.port, ...(r.hostMac ? { mac: r.hostMac } : {}) },
    { name: r.attachment.interface, mac: r.attachment.mac, sandbox: r.sandboxPath },
  ];
  // Every address, each with its own family's gateway, on the pod's interface (right after the host end).
  const ips = r.leases.map((lease) => ({
    address: lease.address,
    ...(lease.gateway ? { gateway: lease.gateway } : {}),
    interface: hostIndex + 1,
  }));
  const routes = r.leases.flatMap((lease) =>
    lease.routes.map((route) => ({ dst: route.dst, ...(route.via ? { gw: route.via } : {}) })),
  );
  return { interfaces, ips: [...prev.ips, ...ips], routes: [...prev.routes, ...routes], dns: prev.dns };
}

/** A result in the shape of `cniVersion`: below 1.0.0 every IP says its family. */
export function formatResult(result: ChainResult, cniVersion: string): Record<string, unknown> {
  const withVersion = compareVersions(cniVersion, '1.0.0') < 0;
  const ips = result.ips.map((ip) => (withVersion ? { version: ip.address.includes(':') ? '6' : '4', ...ip } : ip));
  return { cniVersion, interfaces: result.interfaces, ips, routes: result.routes, dns: result.dns };
}

export function buildResult(r: ResultInput): Record<string, unknown> {
  return formatResult(chainResult(r), r.cniVersion);
}
