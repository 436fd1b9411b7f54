// The far half of a path towards another node, judged from that node's snapshot (`podvlan
// collect` there, `diagnose --peer FILE` here): its uplinks, its bridge's verdict for the frame
// coming in, the destination's port, veth and pod interface (with its route, neighbour and
// receive path towards this source), by the same hop modules as this node's half, on the other
// node's name. What the snapshot was not asked for (collect without `--from` this source) is
// said as INFO, never guessed.
import type { PathFacts } from './facts';
import { accessPort } from './hops/access-port';
import { bridgeHop } from './hops/bridge';
import type { OtherAttachment } from './hops/duplicate-address';
import { judge } from './hops/module';
import { podInterface } from './hops/pod-interface';
import { uplink } from './hops/uplink';
import { veth } from './hops/veth';
import type { Hop, Suspicion } from './model';
import { endOfPod, type Snapshot, type SnapshotPod, uplinkOf } from './snapshot';

export const FAR_SIDE_UNCHECKED = 'far-side-unchecked';

const bare = (cidr?: string) => cidr?.split('/')[0];

/** `remote`: the snapshot was read from that node's OVSDB (remote-peer.ts), not collected there. */
export function judgeFarHalf(path: PathFacts, snap: Snapshot, pod: SnapshotPod, remote?: string): Hop[] {
  const source = bare(path.srcAddress);
  const towards = source !== undefined && pod.towards?.address === source; // collected --from this source
  const inbound = towards ? pod.inbound : undefined;
  const far: PathFacts = {
    node: snap.node,
    network: { ...path.network, bridge: pod.bridge },
    src: path.src,
    dst: endOfPod(pod, source),
    srcAddress: path.srcAddress,
    dstAddress: path.dstAddress,
    bridge: {
      name: pod.bridge,
      ...(inbound
        ? {
            flow: inbound.flow,
            trace: { ...inbound, outputNames: inbound.outputNames.map((n) => n ?? undefined) },
            dstOdpPort: inbound.podOdpPort,
          }
        : {}),
      unread: towards && pod.unread['datapath trace'] ? { 'datapath trace': pod.unread['datapath trace'] } : {},
    },
    uplinks: snap.uplinks.filter((u) => u.bridge === pod.bridge).map(uplinkOf),
  };
  const collectAgain = `podvlan collect ${pod.namespace}/${pod.pod} --from ${source ?? 'SRC'} -o json > peer.json (on ${snap.node})`;
  const unchecked = (code: string, what: string, were = 'was'): Suspicion => ({
    level: 'INFO',
    code,
    message: `${what} on ${snap.node} ${were} ${pod.towards ? `collected towards ${pod.towards.address}, not ${source}` : 'not collected (collect without --from)'}`,
    hint: collectAgain,
  });
  const overOvsdb = (what: string, is = 'is'): Suspicion => ({
    level: 'INFO',
    code: 'remote-unchecked',
    message: `${what} on ${snap.node} ${is} not read over its OVSDB (${remote})`,
    hint: `${collectAgain}, then diagnose --peer peer.json`,
  });
  const hops: Hop[] = [];
  const add = <F>(
    module: typeof accessPort | typeof veth | typeof podInterface | typeof uplink | typeof bridgeHop,
    id: (v?: string) => string,
    side: 'src' | 'dst',
    path = far,
    adjust?: (facts: F) => void,
  ) => {
    // biome-ignore lint/suspicious/noExplicitAny: each module has its own facts type
    const m = module as any;
    for (const v of m.views(path, side) as { id?: string; object: string; facts: F }[]) {
      adjust?.(v.facts);
      hops.push({
        id: id(v.id),
        kind: m.kind,
        node: snap.node,
        object: v.object,
        summary: m.summary(v.facts),
        facts: v.facts as Record<string, unknown>,
        suspicions: judge(m, v.facts).filter((s) => s.code !== FAR_SIDE_UNCHECKED),
      });
    }
  };
  add(uplink, (id) => `peer-${id}`, 'src');
  if (remote) for (const h of hops) h.suspicions.push(overOvsdb(`the link of ${h.object}`));
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
  // The far bridge: the frame comes in on the uplink the trace names, tagged with the source's VLAN.
  const fromUplink = { ...far, src: { ...path.src, port: inbound?.uplink ?? far.uplinks?.[0]?.name ?? path.src.port } };
  add(bridgeHop, () => 'peer-bridge', 'src', fromUplink);
  if (remote) hops[hops.length - 1].suspicions.push(overOvsdb("the datapath's verdict (ofproto/trace)"));
  else if (!inbound && !far.bridge.unread['datapath trace'])
    hops[hops.length - 1].suspicions.push(
      unchecked('far-datapath-unchecked', `the datapath's verdict for the frame from ${source}`),
    );
  add(accessPort, () => 'dst-port', 'dst');
  add(veth, () => 'dst-veth', 'dst');
  add(
    podInterface,
    () => 'dst-pod',
    'dst',
    far,
    (f: { others?: OtherAttachment[]; peerPod?: string }) => {
      f.others = farOthers(path, snap, pod);
      f.peerPod = `${path.src.namespace}/${path.src.pod}`;
    },
  );
  const dstPod = hops[hops.length - 1];
  if (remote) {
    // Its namespace and interfaces are that node's kernel's: unread, not unknown (netns-unknown).
    hops[hops.length - 2].suspicions.push(overOvsdb(`the host end of ${hops[hops.length - 2].object}`));
    dstPod.suspicions = dstPod.suspicions.filter((s) => s.code !== 'netns-unknown');
    dstPod.suspicions.push(overOvsdb(`${dstPod.object}, its addresses, route and neighbour`, 'are'));
  } else if (!towards && dstPod.facts.link)
    dstPod.suspicions.push(
      unchecked('far-route-unchecked', `${pod.namespace}/${pod.pod}'s route and neighbour towards ${source}`, 'were'),
    );
  return hops;
}

/**
 * Who else holds an address on the destination's VLAN: the source itself (a far pod holding its
 * address) and the far node's other attachments of that bridge and VLAN (the snapshot's `others`)
 * that share the destination's address or the source's.
 */
function farOthers(path: PathFacts, snap: Snapshot, pod: SnapshotPod): OtherAttachment[] | undefined {
  const vlan = pod.vlan;
  const wanted = new Set([bare(pod.recordedIp), bare(path.srcAddress), ...(pod.addresses ?? []).map(bare)]);
  const src = path.src;
  const found: OtherAttachment[] = [
    ...(src.recordedIp && src.recordedTag === vlan
      ? [
          {
            pod: `${src.namespace}/${src.pod}`,
            port: src.port,
            vlan,
            ip: src.recordedIp,
            mac: src.podLink?.mac ?? src.recordedMac,
            node: path.node,
          },
        ]
      : []),
    ...(snap.others ?? [])
      .filter((o) => o.bridge === pod.bridge && o.vlan === vlan && o.port !== pod.port && wanted.has(bare(o.ip)))
      .map((o) => ({ pod: o.pod, port: o.port, vlan: o.vlan, ip: o.ip, mac: o.mac, node: snap.node })),
  ];
  return found.length > 0 ? found : undefined;
}
