// The far node's own datapath, read where it runs (`podvlan collect --from SRC` on that node):
// what its bridge does with the source's packet as it arrives from the other node, an ICMP echo
// tagged with the pod's VLAN coming in on an uplink, addressed to the pod. The answer is kept in
// the snapshot and judged by the bridge hop on the node that runs `diagnose --peer`.
import { isInterfaceName, isIpv4, isMac } from '../names';
import type { UnixctlClient } from '../ovs/unixctl';
import type { Trace } from '../ovs/trace-parse';

/** The trace of the frame from `uplink` to the pod's port, as the snapshot keeps it. */
export interface InboundTrace extends Trace {
  uplink: string; // the port the frame comes in on
  flow: string; // the OpenFlow match traced
  outputNames: (string | undefined)[]; // the outputs' port names (dpif/show)
  podOdpPort?: number; // the pod's port in the datapath, where the frame must go untagged
}

/** The MAC podvlan gives an address (0a:58 + its four bytes): the source's, as the frame's dl_src. */
export function podvlanMac(address: string): string {
  return `0a:58:${address
    .split('.')
    .map((b) => Number(b).toString(16).padStart(2, '0'))
    .join(':')}`;
}

/**
 * The frame as an OpenFlow match, each value checked (it all goes into one text ovs-vswitchd
 * parses: a comma in a "MAC" would add match fields); undefined when one is not what it claims.
 */
export function inboundFlow(
  uplink: string,
  vlan: number,
  from: string,
  to: string,
  dstMac: string,
): string | undefined {
  if (!isInterfaceName(uplink) || !Number.isInteger(vlan) || vlan < 1 || vlan > 4094) return undefined;
  if (!isIpv4(from) || !isIpv4(to) || !isMac(dstMac)) return undefined;
  return `in_port=${uplink},dl_vlan=${vlan},dl_src=${podvlanMac(from)},dl_dst=${dstMac},ip,nw_src=${from},nw_dst=${to},nw_proto=1,icmp_type=8`;
}

/** Trace the frame on `bridge` from its first uplink that the datapath knows; the reason when it cannot. */
export async function traceInbound(
  client: UnixctlClient,
  bridge: string,
  uplinks: string[],
  to: { port: string; vlan?: number; address?: string; mac?: string },
  from: string,
): Promise<InboundTrace | string> {
  if (to.vlan === undefined || !to.address || !to.mac) return 'the pod has no recorded VLAN, address or MAC';
  const ports = (await client.dpifPorts()).get(bridge);
  const odpOf = (name: string) => [...(ports ?? [])].find(([, p]) => p.name === name)?.[0];
  const uplink = uplinks.find((u) => odpOf(u) !== undefined);
  if (!uplink) return `no uplink of bridge ${bridge} is in the datapath`;
  const flow = inboundFlow(uplink, to.vlan, from, to.address, to.mac);
  if (!flow) return 'the uplink, VLAN or addresses are not valid in a flow';
  const trace = await client.trace(bridge, flow);
  const podOdpPort = odpOf(to.port);
  return {
    ...trace,
    uplink,
    flow,
    outputNames: trace.outputs.map((o) => ports?.get(o.port)?.name),
    ...(podOdpPort !== undefined ? { podOdpPort } : {}),
  };
}
