// What diagnose reads of OVSDB for one path, in one transaction: the ports by name (the two
// pods', the uplinks; ours or not), their Interface rows, the bridges with their ports, and, for
// a destination on another node, the ports init marked as uplinks. Selects only.
import { MANAGED_KEY } from '../ovs/attachment';
import type { OvsdbClient } from '../ovs/client';
import { type Operation, select } from '../ovs/ops';
import { UPLINK_KEY } from '../ovs/uplink';
import { decodeOptional, decodeSet, decodeStringMap, decodeUuid, map } from '../ovs/values';
import type { PortFacts } from './facts';

export interface OvsPathFacts {
  ports: Map<string, PortFacts>; // by name; absent: no Port row
  bridges: Map<string, { datapathType: string }>;
  marked: { name: string; bridge?: string }[]; // ports marked podvlan/uplink (when asked for)
}

export async function readPathOvs(client: OvsdbClient, names: string[], markedUplinks = false): Promise<OvsPathFacts> {
  const ops: Operation[] = [
    select('Bridge', [], ['name', 'ports', 'datapath_type']),
    ...names.flatMap((n) => [
      select('Port', [['name', '==', n]], ['_uuid', 'tag', 'trunks', 'vlan_mode', 'external_ids']),
      select('Interface', [['name', '==', n]], ['ofport', 'error', 'link_state', 'admin_state', 'mtu']),
    ]),
  ];
  if (markedUplinks)
    ops.push(select('Port', [['external_ids', 'includes', map({ [UPLINK_KEY]: 'true' })]], ['_uuid', 'name']));
  const results = await client.transact(ops);
  const bridges = new Map<string, { datapathType: string }>();
  const bridgeOf = new Map<string, string>(); // Port uuid -> bridge name
  for (const r of results[0].rows ?? []) {
    bridges.set(String(r.name), { datapathType: String(r.datapath_type ?? '') || 'system' });
    for (const u of decodeSet(r.ports)) bridgeOf.set(decodeUuid(u), String(r.name));
  }
  const ports = new Map<string, PortFacts>();
  names.forEach((name, i) => {
    const port = results[1 + 2 * i].rows?.[0];
    if (!port) return;
    const iface = results[2 + 2 * i].rows?.[0] ?? {};
    const ids = decodeStringMap(port.external_ids);
    const opt = <T extends string | number>(v: unknown) => (v === undefined ? undefined : decodeOptional<T>(v));
    const facts: PortFacts = {
      name,
      bridge: bridgeOf.get(decodeUuid(port._uuid)),
      tag: opt<number>(port.tag),
      trunks: decodeSet<number>(port.trunks).map(Number),
      vlanMode: opt<string>(port.vlan_mode),
      ofport: opt<number>(iface.ofport),
      error: opt<string>(iface.error),
      linkState: opt<string>(iface.link_state),
      adminState: opt<string>(iface.admin_state),
      mtu: opt<number>(iface.mtu),
      managed: ids[MANAGED_KEY] === 'true',
      containerId: ids['podvlan/containerId'],
    };
    ports.set(name, JSON.parse(JSON.stringify(facts))); // without the undefined members
  });
  const marked = markedUplinks
    ? (results[results.length - 1].rows ?? []).map((r) => ({
        name: String(r.name),
        bridge: bridgeOf.get(decodeUuid(r._uuid)),
      }))
    : [];
  return { ports, bridges, marked };
}
