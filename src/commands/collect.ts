// podvlan collect [ns/pod ...]: this node's facts about the given pods (all attached here when none
// is given) and the uplinks of their bridges, as the snapshot `diagnose --peer` reads on another
// node (src/diagnose/snapshot.ts). Read only; read the same way diagnose reads its own node.
import type { EndFacts, PathFacts } from '../diagnose/facts';
import { gatherPath } from '../diagnose/gather';
import { podOf, SNAPSHOT_VERSION, type Snapshot } from '../diagnose/snapshot';
import { NotFoundError } from '../errors';
import { podSelector } from '../ovs/attachment';
import { findPorts } from '../ovs/bridge';
import { OvsdbClient } from '../ovs/client';
import { readPodRecord } from '../state/pod-record';
import { type Context, nodeName } from './context';
import { type Known, parsePodRef, seed } from './diagnose';

export async function collect(ctx: Context, pods: string[]): Promise<Snapshot> {
  const { config } = ctx;
  const refs = pods.map((p) => parsePodRef(p, 'pod'));
  const node = nodeName(config);
  const ovs = await OvsdbClient.connect(config.ovsdb, config.timeoutMs);
  try {
    const found = refs.length > 0 ? [] : (await findPorts(ovs, {})).map((p) => p.attachment);
    for (const ref of refs) {
      const ports = (await findPorts(ovs, podSelector(ref.namespace, ref.pod))).map((p) => p.attachment);
      if (ports.length === 0) throw new NotFoundError(`${ref.namespace}/${ref.pod} has no port on node ${node}`);
      found.push(...ports);
    }
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
        remote: { address: end.recordedIp?.split('/')[0] ?? '127.0.0.1' },
        bridge: { name: network.bridge, unread: {} },
      };
      await gatherPath(path, {
        ovs,
        vswitchdCtl: config.vswitchdCtl,
        stateDir: config.stateDir,
        hostLocal: false,
        uplinks: config.bridges.find((b) => b.name === network.bridge)?.uplinks ?? [],
        timeoutMs: config.timeoutMs,
      });
      snapshot.pods.push(podOf(end, network.bridge));
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
    return snapshot;
  } finally {
    ovs.close();
  }
}
