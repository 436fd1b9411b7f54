// Reading one same-node path's facts, overlapping what can overlap: the OVSDB transaction and
// ovs-vswitchd's answers travel while the two namespaces are read over netlink in process (each
// read is well under a millisecond, done synchronously between them). Whatever fails is noted
// in the facts' `unread`, never thrown: a diagnosis is most wanted when things are broken.
import type { OvsdbClient } from '../ovs/client';
import { defaultVswitchdCtl, UnixctlClient } from '../ovs/unixctl';
import { leaseDirFor } from '../ipam';
import { isInterfaceName, isIpv4, isMac } from '../names';
import { scanNetnsHolders } from '../runtime/netns-alive';
import type { Sandbox } from '../runtime/sandbox';
import type { BridgeFacts, EndFacts, PathFacts } from './facts';
import { loadNetlink, netnsPaths, openNetns, readHostLink, readPodSide } from './pod-netns';
import { readPathOvs } from './read-ovs';

const text = (err: unknown) => (err instanceof Error ? err.message : String(err));
const bare = (cidr?: string) => cidr?.split('/')[0];

export interface GatherOptions {
  ovs: OvsdbClient;
  vswitchdCtl?: string; // the config's; else found as ovs-appctl finds it
  stateDir: string;
  hostLocal: boolean; // the network's addresses are leases in the state directory
  timeoutMs: number;
}

/** Fill `path` (its ends seeded with what the records say) with what the node shows. */
export async function gatherPath(path: PathFacts, opts: GatherOptions): Promise<PathFacts> {
  const { src, dst } = path;
  const ovsRead = readPathOvs(opts.ovs, [src.port, dst.port]).then(
    (r) => r,
    (err) => text(err),
  );
  const nl = await loadNetlink();
  readEnds(nl, [src, dst], opts.timeoutMs);
  path.srcAddress = src.route?.prefsrc ?? bare(src.recordedIp);
  path.dstAddress = bare(dst.recordedIp);
  const vswitchd = readVswitchd(path, opts);
  for (const end of [src, dst]) readLease(end, opts);
  const ovs = await ovsRead;
  if (typeof ovs === 'string') {
    for (const end of [src, dst]) end.unread.port = ovs;
    path.bridge.unread.bridge = ovs;
  } else {
    for (const end of [src, dst]) end.ovs = ovs.ports.get(end.port);
    const b = ovs.bridges.get(path.bridge.name);
    path.bridge.exists = b !== undefined;
    if (b) path.bridge.datapathType = b.datapathType;
  }
  await vswitchd;
  return path;
}

/** Both ends' namespaces (found by their recorded inodes) and host veths. */
function readEnds(nl: Awaited<ReturnType<typeof loadNetlink>>, ends: EndFacts[], timeoutMs: number): void {
  const inodes = ends.flatMap((e) => (e.recordedNetns ? [e.recordedNetns] : []));
  const paths = inodes.length > 0 ? netnsPaths(inodes) : new Map<string, string>();
  for (const end of ends) {
    if (typeof nl === 'string') {
      end.unread['host veth'] = nl;
      end.unread['pod interface'] = nl;
      continue;
    }
    try {
      end.hostLink = isInterfaceName(end.port) ? readHostLink(nl, end.port, timeoutMs) : null;
    } catch (err) {
      end.unread['host veth'] = text(err);
    }
    const inode = end.recordedNetns;
    if (!inode) continue;
    const sandbox = openRecorded(end, inode, paths.get(inode));
    if (!sandbox) continue;
    try {
      const peer = ends.find((e) => e !== end);
      const own = bare(end.recordedIp);
      // The source sends from what its route picks; the destination is judged against that address.
      const peerAddress =
        end.side === 'dst' ? (peer?.route?.prefsrc ?? bare(peer?.recordedIp)) : bare(peer?.recordedIp);
      Object.assign(end, readPodSide(nl, sandbox, end.interface, { own, peer: peerAddress }, end.unread, timeoutMs));
    } catch (err) {
      end.unread['pod interface'] = text(err);
    } finally {
      sandbox.close();
    }
  }
}

/** The recorded namespace, opened and checked; undefined (with the reason noted) when it cannot be. */
function openRecorded(end: EndFacts, inode: string, quick: string | undefined): Sandbox | undefined {
  const tried = quick ? [quick] : [];
  let scan: ReturnType<typeof scanNetnsHolders> | undefined;
  if (!quick) {
    // Not in a mount or a process's own link: the full scan (threads, open descriptors, every mount table).
    scan = scanNetnsHolders([inode]);
    tried.push(...scan.pathsTo(inode));
  }
  for (const path of tried) {
    try {
      const sandbox = openNetns(inode, path);
      end.netns = { inode, path };
      return sandbox;
    } catch {
      /* exited meanwhile, or another namespace now: try the next */
    }
  }
  const verdict = (scan ?? scanNetnsHolders([inode])).verdict(inode);
  if (verdict.alive) end.unread.netns = verdict.why;
  else end.netns = { inode, gone: true };
  return undefined;
}

/** Whether the lease file of a host-local address names this pod. */
function readLease(end: EndFacts, opts: GatherOptions): void {
  const ip = bare(end.recordedIp);
  if (!opts.hostLocal || !ip) return;
  try {
    const lease = leaseDirFor(opts.stateDir, end.network).read(ip);
    end.lease = lease
      ? {
          holder: `${lease.namespace}/${lease.pod} (container ${lease.containerId.slice(0, 12)})`,
          mine:
            lease.namespace === end.namespace &&
            lease.pod === end.pod &&
            (!end.currentContainer || lease.containerId === end.currentContainer),
        }
      : null;
  } catch (err) {
    end.unread.lease = text(err);
  }
}

/**
 * The packet to trace: an ICMP echo from the source port, as an OpenFlow match. Every value goes
 * into one text that ovs-vswitchd parses, so each is checked to be what it claims (a comma in a
 * "MAC" would add match fields); undefined when one is not.
 */
export function traceFlow(
  port: string,
  srcMac?: string,
  dstMac?: string,
  srcIp?: string,
  dstIp?: string,
): string | undefined {
  if (!isInterfaceName(port) || !srcMac || !isMac(srcMac) || !dstMac || !isMac(dstMac)) return undefined;
  const ip =
    srcIp && dstIp && isIpv4(srcIp) && isIpv4(dstIp)
      ? `ip,nw_src=${srcIp},nw_dst=${dstIp},nw_proto=1,icmp_type=8`
      : 'dl_type=0x0800';
  return `in_port=${port},dl_src=${srcMac},dl_dst=${dstMac},${ip}`;
}

/** The datapath's verdict for an ICMP echo from the source port, and what the bridge learned. */
async function readVswitchd(path: PathFacts, opts: GatherOptions): Promise<void> {
  const b: BridgeFacts = path.bridge;
  const { src, dst } = path;
  const dstMac = dst.podLink?.mac ?? dst.recordedMac;
  const flow = traceFlow(src.port, src.podLink?.mac ?? src.recordedMac, dstMac, path.srcAddress, path.dstAddress);
  if (!flow || !dstMac) {
    b.unread.trace = 'the MAC addresses of the two pods are not known';
    return;
  }
  b.flow = flow;
  let client: UnixctlClient;
  try {
    client = await UnixctlClient.connect(opts.vswitchdCtl ?? defaultVswitchdCtl(), opts.timeoutMs);
  } catch (err) {
    b.unread.vswitchd = text(err);
    return;
  }
  try {
    const [ports, trace, fdb] = await Promise.allSettled([
      client.dpifPorts(),
      client.trace(b.name, b.flow),
      client.fdb(b.name),
    ]);
    const byOdp = ports.status === 'fulfilled' ? ports.value.get(b.name) : undefined;
    if (ports.status === 'rejected') b.unread['datapath ports'] = text(ports.reason);
    if (trace.status === 'rejected') b.unread.trace = text(trace.reason);
    else b.trace = { ...trace.value, outputNames: trace.value.outputs.map((o) => byOdp?.get(o.port)?.name) };
    for (const [odp, p] of byOdp ?? []) if (p.name === dst.port) b.dstOdpPort = odp;
    if (fdb.status === 'fulfilled') {
      const e = fdb.value.find((f) => f.mac === dstMac.toLowerCase());
      b.dstMacLearned = e ? { port: e.port, vlan: e.vlan } : null;
    }
  } finally {
    client.close();
  }
}
