// podvlan collect [ns/pod ...] [--from ADDRESS]: this node's facts about the given pods (all
// attached here when none is given) and the uplinks of their bridges, as the snapshot `diagnose
// --peer` reads on another node (src/diagnose/snapshot.ts). With --from (the source's address on
// the other node), also each pod's own kernel towards it (route, neighbour, receive path) and this
// node's datapath verdict for the source's frame coming in on an uplink. Read only; read the same
// way diagnose reads its own node.
import type { EndFacts, PathFacts } from '../diagnose/facts';
import { gatherPath } from '../diagnose/gather';
import { type InboundTrace, traceInbound } from '../diagnose/read-inbound';
import { othersOf, podOf, SNAPSHOT_VERSION, type Snapshot } from '../diagnose/snapshot';
import { InvalidInputError, NotFoundError } from '../errors';
import { isIpv4 } from '../names';
import { findPorts } from '../ovs/bridge';
import { OvsdbClient } from '../ovs/client';
import { defaultVswitchdCtl, UnixctlClient } from '../ovs/unixctl';
import { readPodRecord } from '../state/pod-record';
import { type Context, nodeName } from './context';
import { type Known, parsePodRef, seed } from './diagnose';

const text = (err: unknown) => (err instanceof Error ? err.message : String(err));

export async function collect(ctx: Context, pods: string[], opts: { from?: string } = {}): Promise<Snapshot> {
  const { config } = ctx;
  const refs = pods.map((p) => parsePodRef(p, 'pod'));
  const { from } = opts;
  if (from !== undefined && !isIpv4(from))
    throw new InvalidInputError(`--from ${JSON.stringify(from)} is not an IPv4 address`);
  const node = nodeName(config);
  const ovs = await OvsdbClient.connect(config.ovsdb, config.timeoutMs);
  let vswitchd: UnixctlClient | string | undefined;
  try {
    // Every port of ours in one read: the pods asked for, and the others (duplicate addresses).
    const all = (await findPorts(ovs, {})).map((p) => p.attachment);
    const found = refs.length > 0 ? [] : all;
    for (const ref of refs) {
      const ports = all.filter((a) => a.namespace === ref.namespace && a.pod === ref.pod);
      if (ports.length === 0) throw new NotFoundError(`${ref.namespace}/${ref.pod} has no port on node ${node}`);
      found.push(...ports);
    }
    if (from !== undefined) vswitchd = await connectVswitchd(config.vswitchdCtl, config.timeoutMs);
    const snapshot: Snapshot = {
      version: SNAPSHOT_VERSION,
      kind: 'podvlan-collect',
      node,
      collectedAt: new Date().toISOString(),
      pods: [],
      uplinks: [],
    };
    for (const a of found) {
      const network = config.networks.find((n) => n.name === a.network);
      if (!network) continue; // a network no longer in the config: nothing to judge it by
      const ref = { namespace: a.namespace, pod: a.pod };
      const known: Known = { ref, attachments: [a], record: readPodRecord(config.stateDir, a.namespace, a.pod) };
      const end: EndFacts = seed('src', known, network);
      const path: PathFacts = {
        node,
        network: { name: network.name, mtu: network.mtu, interface: network.interface, bridge: network.bridge },
        src: end,
        // The pod's kernel is asked about the source's address (--from), else about its own.
        remote: { address: from ?? end.recordedIp?.split('/')[0] ?? '127.0.0.1' },
        bridge: { name: network.bridge, unread: {} },
      };
      await gatherPath(path, {
        ovs,
        vswitchdCtl: config.vswitchdCtl,
        stateDir: config.stateDir,
        hostLocal: false,
        uplinks: config.bridges.find((b) => b.name === network.bridge)?.uplinks ?? [],
        timeoutMs: config.timeoutMs,
        local: true, // its outbound trace is not what the other node needs: the inbound one below
      });
      let inbound: InboundTrace | undefined;
      if (from !== undefined) {
        const to = {
          port: end.port,
          vlan: end.recordedTag,
          address: end.recordedIp?.split('/')[0],
          mac: end.podLink?.mac ?? end.recordedMac,
        };
        const r =
          typeof vswitchd === 'string' || vswitchd === undefined
            ? (vswitchd ?? 'not asked')
            : await traceInbound(vswitchd, network.bridge, path.bridge.uplinks ?? [], to, from).catch(text);
        if (typeof r === 'string') end.unread['datapath trace'] = r;
        else inbound = r;
      }
      snapshot.pods.push(podOf(end, network.bridge, from, inbound));
      for (const u of path.uplinks ?? [])
        if (!snapshot.uplinks.some((x) => x.bridge === network.bridge && x.name === u.name))
          snapshot.uplinks.push({
            bridge: network.bridge,
            name: u.name,
            ...(u.ovs ? { ovs: u.ovs } : {}),
            ...(u.hostLink !== undefined ? { link: u.hostLink } : {}),
            unread: u.unread,
          });
    }
    snapshot.others = othersOf(
      all,
      config.networks.map((n) => n.name),
    );
    return snapshot;
  } finally {
    ovs.close();
    if (vswitchd instanceof UnixctlClient) vswitchd.close();
  }
}

/** ovs-vswitchd's socket, or why it cannot be reached (then noted on every pod, never thrown). */
async function connectVswitchd(ctl: string | undefined, timeoutMs: number): Promise<UnixctlClient | string> {
  try {
    return await UnixctlClient.connect(ctl ?? defaultVswitchdCtl(), timeoutMs);
  } catch (err) {
    return text(err);
  }
}
