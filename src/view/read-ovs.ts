// What the views read of OVSDB, in one transaction (one consistent snapshot, one round trip):
// the bridges and their ports, podvlan's pod ports (by the rules findPorts reads them: the
// managed mark, then fromExternalIds' checks), uplink ports (marked by init, or named by the
// config), and the Interface rows' ofport, error and mtu as ovs-vswitchd reports them. Selects only.
import { type Attachment, fromExternalIds, MANAGED_KEY } from '../ovs/attachment';
import type { OvsdbClient } from '../ovs/client';
import { type Condition, select } from '../ovs/ops';
import { UPLINK_KEY } from '../ovs/uplink';
import { decodeOptional, decodeSet, decodeStringMap, decodeUuid, map } from '../ovs/values';

export interface OvsBridge {
  datapathType: string; // "" read as system
  ports: Set<string>; // Port uuids
}
export interface OvsInterface {
  ofport?: number;
  error?: string;
  mtu?: number;
}
export interface OvsPodPort {
  uuid: string;
  attachment: Attachment;
}
export interface OvsUplinkPort {
  uuid: string;
  name: string;
  trunks: number[]; // sorted
  vlanMode?: string;
  tag?: number;
  managed: boolean; // podvlan/uplink=true
  markedBridge?: string; // podvlan/bridge, as init wrote it
}
export interface OvsSnapshot {
  bridges: Map<string, OvsBridge>;
  podPorts: OvsPodPort[];
  uplinkPorts: Map<string, OvsUplinkPort>; // by name
  interfaces: Map<string, OvsInterface>; // by name
}

const ALL: Condition[] = [];
const PORT_COLUMNS = ['_uuid', 'name', 'trunks', 'vlan_mode', 'tag', 'external_ids'];

/** `uplinkNames`: the configured uplinks, read whether or not init marked them. */
export async function readOvs(client: OvsdbClient, uplinkNames: string[]): Promise<OvsSnapshot> {
  const named = [...new Set(uplinkNames)];
  const results = await client.transact([
    select('Bridge', ALL, ['name', 'ports', 'datapath_type']),
    select('Interface', ALL, ['name', 'ofport', 'error', 'mtu']),
    select(
      'Port',
      [['external_ids', 'includes', map({ [MANAGED_KEY]: 'true' })]],
      ['_uuid', 'name', 'tag', 'trunks', 'external_ids'],
    ),
    select('Port', [['external_ids', 'includes', map({ [UPLINK_KEY]: 'true' })]], PORT_COLUMNS),
    ...named.map((n) => select('Port', [['name', '==', n]], PORT_COLUMNS)),
  ]);
  const rows = (i: number) => results[i].rows ?? [];
  const bridges = new Map<string, OvsBridge>();
  for (const r of rows(0))
    bridges.set(String(r.name), {
      datapathType: String(r.datapath_type ?? ''),
      ports: new Set(decodeSet(r.ports).map((u) => decodeUuid(u))),
    });
  const interfaces = new Map<string, OvsInterface>();
  for (const r of rows(1)) {
    const ofport = decodeOptional<number>(r.ofport);
    const error = decodeOptional<string>(r.error);
    const mtu = decodeOptional<number>(r.mtu);
    interfaces.set(String(r.name), {
      ...(ofport !== undefined ? { ofport } : {}),
      ...(error ? { error } : {}),
      ...(mtu !== undefined ? { mtu } : {}),
    });
  }
  const podPorts: OvsPodPort[] = [];
  for (const r of rows(2)) {
    // The trunks column too: a pod trunk port is judged by it against podvlan/trunks (without it,
    // every trunk port would read as emptied by hand, "trunk all", tag-differs).
    const attachment = fromExternalIds(
      String(r.name),
      decodeOptional<number>(r.tag),
      decodeStringMap(r.external_ids),
      decodeSet<number>(r.trunks).map(Number),
    );
    if (attachment) podPorts.push({ uuid: decodeUuid(r._uuid), attachment });
  }
  const uplinkPorts = new Map<string, OvsUplinkPort>();
  for (let i = 3; i < results.length; i++) for (const r of rows(i)) uplinkPorts.set(String(r.name), uplinkPort(r));
  return { bridges, podPorts, uplinkPorts, interfaces };
}

function uplinkPort(r: Record<string, unknown>): OvsUplinkPort {
  const ids = decodeStringMap(r.external_ids);
  const vlanMode = decodeOptional<string>(r.vlan_mode);
  const tag = decodeOptional<number>(r.tag);
  return {
    uuid: decodeUuid(r._uuid),
    name: String(r.name),
    trunks: decodeSet<number>(r.trunks)
      .map(Number)
      .sort((a, b) => a - b),
    ...(vlanMode ? { vlanMode } : {}),
    ...(tag !== undefined ? { tag } : {}),
    managed: ids[UPLINK_KEY] === 'true',
    ...(ids['podvlan/bridge'] ? { markedBridge: ids['podvlan/bridge'] } : {}),
  };
}

/** The bridge whose ports include the Port row `uuid`, if any. */
export function bridgeOfPort(snapshot: OvsSnapshot, uuid: string): string | undefined {
  for (const [name, b] of snapshot.bridges) if (b.ports.has(uuid)) return name;
  return undefined;
}
