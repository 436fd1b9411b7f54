// diagnose SRC DST: the path of a packet from one pod to another attached on this node (or, for
// an address no pod here holds, out to the uplinks), hop by hop (src/diagnose): which ends and
// which network, from OVSDB (the state of record) and the pod records; then what the node shows
// (gather.ts) and each hop judged (hops/). Read only.
import type { Network } from '../config/schema';
import { type Family, formatIp, tryParseIp } from '../ipam/ip';
import { InvalidInputError, NotFoundError } from '../errors';
import type { EndFacts, PathFacts, Side } from '../diagnose/facts';
import { gatherOptions, gatherPath } from '../diagnose/gather';
import { judgePath } from '../diagnose/hops';
import { type DiagnoseResult, type Hop, resultOf } from '../diagnose/model';
import { judgeProbes, runProbes } from '../diagnose/probe';
import { FAR_SIDE_UNCHECKED, judgeFarHalf } from '../diagnose/far';
import { readPeers } from '../diagnose/remote-peer';
import { findPeerPod, readSnapshot } from '../diagnose/snapshot';
import { ofFamily, pathFamily, poolHolds, recordedList } from '../diagnose/family';
import { locate, locateByName, needPeer } from '../diagnose/locate';
import { hostVethName, isContainerId, isDns1123Label, isPodName } from '../names';
import type { Attachment } from '../ovs/attachment';
import { findPorts } from '../ovs/bridge';
import { OvsdbClient } from '../ovs/client';
import { isOwnRecordedPort, type PodRecord, readPodRecord } from '../state/pod-record';
import { type Context, nodeName } from './context';
import { followTrunkVlan, parseVlanOption, trunkPair, trunkTowards } from './diagnose-trunk';

interface PodRef {
  namespace: string;
  pod: string;
}

/** `ns/pod`, checked; InvalidInputError naming the argument otherwise. */
export function parsePodRef(text: string, what: string): PodRef {
  const slash = text.indexOf('/');
  const namespace = text.slice(0, slash);
  const pod = text.slice(slash + 1);
  if (slash < 0 || !isDns1123Label(namespace) || !isPodName(pod))
    throw new InvalidInputError(`${what} ${JSON.stringify(text)} is not namespace/pod`);
  return { namespace, pod };
}

export interface Known {
  ref: PodRef;
  attachments: Attachment[]; // its ports on this node (OVSDB)
  record?: PodRecord; // its pod record (the newest setup)
}

const networksOf = (k: Known) =>
  new Set([
    ...k.attachments.map((a) => a.network),
    ...(k.record?.attachments ?? []).filter((a) => isOwnRecordedPort(k.ref, a)).map((a) => a.network),
  ]);
const name = (r: PodRef) => `${r.namespace}/${r.pod}`;

export async function diagnose(
  ctx: Context,
  srcText: string,
  dstArg: string,
  opts: { network?: string; probe?: boolean; peer?: string; vlan?: string } = {},
): Promise<DiagnoseResult> {
  const { config } = ctx;
  const srcRef = parsePodRef(srcText, 'source');
  // DST: ns/pod, or an address of either family (IPv6 in any spelling, matched in RFC 5952 form).
  const dstIp = dstArg.includes('/') ? undefined : tryParseIp(dstArg);
  const dstText = dstIp ? formatIp(dstIp) : dstArg;
  const dstIsAddress = dstIp !== undefined;
  const dstRef = dstIsAddress ? undefined : parsePodRef(dstText, 'destination');
  if (opts.network !== undefined && !isDns1123Label(opts.network))
    throw new InvalidInputError(`--network ${JSON.stringify(opts.network)} is not a network name`);
  const vlan = parseVlanOption(opts.vlan);
  const ovs = await OvsdbClient.connect(config.ovsdb, config.timeoutMs);
  try {
    // Every port of ours in one read: the two ends' and the others on the VLAN (duplicate-address).
    const allPorts = await findPorts(ovs, {});
    const of = (r: PodRef) =>
      allPorts.filter((p) => p.attachment.namespace === r.namespace && p.attachment.pod === r.pod);
    const srcPorts = of(srcRef);
    const dstPorts = dstRef ? of(dstRef) : allPorts;
    const src: Known = { ref: srcRef, attachments: srcPorts.map((p) => p.attachment) };
    // --peer: the other node's snapshot; else the configured peers' OVSDB, for a DST not held here
    // (remote-peer.ts). A DST pod of that node stands for its address here.
    const file = opts.peer === undefined ? undefined : readSnapshot(opts.peer);
    const notHere = dstRef
      ? dstPorts.length === 0 && !readPodRecord(config.stateDir, dstRef.namespace, dstRef.pod)
      : !dstPorts.some((p) => p.attachment.ips.some((ip) => ip.split('/')[0] === dstText));
    // Another node's OVSDB is read as a snapshot, which carries IPv4 only: an IPv6 DST stays here.
    const remote =
      !file && notHere && dstIp?.family !== 6 && (config.peers?.length ?? 0) > 0
        ? await readPeers(config, networksOf(src), dstRef, dstIsAddress ? dstText : undefined)
        : undefined;
    const peer = file ?? remote?.snapshot;
    const peerPod =
      peer && dstRef && dstPorts.length === 0
        ? peer.pods.find((p) => p.namespace === dstRef.namespace && p.pod === dstRef.pod && p.recordedIp)
        : undefined;
    // etcd knows where a DST pod of another node lives (its address's owner record).
    const elsewhere =
      dstRef && !peerPod && dstPorts.length === 0 && !readPodRecord(config.stateDir, dstRef.namespace, dstRef.pod)
        ? await locateByName(config, networksOf(src), dstRef)
        : undefined;
    const address = peerPod?.recordedIp?.split('/')[0] ?? elsewhere?.address ?? dstText;
    let dst: Known | undefined; // undefined: an address no pod of this node holds
    if (dstRef && !peerPod && !elsewhere) dst = { ref: dstRef, attachments: dstPorts.map((p) => p.attachment) };
    else {
      const holder = dstPorts.map((p) => p.attachment).find((a) => a.ips.some((ip) => ip.split('/')[0] === address));
      if (holder)
        dst = {
          ref: { namespace: holder.namespace, pod: holder.pod },
          attachments: dstPorts
            .map((p) => p.attachment)
            .filter((a) => a.namespace === holder.namespace && a.pod === holder.pod),
        };
    }
    if (dst && name(src.ref) === name(dst.ref))
      throw new InvalidInputError(`source and destination are both ${name(src.ref)}`);
    for (const k of dst ? [src, dst] : [src]) k.record = readPodRecord(config.stateDir, k.ref.namespace, k.ref.pod);
    // A trunk network's end: the VLAN followed, and each end's own network (diagnose-trunk.ts).
    const pair = dst
      ? trunkPair(config.networks, src, dst, [networksOf(src), networksOf(dst)], { network: opts.network, vlan })
      : undefined;
    const network =
      pair?.src ??
      (dst
        ? chooseNetwork(config.networks, src, dst, opts.network)
        : networkTowards(config.networks, src, address, opts.network));
    const dstNetwork = pair?.dst ?? network;
    const followed = pair ? pair.vlan : dst ? undefined : trunkTowards(network, src, vlan);
    const srcOn = src.attachments.find((x) => x.network === network.name);
    const srcRec = (src.record?.attachments ?? []).find(
      (x) => x.network === network.name && isOwnRecordedPort(src.ref, x),
    );
    const family = dstIp?.family ?? pathFamily(srcOn?.ips ?? recordedList(srcRec));
    const path: PathFacts = {
      node: nodeName(config),
      ...(family === 6 ? { family: 6 as const } : {}),
      network: { name: network.name, mtu: network.mtu, interface: network.interface, bridge: network.bridge },
      src: followTrunkVlan(seed('src', src, network, family), src, network, followed),
      ...(dst
        ? { dst: followTrunkVlan(seed('dst', dst, dstNetwork, family), dst, dstNetwork, followed) }
        : { remote: { address } }),
      bridge: { name: network.bridge, unread: {} },
      others: [network, ...(dstNetwork === network ? [] : [dstNetwork])].flatMap((n) =>
        othersOn(
          allPorts.map((p) => p.attachment),
          n.name,
        ),
      ),
    };
    await gatherPath(path, gatherOptions(config, network, ovs));
    const endpoint = (e: EndFacts, address?: string) => ({
      namespace: e.namespace,
      pod: e.pod,
      ...(address ? { address } : {}),
      port: e.port,
      ...(e.recordedTag !== undefined ? { vlan: e.recordedTag } : {}),
    });
    let hops = judgePath(path);
    const far = peer && !dst ? findPeerPod(peer, network.name, peerPod, address) : undefined;
    if (peer && !dst && !far)
      throw new NotFoundError(
        `${file ? `--peer ${opts.peer}` : 'the OVSDB of'} (node ${peer.node}) has no pod on ${network.name} at ${address}`,
      );
    const viaOvsdb = file ? undefined : config.peers?.find((p) => p.node === peer?.node)?.ovsdb;
    if (peer && far) hops = [...withoutFarInfo(hops), ...judgeFarHalf(path, peer, far, viaOvsdb)];
    for (const error of remote?.errors ?? [])
      hops[hops.length - 1]?.suspicions.push({ level: 'WARNING', code: 'unreadable', message: error });
    const where = !dst && !peer ? (elsewhere ?? (await locate(config, network, { address }))) : undefined;
    if (where) hops[hops.length - 1]?.suspicions.push(needPeer(where, path.srcAddress));
    // --probe: live pings after the static reading; their failures join the last hop (probe.ts).
    const probes = opts.probe ? await runProbes(path, config.vswitchdCtl, config.timeoutMs) : [];
    judgeProbes(hops, probes, path);
    return {
      ...resultOf(hops, {
        src: endpoint(path.src, path.srcAddress),
        dst: path.dst
          ? endpoint(path.dst, path.dstAddress)
          : far
            ? {
                namespace: far.namespace,
                pod: far.pod,
                address,
                port: far.port,
                ...(far.vlan ? { vlan: far.vlan } : {}),
              }
            : where
              ? { namespace: where.namespace, pod: where.pod, address, node: where.node }
              : { address },
        network: network.name,
        vlan: path.src.recordedTag ?? null,
      }),
      probes,
    };
  } finally {
    ovs.close();
  }
}

/** The attachments of a network as OVSDB records them (duplicate-address compares with them): one
 * entry per address, so a dual-stack pod's IPv6 address is compared as its IPv4 one is. */
export function othersOn(attachments: Attachment[], network: string): NonNullable<PathFacts['others']> {
  return attachments
    .filter((a) => a.network === network)
    .flatMap((a) =>
      (a.ips.length > 0 ? a.ips : [undefined]).map((ip) => ({
        pod: `${a.namespace}/${a.pod}`,
        port: a.port,
        vlan: a.vlan ?? a.tag,
        ip,
        mac: a.mac,
      })),
    );
}

/** The network both ends are on (in config order), or the one asked for. */
function chooseNetwork(networks: Network[], src: Known, dst: Known, asked?: string): Network {
  const [a, b] = [networksOf(src), networksOf(dst)];
  if (a.size === 0) throw new NotFoundError(`${name(src.ref)} is not attached on this node (no port, no record)`);
  if (b.size === 0) throw new NotFoundError(`${name(dst.ref)} is not attached on this node (no port, no record)`);
  if (asked !== undefined) {
    const network = networks.find((n) => n.name === asked);
    if (!network) throw new NotFoundError(`no network ${asked} in the config`);
    for (const [k, on] of [[src, a] as const, [dst, b] as const])
      if (!on.has(asked)) throw new NotFoundError(`${name(k.ref)} is not attached to network ${asked} on this node`);
    return network;
  }
  const shared = networks.find((n) => a.has(n.name) && b.has(n.name));
  if (!shared)
    throw new NotFoundError(
      `${name(src.ref)} (${[...a].join(', ')}) and ${name(dst.ref)} (${[...b].join(', ')}) share no network of the config`,
    );
  return shared;
}

/** For an address no pod of this node holds: the source's network asked for, else the first
 * whose subnet holds the address, else its first. The path then leaves by the bridge's uplinks. */
function networkTowards(networks: Network[], src: Known, address: string, asked?: string): Network {
  const on = networksOf(src);
  if (on.size === 0) throw new NotFoundError(`${name(src.ref)} is not attached on this node (no port, no record)`);
  const mine = networks.filter((n) => on.has(n.name));
  if (asked !== undefined) {
    const network = mine.find((n) => n.name === asked);
    if (!network) throw new NotFoundError(`${name(src.ref)} is not attached to network ${asked} on this node`);
    return network;
  }
  const network = mine.find((n) => poolHolds(n, address)) ?? mine[0];
  if (!network) throw new NotFoundError(`${name(src.ref)} is on no network of the config`);
  return network;
}

/** One end as the records say it is: its port, tag, address, namespace, container. */
export function seed(side: Side, k: Known, network: Network, family: Family = 4): EndFacts {
  const a = k.attachments.find((x) => x.network === network.name);
  const rec = (k.record?.attachments ?? []).find((x) => x.network === network.name && isOwnRecordedPort(k.ref, x));
  const fixed = 'id' in network.vlan ? network.vlan.id : undefined;
  const recordTag = rec && Number.isInteger(rec.tag) && rec.tag > 0 ? rec.tag : undefined;
  return {
    side,
    namespace: k.ref.namespace,
    pod: k.ref.pod,
    network: network.name,
    interface: a?.interface ?? network.interface,
    port: a?.port ?? hostVethName(k.ref.namespace, k.ref.pod, network.name),
    recordedTag: a?.vlan ?? recordTag ?? fixed,
    recordedIp: (a ? ofFamily(a.ips, family) : undefined) ?? ofFamily(recordedList(rec), family),
    ...(a || rec ? { recordedIps: a?.ips ?? recordedList(rec) } : {}),
    recordedMac: a?.mac,
    recordedNetns: a?.netns,
    currentContainer:
      typeof k.record?.containerId === 'string' && isContainerId(k.record.containerId)
        ? k.record.containerId
        : undefined,
    cni: a?.runtime === 'cni',
    unread: {},
  };
}

/** This node's hops without the note that the far side is unchecked (the peer's snapshot checks it). */
const withoutFarInfo = (hops: Hop[]) =>
  hops.map((h) => ({ ...h, suspicions: h.suspicions.filter((s) => s.code !== FAR_SIDE_UNCHECKED) }));
