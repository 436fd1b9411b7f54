// The NodeView from facts already read (node-view.ts reads them): pure, so every judgement is
// tested from fixtures. Attachments come from OVSDB (podvlan's ports) and from the ready pod
// records of exec mode (a recorded port without its row is `no-port`); bridges and uplinks from
// the config and OVSDB; networks from the config and, for networks the config does not name (a
// CNI conflist's), from their ports.
import type { Config, Network } from '../config/schema';
import { datapathTypeOf } from '../config/datapath';
import { declaredVlans, vlansOf } from '../ipam/vlan';
import { type Attachment, isValidAttachment } from '../ovs/attachment';
import type { PodRecord } from '../state/pod-record';
import {
  type AttachmentFacts,
  carriedVlans,
  type HostVeth,
  judgeAttachment,
  type NetnsFacts,
  noBridge,
  podEndOf,
  podVlans,
  trunkGaps,
  uplinkProblems,
} from './judge';
import type { AttachmentView, BridgeView, NodeView, Problem, UplinkView } from './model';
import { networkView } from './networks';
import type { PoolResult } from './pools';
import { bridgeOfPort, type OvsSnapshot } from './read-ovs';

export interface NodeFacts {
  config: Pick<Config, 'networks' | 'bridges'>;
  node: string;
  ovs: OvsSnapshot;
  records: PodRecord[]; // ready ones
  veths: Map<string, HostVeth>; // host veths that exist, by name
  netns: Map<string, NetnsFacts>; // by recorded inode
  pools: Map<string, PoolResult>; // by network
}

export function assemble(f: NodeFacts): NodeView {
  const attachments = [...portAttachments(f), ...recordOnly(f)].sort((x, y) =>
    sortKey(x.attachment).localeCompare(sortKey(y.attachment)),
  );
  const bridges = bridgeNames(f, attachments).map((b) => bridgeView(f, b, attachments));
  const named = new Set(f.config.networks.map((n) => n.name));
  const unknown = [...new Set(attachments.map((v) => v.attachment.network))].filter((n) => !named.has(n)).sort();
  const networks = [
    ...f.config.networks.map((n) => networkView(n.name, n, attachments, bridges, f.pools.get(n.name))),
    ...unknown.map((n) => networkView(n, undefined, attachments, bridges, undefined)),
  ];
  const problems: Problem[] = bridges.flatMap((b) => [
    ...(b.exists ? [] : [noBridge(b.name)]),
    ...b.uplinks.flatMap((u) => uplinkProblems(u)),
  ]);
  return { node: f.node, bridges, networks, attachments, problems };
}

export const sortKey = (a: Pick<Attachment, 'namespace' | 'pod' | 'network'>) => `${a.namespace}/${a.pod}/${a.network}`;

/** The tag to hold a port to: what setup recorded, else (rows from before the record) a fixed id. */
export function expectedTag(a: Attachment, networks: Network[]): number | undefined {
  if (a.vlan !== undefined) return a.vlan;
  const vlan = networks.find((n) => n.name === a.network)?.vlan;
  return vlan && 'id' in vlan ? vlan.id : undefined;
}

function portAttachments(f: NodeFacts): AttachmentView[] {
  return f.ovs.podPorts.map(({ uuid, attachment: a }) => {
    const iface = f.ovs.interfaces.get(a.port) ?? {};
    const veth = f.veths.get(a.port);
    const facts: AttachmentFacts = {
      port: { bridge: bridgeOfPort(f.ovs, uuid), ...iface },
      veth,
      netns: veth && a.netns !== undefined ? f.netns.get(a.netns) : undefined,
      expectedTag: expectedTag(a, f.config.networks),
    };
    const link = facts.netns?.state === 'read' ? podEndOf(a, facts.netns.links) : undefined;
    return view(a, judgeAttachment(a, facts), {
      ...(iface.ofport !== undefined ? { ofport: iface.ofport } : {}),
      ...(iface.error ? { error: iface.error } : {}),
      ...(link
        ? {
            podInterface: {
              name: link.name,
              up: link.up,
              ...(link.mtu ? { mtu: link.mtu } : {}),
              addresses: link.addresses,
            },
          }
        : {}),
    });
  });
}

/** Attachments of ready pod records whose port is in no OVSDB row: `no-port`. */
function recordOnly(f: NodeFacts): AttachmentView[] {
  const ports = new Set(f.ovs.podPorts.map((p) => p.attachment.port));
  const out: AttachmentView[] = [];
  for (const r of f.records) {
    for (const ra of Array.isArray(r.attachments) ? r.attachments : []) {
      if (typeof ra !== 'object' || ra === null || ports.has(ra.port)) continue; // a file: any shape
      const a: Attachment = {
        namespace: r.namespace,
        pod: r.pod,
        containerId: r.containerId,
        network: ra.network,
        interface: ra.interface,
        bridge: f.config.networks.find((n) => n.name === ra.network)?.bridge ?? '',
        port: ra.port,
        tag: ra.tag,
        ips: recordIps(ra),
        mac: '', // not recorded: only the port had it
      };
      // A record is a file: only values in podvlan's form are shown (the two it lacks stood in for).
      if (!isValidAttachment({ ...a, bridge: a.bridge || 'unknown', mac: '00:00:00:00:00:00' })) continue;
      out.push(view(a, judgeAttachment(a, { veth: f.veths.get(a.port) }), {}));
    }
  }
  return out;
}

function view(a: Attachment, problems: Problem[], extra: Partial<AttachmentView>): AttachmentView {
  return { attachment: a, state: problems[0]?.code ?? 'ok', problems, ...extra };
}

/** Config bridges (entries, then networks'), then any other a port or uplink names. */
function bridgeNames(f: NodeFacts, attachments: AttachmentView[]): string[] {
  const names = [...f.config.bridges.map((b) => b.name), ...f.config.networks.map((n) => n.bridge)];
  const seen = new Set(names);
  const more = [
    ...attachments.map((v) => v.attachment.bridge),
    ...[...f.ovs.uplinkPorts.values()].flatMap((u) => (u.managed && u.markedBridge ? [u.markedBridge] : [])),
  ].filter((b) => b && !seen.has(b));
  return [...new Set([...names, ...more.sort()])];
}

function bridgeView(f: NodeFacts, name: string, attachments: AttachmentView[]): BridgeView {
  const row = f.ovs.bridges.get(name);
  const configured = f.config.bridges.find((b) => b.name === name)?.uplinks ?? [];
  const marked = [...f.ovs.uplinkPorts.values()]
    .filter((u) => u.managed && (u.markedBridge === name || (row?.ports.has(u.uuid) ?? false)))
    .map((u) => u.name);
  const { want, allowed } = bridgeVlans(f.config.networks, name, attachments);
  const uplinks = [...new Set([...configured, ...marked.sort()])].map((u): UplinkView => {
    const port = f.ovs.uplinkPorts.get(u);
    const exists = port !== undefined && (row?.ports.has(port.uuid) ?? false);
    const iface = f.ovs.interfaces.get(u);
    const gaps = exists ? trunkGaps(carriedVlans(port), want, allowed) : { missing: want, extra: [] };
    return {
      name: u,
      bridge: name,
      managed: port?.managed ?? false,
      exists,
      trunks: port?.trunks ?? [],
      ...(iface?.mtu !== undefined ? { mtu: iface.mtu } : {}),
      ...(exists && iface?.ofport !== undefined ? { ofport: iface.ofport } : {}),
      ...(exists && iface?.error ? { error: iface.error } : {}),
      ...gaps,
    };
  });
  const datapathType = row ? row.datapathType || 'system' : datapathTypeOf(f.config, name);
  return { name, exists: row !== undefined, datapathType, uplinks };
}

/** The VLANs a bridge's uplinks must carry (declared by its networks, and in use by its ports),
 * and the ones they may (undefined when a network on it may use any VLAN). */
export function bridgeVlans(
  networks: Network[],
  bridge: string,
  attachments: AttachmentView[],
): { want: number[]; allowed: Set<number> | undefined } {
  const want = new Set<number>();
  let open = false;
  for (const n of networks.filter((x) => x.bridge === bridge)) {
    const r = declaredVlans(n.vlan);
    if (!r) open = true;
    else for (const v of vlansOf(r)) want.add(v);
  }
  for (const { attachment: a } of attachments) if (a.bridge === bridge) for (const v of podVlans(a)) want.add(v);
  return { want: [...want].sort((x, y) => x - y), allowed: open ? undefined : new Set(want) };
}

/** A record attachment's addresses: `ips`, or the one `ip` of an older record (checked with the rest). */
function recordIps(ra: { ips?: unknown; ip?: unknown }): string[] {
  // Anything but strings stands as one invalid address: isValidAttachment then refuses the row.
  if (Array.isArray(ra.ips)) return ra.ips.every((ip) => typeof ip === 'string') ? ra.ips : ['?'];
  return typeof ra.ip === 'string' ? [ra.ip] : [];
}
