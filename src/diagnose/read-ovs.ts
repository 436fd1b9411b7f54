// What diagnose reads of OVSDB for one path, in one transaction: the two ports by name (ours or
// not), their Interface rows, and the bridges with their ports. Selects only.
import { MANAGED_KEY } from '../ovs/attachment';
import type { OvsdbClient } from '../ovs/client';
import { select } from '../ovs/ops';
import { decodeOptional, decodeSet, decodeStringMap, decodeUuid } from '../ovs/values';
import type { PortFacts } from './facts';

export interface OvsPathFacts {
  ports: Map<string, PortFacts>; // by name; absent: no Port row
  bridges: Map<string, { datapathType: string }>;
}

export async function readPathOvs(client: OvsdbClient, names: string[]): Promise<OvsPathFacts> {
  const results = await client.transact([
    select('Bridge', [], ['name', 'ports', 'datapath_type']),
    ...names.flatMap((n) => [
      select('Port', [['name', '==', n]], ['_uuid', 'tag', 'trunks', 'vlan_mode', 'external_ids']),
      select('Interface', [['name', '==', n]], ['ofport', 'error', 'link_state', 'admin_state', 'mtu']),
    ]),
  ]);
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
  return { ports, bridges };
}
