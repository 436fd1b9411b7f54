// What ovs-vswitchd itself says about the path, over its unixctl socket: the datapath's verdict
// for the source's packet (ofproto/trace), its outputs named (dpif/show), and where the bridge
// has learned the destination's MAC (fdb/show). Three questions on one connection, in flight
// together.
import { isIpText, parseIp } from '../ipam/ip';
import { isInterfaceName, isIpv4, isMac } from '../names';
import { parseActions } from '../ovs/trace-parse';
import { defaultVswitchdCtl, UnixctlClient } from '../ovs/unixctl';
import type { PathFacts } from './facts';

const BROADCAST = 'ff:ff:ff:ff:ff:ff';
const text = (err: unknown) => (err instanceof Error ? err.message : String(err));

/**
 * The packet to trace, as an OpenFlow match: an ICMP echo from the source port to a known MAC, or
 * the ARP request the pod sends first when it knows none (dstMac broadcast). Every value goes
 * into one text that ovs-vswitchd parses, so each is checked to be what it claims (a comma in a
 * "MAC" would add match fields); undefined when one is not.
 */
export function traceFlow(
  port: string,
  srcMac?: string,
  dstMac?: string,
  srcIp?: string,
  dstIp?: string,
  vlan?: number, // a trunk port's: the pod sends the frame tagged
): string | undefined {
  if (vlan !== undefined && !(Number.isInteger(vlan) && vlan >= 1 && vlan <= 4094)) return undefined;
  if (!isInterfaceName(port) || !srcMac || !isMac(srcMac) || !dstMac || !isMac(dstMac)) return undefined;
  if (srcIp !== undefined && dstIp !== undefined && isIpText(srcIp) && isIpText(dstIp) && dstIp.includes(':')) {
    if (!srcIp.includes(':')) return undefined;
    // IPv6: a neighbour solicitation to DST's solicited-node group when unresolved, else an echo request.
    if (dstMac !== BROADCAST)
      return `in_port=${port},dl_src=${srcMac},dl_dst=${dstMac},icmp6,ipv6_src=${srcIp},ipv6_dst=${dstIp},icmpv6_type=128`;
    const low = parseIp(dstIp).value & 0xffffffn;
    const hex = low.toString(16).padStart(6, '0');
    const group = `ff02::1:ff${hex.slice(0, 2)}:${hex.slice(2)}`;
    const mac = `33:33:ff:${hex.slice(0, 2)}:${hex.slice(2, 4)}:${hex.slice(4)}`;
    return `in_port=${port},dl_src=${srcMac},dl_dst=${mac},icmp6,ipv6_src=${srcIp},ipv6_dst=${group},icmpv6_type=135`;
  }
  const ips = srcIp !== undefined && dstIp !== undefined && isIpv4(srcIp) && isIpv4(dstIp);
  const payload =
    dstMac === BROADCAST
      ? ips
        ? `arp,arp_spa=${srcIp},arp_tpa=${dstIp},arp_op=1`
        : 'arp,arp_op=1'
      : ips
        ? `ip,nw_src=${srcIp},nw_dst=${dstIp},nw_proto=1,icmp_type=8`
        : 'dl_type=0x0800';
  return `in_port=${port},${vlan === undefined ? '' : `dl_vlan=${vlan},`}dl_src=${srcMac},dl_dst=${dstMac},${payload}`;
}

/** The destination's MAC: the pod's own, or for an address elsewhere what the source resolved it to. */
function destinationMac(path: PathFacts): string | undefined {
  const { src, dst } = path;
  if (dst) return dst.podLink?.mac ?? dst.recordedMac;
  const n = src.neighbour;
  const resolved = n?.mac && n.state !== 'FAILED' && n.state !== 'INCOMPLETE' && src.nextHop === path.dstAddress;
  return resolved ? n.mac : BROADCAST;
}

export async function readVswitchd(path: PathFacts, ctl: string | undefined, timeoutMs: number): Promise<void> {
  const b = path.bridge;
  const { src, dst } = path;
  const dstMac = destinationMac(path);
  const vlan = src.trunk?.vlan;
  const mac = src.podLink?.mac ?? src.recordedMac;
  const flow = traceFlow(src.port, mac, dstMac, path.srcAddress, path.dstAddress, vlan);
  if (!flow || !dstMac) {
    b.unread.trace = 'the MAC addresses of the two pods are not known';
    return;
  }
  b.flow = flow;
  let client: UnixctlClient;
  try {
    client = await UnixctlClient.connect(ctl ?? defaultVswitchdCtl(), timeoutMs);
  } catch (err) {
    b.unread.vswitchd = text(err);
    return;
  }
  try {
    const [ports, trace, fdb] = await Promise.allSettled([
      client.dpifPorts(),
      client.trace(b.name, flow),
      client.fdb(b.name),
    ]);
    const byOdp = ports.status === 'fulfilled' ? ports.value.get(b.name) : undefined;
    if (ports.status === 'rejected') b.unread['datapath ports'] = text(ports.reason);
    if (trace.status === 'rejected') b.unread.trace = text(trace.reason);
    else
      b.trace = {
        ...trace.value,
        ...(vlan === undefined ? {} : parseActions(trace.value.actions, vlan)), // it came in tagged
        outputNames: trace.value.outputs.map((o) => byOdp?.get(o.port)?.name),
      };
    const odpOf = (name: string) => [...(byOdp ?? [])].find(([, p]) => p.name === name)?.[0];
    if (dst) b.dstOdpPort = odpOf(dst.port);
    for (const u of path.uplinks ?? []) {
      const odp = odpOf(u.name);
      if (odp !== undefined) u.odpPort = odp;
    }
    if (path.uplinks)
      b.uplinkOdpPorts = path.uplinks.flatMap((u) =>
        u.odpPort === undefined ? [] : [{ name: u.name, odp: u.odpPort }],
      );
    if (fdb.status === 'fulfilled' && dstMac !== BROADCAST) {
      const e = fdb.value.find((f) => f.mac === dstMac.toLowerCase());
      b.dstMacLearned = e ? { port: e.port, vlan: e.vlan } : null;
    }
  } finally {
    client.close();
  }
}
