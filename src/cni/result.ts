// The ADD result in the form of the config's cniVersion (SPEC.md "Success"; 0.3.x and 0.4.0 carry
// "version" in each IP, 1.0.0 dropped it). Pure, for unit tests of each version's shape.
import type { Lease } from '../ipam';
import type { Attachment } from '../ovs/attachment';
import { compareVersions } from './spec';

export interface ResultInput {
  cniVersion: string;
  attachment: Attachment;
  hostMac?: string;
  sandboxPath: string;
  lease?: Lease;
}

export function buildResult(r: ResultInput): Record<string, unknown> {
  const withVersion = compareVersions(r.cniVersion, '1.0.0') < 0;
  const interfaces = [
    { name: r.attachment.port, ...(r.hostMac ? { mac: r.hostMac } : {}) },
    { name: r.attachment.interface, mac: r.attachment.mac, sandbox: r.sandboxPath },
  ];
  const ips = r.lease
    ? [
        {
          ...(withVersion ? { version: '4' } : {}),
          address: r.lease.address,
          ...(r.lease.gateway ? { gateway: r.lease.gateway } : {}),
          interface: 1, // the pod's interface, the second entry above
        },
      ]
    : [];
  const routes = (r.lease?.routes ?? []).map((route) => ({ dst: route.dst, ...(route.via ? { gw: route.via } : {}) }));
  return { cniVersion: r.cniVersion, interfaces, ips, routes, dns: {} };
}
