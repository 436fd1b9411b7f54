// Reading one same-node path's facts, overlapping what can overlap: the OVSDB transaction and
// ovs-vswitchd's answers travel while the two namespaces are read over netlink in process (each
// read is well under a millisecond, done synchronously between them). Whatever fails is noted
// in the facts' `unread`, never thrown: a diagnosis is most wanted when things are broken.
import type { Config, Network } from '../config/schema';
import { ipamPools } from '../config/pools';
import type { OvsdbClient } from '../ovs/client';
import { leaseDirFor } from '../ipam';
import { isInterfaceName } from '../names';
import { scanNetnsHolders } from '../runtime/netns-alive';
import type { Sandbox } from '../runtime/sandbox';
import type { EndFacts, PathFacts } from './facts';
import { loadNetlink } from '../veth/netlink-query';
import { netnsPaths, openNetns, readHostLink, readPodSide } from './pod-netns';
import { type OvsPathFacts, readPathOvs } from './read-ovs';
import { readVswitchd } from './read-vswitchd';

const text = (err: unknown) => (err instanceof Error ? err.message : String(err));
const bare = (cidr?: string) => cidr?.split('/')[0];

export interface GatherOptions {
  ovs: OvsdbClient;
  vswitchdCtl?: string; // the config's; else found as ovs-appctl finds it
  stateDir: string;
  hostLocal: boolean; // the network's addresses are leases in the state directory
  uplinks: string[]; // the config's uplinks of the network's bridge
  timeoutMs: number;
  local?: boolean; // diagnose --all: no destination, so no question to ovs-vswitchd
}

/** The options for one network's path, from the node's config (one place for diagnose and --all). */
export function gatherOptions(
  config: Pick<Config, 'vswitchdCtl' | 'stateDir' | 'bridges' | 'timeoutMs'>,
  network: Network,
  ovs: OvsdbClient,
  local?: boolean,
): GatherOptions {
  return {
    ovs,
    vswitchdCtl: config.vswitchdCtl,
    stateDir: config.stateDir,
    hostLocal: ipamPools(network).some((p) => p.type === 'host-local'),
    uplinks: config.bridges.find((b) => b.name === network.bridge)?.uplinks ?? [],
    timeoutMs: config.timeoutMs,
    ...(local ? { local } : {}),
  };
}

/** Fill `path` (its ends seeded with what the records say) with what the node shows. */
export async function gatherPath(path: PathFacts, opts: GatherOptions): Promise<PathFacts> {
  const { src, dst } = path;
  const ends = dst ? [src, dst] : [src];
  const names = [...ends.map((e) => e.port), ...(dst ? [] : opts.uplinks)];
  const ovsRead = readPathOvs(opts.ovs, names, !dst).then(
    (r) => r,
    (err) => text(err),
  );
  const nl = await loadNetlink();
  readEnds(nl, ends, path.remote?.address, opts.timeoutMs);
  path.srcAddress = src.route?.prefsrc ?? bare(src.recordedIp);
  path.dstAddress = dst ? bare(dst.recordedIp) : path.remote?.address;
  // A destination elsewhere: the uplinks (some known only from OVSDB) before the datapath is asked.
  const ovsFirst = dst ? undefined : await ovsRead;
  if (!dst) await readUplinks(path, ovsFirst!, opts, nl);
  const vswitchd = opts.local ? undefined : readVswitchd(path, opts.vswitchdCtl, opts.timeoutMs);
  for (const end of ends) readLease(end, opts);
  const ovs = ovsFirst ?? (await ovsRead);
  if (typeof ovs === 'string') {
    for (const end of ends) end.unread.port = ovs;
    path.bridge.unread.bridge = ovs;
  } else {
    for (const end of ends) end.ovs = ovs.ports.get(end.port);
    const b = ovs.bridges.get(path.bridge.name);
    path.bridge.exists = b !== undefined;
    if (b) path.bridge.datapathType = b.datapathType;
  }
  await vswitchd;
  return path;
}

/** The bridge's uplinks (the config's, and ports init marked on it): OVS rows and kernel links. */
async function readUplinks(
  path: PathFacts,
  ovs: OvsPathFacts | string,
  opts: GatherOptions,
  nl: Awaited<ReturnType<typeof loadNetlink>>,
): Promise<void> {
  const bridge = path.bridge.name;
  if (typeof ovs === 'string') {
    path.uplinks = opts.uplinks.map((name) => ({ name, unread: { port: ovs } }));
  } else {
    const marked = ovs.marked.filter((m) => m.bridge === bridge && isInterfaceName(m.name)).map((m) => m.name);
    const extra = marked.filter((n) => !opts.uplinks.includes(n));
    if (extra.length > 0) {
      try {
        for (const [name, port] of (await readPathOvs(opts.ovs, extra)).ports) ovs.ports.set(name, port);
      } catch {
        /* their rows stay unknown: judged as missing would be wrong, so they are left out */
      }
    }
    path.uplinks = [...opts.uplinks, ...extra].map((name) => ({ name, ovs: ovs.ports.get(name), unread: {} }));
  }
  for (const u of path.uplinks) {
    if (typeof nl === 'string') u.unread['host link'] = nl;
    else
      try {
        u.hostLink = readHostLink(nl, u.name, opts.timeoutMs);
      } catch (err) {
        u.unread['host link'] = text(err);
      }
  }
  path.bridge.uplinks = path.uplinks.map((u) => u.name);
}

/** Both ends' namespaces (found by their recorded inodes) and host veths. */
function readEnds(
  nl: Awaited<ReturnType<typeof loadNetlink>>,
  ends: EndFacts[],
  remote: string | undefined,
  timeoutMs: number,
): void {
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
        end.side === 'dst' ? (peer?.route?.prefsrc ?? bare(peer?.recordedIp)) : (remote ?? bare(peer?.recordedIp));
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
