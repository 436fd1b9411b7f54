// The far half of a path towards another node, judged from that node's snapshot (`podvlan
// collect` there, `diagnose --peer FILE` here): its uplinks, the destination's port, veth and pod
// interface, by the same hop modules as this node's half, on the other node's name. What the
// snapshot cannot hold (the destination's route and neighbour towards this source, the datapath's
// verdict there) is not judged.
import type { PathFacts } from './facts';
import { accessPort } from './hops/access-port';
import { judge } from './hops/module';
import { podInterface } from './hops/pod-interface';
import { uplink } from './hops/uplink';
import { veth } from './hops/veth';
import type { Hop } from './model';
import { endOfPod, type Snapshot, type SnapshotPod, uplinkOf } from './snapshot';

export const FAR_SIDE_UNCHECKED = 'far-side-unchecked';

export function judgeFarHalf(path: PathFacts, snap: Snapshot, pod: SnapshotPod): Hop[] {
  const far: PathFacts = {
    node: snap.node,
    network: { ...path.network, bridge: pod.bridge },
    src: path.src,
    dst: endOfPod(pod),
    srcAddress: path.srcAddress,
    dstAddress: path.dstAddress,
    bridge: { name: pod.bridge, unread: {} },
    uplinks: snap.uplinks.filter((u) => u.bridge === pod.bridge).map(uplinkOf),
  };
  const hops: Hop[] = [];
  const add = <F>(
    module: typeof accessPort | typeof veth | typeof podInterface | typeof uplink,
    id: (v?: string) => string,
    side: 'src' | 'dst',
  ) => {
    // biome-ignore lint/suspicious/noExplicitAny: each module has its own facts type
    const m = module as any;
    for (const v of m.views(far, side) as { id?: string; object: string; facts: F }[])
      hops.push({
        id: id(v.id),
        kind: m.kind,
        node: snap.node,
        object: v.object,
        summary: m.summary(v.facts),
        facts: v.facts as Record<string, unknown>,
        suspicions: judge(m, v.facts).filter((s) => s.code !== FAR_SIDE_UNCHECKED),
      });
  };
  add(uplink, (id) => `peer-${id}`, 'src');
  if (far.uplinks?.length === 0)
    hops.push({
      id: 'peer-uplink',
      kind: 'uplink',
      node: snap.node,
      object: `bridge ${pod.bridge}`,
      summary: 'no uplink',
      facts: { bridge: pod.bridge },
      suspicions: [
        {
          level: 'CRITICAL',
          code: 'uplink-missing',
          message: `bridge ${pod.bridge} on ${snap.node} has no uplink`,
          hint: 'podvlan init',
        },
      ],
    });
  add(accessPort, () => 'dst-port', 'dst');
  add(veth, () => 'dst-veth', 'dst');
  add(podInterface, () => 'dst-pod', 'dst');
  return hops;
}
