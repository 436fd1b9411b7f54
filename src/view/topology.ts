// The node as a picture: uplinks (with their trunks), bridges, the pods' ports (with their tags
// and state), the pods (with their interfaces and addresses). Whatever is wrong is red, and every
// problem is listed under the picture. Pure: a NodeView in, a Graph out (svg.ts, dot.ts draw it).
import { vlanText } from '../ovs/uplink';
import type { Graph, GraphBox, GraphEdge, GraphLine } from './graph';
import { NODE_CODES, uplinkProblems } from './judge';
import type { AttachmentView, BridgeView, NodeView, Problem, UplinkView } from './model';
import { inUseText } from './networks';

export const boxId = {
  uplink: (u: Pick<UplinkView, 'bridge' | 'name'>) => `uplink:${u.bridge}/${u.name}`,
  bridge: (name: string) => `bridge:${name}`,
  port: (port: string) => `port:${port}`,
  pod: (a: { namespace: string; pod: string }) => `pod:${a.namespace}/${a.pod}`,
};

export function topologyGraph(view: NodeView): Graph {
  const order = new Map(view.bridges.map((b, i) => [b.name, i]));
  const ports = [...view.attachments].sort(
    (x, y) => (order.get(x.attachment.bridge) ?? 1e9) - (order.get(y.attachment.bridge) ?? 1e9),
  );
  const uplinks = view.bridges.flatMap((b) => b.uplinks);
  const pods = podsInPortOrder(ports);
  const edges: GraphEdge[] = [
    ...uplinks.map((u) => ({ from: boxId.uplink(u), to: boxId.bridge(u.bridge), red: uplinkProblems(u).length > 0 })),
    ...ports.flatMap(({ attachment: a, state }) => [
      ...(a.bridge ? [{ from: boxId.bridge(a.bridge), to: boxId.port(a.port), red: state !== 'ok' }] : []),
      { from: boxId.port(a.port), to: boxId.pod(a), red: state !== 'ok', label: a.interface },
    ]),
  ];
  const problems = allProblems(view);
  return {
    title: `podvlan topology of node ${view.node}: ${problems.length ? `${problems.length} problem${problems.length === 1 ? '' : 's'}` : 'all ok'}`,
    columns: [
      { title: 'uplinks', boxes: uplinks.map(uplinkBox) },
      { title: 'bridges', boxes: view.bridges.map((b) => bridgeBox(b, view)) },
      { title: 'ports', boxes: ports.map(portBox) },
      { title: 'pods', boxes: pods.map(podBox) },
    ],
    edges,
    notes: problems.map((p) => ({ text: `${p.code}: ${p.message}`, red: true })),
  };
}

/** Every problem of the node, its networks and its attachments, each said once. */
export function allProblems(view: NodeView): Problem[] {
  const all = [
    ...view.problems,
    ...view.networks.flatMap((n) => n.problems.filter((p) => !NODE_CODES.has(p.code))),
    ...view.attachments.flatMap((v) => v.problems),
  ];
  const seen = new Set<string>();
  return all.filter((p) => !seen.has(`${p.code} ${p.message}`) && seen.add(`${p.code} ${p.message}`));
}

function uplinkBox(u: UplinkView): GraphBox {
  const problems = uplinkProblems(u);
  const lines: GraphLine[] = [
    { text: u.name, strong: true },
    u.exists ? { text: `trunks ${vlanText(u.trunks) || 'all'}` } : { text: 'not a port (run podvlan init)', red: true },
  ];
  if (u.exists && u.missing.length) lines.push({ text: `lacks ${vlanText(u.missing)}`, red: true });
  if (u.extra.length) lines.push({ text: `extra ${vlanText(u.extra)}`, red: true });
  if (u.exists && !u.managed) lines.push({ text: 'not made by podvlan' });
  for (const p of problems.filter((x) => x.code === 'ofport' || x.code === 'error'))
    lines.push({ text: p.code, red: true });
  return { id: boxId.uplink(u), lines, red: problems.length > 0, ...tooltip(problems) };
}

function bridgeBox(b: BridgeView, view: NodeView): GraphBox {
  const lines: GraphLine[] = [{ text: b.name, strong: true }, { text: b.datapathType }];
  if (!b.exists) lines.push({ text: 'missing (run podvlan init)', red: true });
  for (const n of view.networks.filter((x) => x.bridge === b.name)) {
    const used = inUseText(n.inUse);
    lines.push({ text: `${n.name}: ${used || 'no pods'}` });
  }
  return { id: boxId.bridge(b.name), lines, red: !b.exists };
}

function portBox(v: AttachmentView): GraphBox {
  const a = v.attachment;
  const differs = v.problems.some((p) => p.code === 'tag-differs');
  // A pod trunk port (vlan.trunk) has no tag: its trunks, against what setup gave it.
  const trunk = a.trunks !== undefined;
  const recorded = trunk ? a.recordedTrunks : a.vlan;
  const set = differs && recorded !== undefined ? ` (set ${recorded})` : '';
  const vlans = trunk ? `trunk ${a.trunks || 'all'}` : `tag ${a.tag || 'none'}`;
  const lines: GraphLine[] = [
    { text: a.port, strong: true },
    { text: `${a.network} ${vlans}${set}`, red: differs },
  ];
  if (v.ofport !== undefined) lines.push({ text: `ofport ${v.ofport}`, red: v.ofport <= 0 });
  for (const p of v.problems.filter((x) => x.code !== 'tag-differs')) lines.push({ text: p.code, red: true });
  return { id: boxId.port(a.port), lines, red: v.state !== 'ok', ...tooltip(v.problems) };
}

function podBox(views: AttachmentView[]): GraphBox {
  const a = views[0].attachment;
  const cni = a.cniContainerId !== undefined;
  const name = cni ? `${a.k8sNamespace ?? a.namespace}/${a.k8sPod ?? a.pod}` : `${a.namespace}/${a.pod}`;
  const lines: GraphLine[] = [
    { text: name, strong: true },
    { text: cni ? `cni:${a.cniContainerId!.slice(0, 24)}` : `container ${a.containerId.slice(0, 12)}` },
  ];
  for (const v of views) {
    const addresses = v.podInterface?.addresses ?? v.attachment.ips;
    const down = v.podInterface && !v.podInterface.up ? ' (down)' : '';
    const bad = v.state === 'no-veth' || v.state === 'wrong-netns';
    lines.push({
      text: `${v.attachment.interface} ${addresses.join(' ') || '(no address)'}${down}${bad ? ` ${v.state}` : ''}`,
      red: bad,
    });
  }
  const problems = views.flatMap((v) => v.problems);
  return { id: boxId.pod(a), lines, red: views.some((v) => v.state !== 'ok'), ...tooltip(problems) };
}

/** Attachments grouped by pod, pods in the order their first port is drawn (fewer crossings). */
function podsInPortOrder(ports: AttachmentView[]): AttachmentView[][] {
  const pods = new Map<string, AttachmentView[]>();
  for (const v of ports) {
    const key = boxId.pod(v.attachment);
    if (!pods.has(key)) pods.set(key, []);
    pods.get(key)!.push(v);
  }
  return [...pods.values()];
}

const tooltip = (problems: Problem[]) =>
  problems.length ? { tooltip: problems.map((p) => `${p.code}: ${p.message}`).join('; ') } : {};
