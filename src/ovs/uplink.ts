// Uplinks: host interfaces that init makes trunk ports of a bridge, carrying exactly the VLANs of
// the networks on that bridge. Planning (here) reads OVSDB and the host and refuses before anything
// changes; applying (uplink-apply.ts) is one transaction plus the wait for ovs-vswitchd. Only ports
// podvlan made are ever changed, moved or removed: marked UPLINK_KEY=true, and (to move or remove
// one) still on the bridge UPLINK_BRIDGE_KEY names. One config per node: an uplink podvlan made
// that the config no longer lists, on whatever bridge, is removed.
import type { Config } from '../config/schema';
import { ConfigError, ConflictError, NotFoundError } from '../errors';
import { declaredVlans, vlanListText, vlansOf } from '../ipam/vlan';
import type { HostLinks } from '../net/host-links';
import type { OvsdbClient } from './client';
import type { Condition, Operation } from './ops';
import { select } from './ops';
import { decodeOptional, decodeSet, decodeStringMap, decodeUuid, map, uuid } from './values';

export const UPLINK_KEY = 'podvlan/uplink';
export const UPLINK_BRIDGE_KEY = 'podvlan/bridge';

export interface UplinkSpec {
  bridge: string;
  name: string;
  vlans: number[]; // sorted, never empty: OVS reads an empty trunks as "every VLAN"
  mtu?: number;
}

export interface UplinkChange {
  spec: UplinkSpec; // remove: the bridge it is on and the trunks it has
  action: 'add' | 'update' | 'move' | 'remove' | 'unchanged';
  portUuid?: string;
  interfaceUuid?: string;
  fromBridge?: string; // move: the bridge podvlan put it on, which the config no longer lists it for
  addVlans: number[];
  removeVlans: number[];
  mtuFrom?: number; // the Interface's mtu_request before, when init changes it
  setMtu: boolean;
  removed?: RemovedRows; // remove: the rows as they were, to put back if the change is undone
}

/** An uplink's Port and Interface rows as read (OVSDB wire form), without _uuid. */
export interface RemovedRows {
  port: Record<string, unknown>;
  interfaces: Record<string, unknown>[];
}
// What an undo puts back: the columns podvlan sets, and the maps an operator may have added to.
const PORT_COLUMNS = ['name', 'interfaces', 'trunks', 'tag', 'vlan_mode', 'external_ids', 'other_config'];
const INTERFACE_COLUMNS = ['name', 'type', 'options', 'mtu_request', 'external_ids', 'other_config'];

/** The uplinks the config asks for, each with the VLANs of its bridge's networks. */
export function uplinkSpecs(config: Pick<Config, 'networks' | 'bridges'>): UplinkSpec[] {
  const specs: UplinkSpec[] = [];
  for (const b of config.bridges) {
    if (b.uplinks.length === 0) continue;
    const vlans = new Set<number>();
    const networks = config.networks.filter((n) => n.bridge === b.name);
    for (const n of networks) {
      const r = declaredVlans(n.vlan);
      // A range-less pod-name (or annotation) network may use any tag no other network declares:
      // an uplink would have to carry 1-4094, every VLAN of the wire. Refuse; ask for the range.
      if (!r)
        throw new ConfigError(
          `bridge ${b.name} has uplinks, but network ${n.name} reads its VLAN from pods without a range: ` +
            'declare vlan.range (e.g. "20-99") so init knows which VLANs the uplinks carry',
        );
      for (const v of vlansOf(r)) vlans.add(v); // a pod trunk's VLANs too: its pods tag their own frames
    }
    if (vlans.size === 0)
      throw new ConfigError(
        `bridge ${b.name} has uplinks but no network on it: an uplink without VLANs would carry every VLAN ` +
          '(OVS reads empty trunks so); add a network on the bridge or drop its uplinks',
      );
    const sorted = [...vlans].sort((x, y) => x - y);
    for (const name of b.uplinks) specs.push({ bridge: b.name, name, vlans: sorted, mtu: b.mtu });
  }
  return specs;
}

const byName = (name: string): Condition[] => [['name', '==', name]];
const byUuid = (id: string): Condition[] => [['_uuid', '==', uuid(id)]];

/**
 * Read OVSDB and the host; refuse (one line, nothing changed) any uplink init must not touch.
 * Besides one change per spec: a 'remove' for each uplink podvlan made that no spec names.
 */
export async function planUplinks(client: OvsdbClient, specs: UplinkSpec[], host: HostLinks): Promise<UplinkChange[]> {
  const ops: Operation[] = [
    select('Bridge', [], ['name', 'ports']),
    select('Port', [['external_ids', 'includes', map({ [UPLINK_KEY]: 'true' })]], ['_uuid', ...PORT_COLUMNS]),
  ];
  for (const s of specs) {
    ops.push(select('Port', byName(s.name), ['_uuid', 'trunks', 'external_ids']));
    ops.push(select('Interface', byName(s.name), ['_uuid', 'mtu_request']));
  }
  const results = await client.transact(ops);
  const bridgeOfPort = new Map<string, string>();
  for (const row of results[0].rows ?? [])
    for (const p of decodeSet(row.ports)) bridgeOfPort.set(decodeUuid(p), String(row.name));
  // podvlan's in place: marked, and on the bridge the mark names (not moved there by hand).
  const madeHere = (portUuid: string, ids: Record<string, string>): string | undefined => {
    const on = bridgeOfPort.get(portUuid);
    return ids[UPLINK_KEY] === 'true' && on !== undefined && ids[UPLINK_BRIDGE_KEY] === on ? on : undefined;
  };
  const changes = specs.map((spec, i): UplinkChange => {
    const port = results[2 + 2 * i].rows?.[0];
    const iface = results[3 + 2 * i].rows?.[0];
    const where = `uplink ${spec.name} of bridge ${spec.bridge}`;
    const mtuNow = iface ? decodeOptional<number>(iface.mtu_request) : undefined;
    const setMtu = spec.mtu !== undefined && mtuNow !== spec.mtu;
    if (!port) {
      if (iface)
        throw new ConflictError(
          `${where}: OVSDB has an Interface ${spec.name} without a port podvlan made: remove it (ovs-vsctl del-port)`,
        );
      if (!host.exists(spec.name))
        throw new NotFoundError(
          `${where}: no interface ${spec.name} on this node: create it, or fix bridges[].uplinks`,
        );
      const addresses = host.addresses(spec.name);
      if (addresses.length > 0)
        throw new ConflictError(
          `${where}: ${spec.name} carries this node's address ${addresses.join(', ')}: as an OVS port it would ` +
            'cut the node off that network; move the address off it or pick another interface',
        );
      if (host.carriesDefaultRoute(spec.name))
        throw new ConflictError(
          `${where}: the node's default route goes out of ${spec.name}: as an OVS port it would cut the node off; ` +
            'pick another interface',
        );
      return { spec, action: 'add', addVlans: spec.vlans, removeVlans: [], setMtu: spec.mtu !== undefined };
    }
    const portUuid = decodeUuid(port._uuid);
    const on = bridgeOfPort.get(portUuid);
    const ids = decodeStringMap(port.external_ids);
    // One podvlan made on another bridge, which the config now lists under this one: moved.
    const fromBridge = on !== undefined && on !== spec.bridge ? madeHere(portUuid, ids) : undefined;
    if (on !== undefined && on !== spec.bridge && fromBridge === undefined)
      throw new ConflictError(
        `${where}: ${spec.name} is already a port of OVS bridge ${on}: remove it there ` +
          `(ovs-vsctl del-port ${on} ${spec.name}) or pick another interface`,
      );
    if (ids[UPLINK_KEY] !== 'true')
      throw new ConflictError(
        `${where}: OVS port ${spec.name} exists and podvlan did not make it (no external_ids ${UPLINK_KEY}=true): ` +
          `remove it (ovs-vsctl del-port ${spec.name}) to let init make it, or leave it out of bridges[].uplinks`,
      );
    const have = new Set(decodeSet<number>(port.trunks));
    const want = new Set(spec.vlans);
    const addVlans = spec.vlans.filter((v) => !have.has(v));
    const removeVlans = [...have].filter((v) => !want.has(v)).sort((x, y) => x - y);
    const changed = addVlans.length > 0 || removeVlans.length > 0 || setMtu;
    return {
      spec,
      action: fromBridge ? 'move' : changed ? 'update' : 'unchanged',
      portUuid,
      fromBridge,
      interfaceUuid: iface ? decodeUuid(iface._uuid) : undefined,
      addVlans,
      removeVlans,
      mtuFrom: mtuNow,
      setMtu,
    };
  });
  const listed = new Set(specs.map((s) => s.name));
  const stale = (results[1].rows ?? []).filter(
    (r) => !listed.has(String(r.name)) && madeHere(decodeUuid(r._uuid), decodeStringMap(r.external_ids)),
  );
  return [...changes, ...(await removals(client, stale, bridgeOfPort))];
}

/** A 'remove' per stale uplink, with its rows as they are (their interfaces read in one more round trip). */
async function removals(
  client: OvsdbClient,
  ports: Record<string, unknown>[],
  bridgeOfPort: Map<string, string>,
): Promise<UplinkChange[]> {
  if (ports.length === 0) return [];
  const ifaceUuids = ports.map((p) => decodeSet(p.interfaces).map(decodeUuid));
  const results = await client.transact(
    ifaceUuids.flat().map((u) => select('Interface', byUuid(u), INTERFACE_COLUMNS)),
  );
  let next = 0;
  return ports.map((p, i) => {
    const portUuid = decodeUuid(p._uuid);
    const { _uuid, ...port } = p;
    const interfaces = ifaceUuids[i].map(() => results[next++].rows?.[0]).filter((r) => r !== undefined);
    const vlans = decodeSet<number>(p.trunks).sort((x, y) => x - y);
    return {
      spec: { bridge: bridgeOfPort.get(portUuid)!, name: String(p.name), vlans },
      action: 'remove',
      portUuid,
      addVlans: [],
      removeVlans: vlans,
      setMtu: false,
      removed: { port, interfaces },
    };
  });
}

/** "22,100-199": a VLAN list as ranges. */
export const vlanText = vlanListText;

/** One line per uplink: what init did (or, with `would`, would do). */
export function describeChange(c: UplinkChange, would: boolean): string {
  const at = `uplink ${c.spec.name} on ${c.spec.bridge}`;
  const mtu = c.setMtu ? `, mtu ${c.mtuFrom ?? 'default'} -> ${c.spec.mtu}` : '';
  const trunks = vlanText(c.spec.vlans) || 'none';
  if (c.action === 'add') return `${at}: ${would ? 'would add' : 'added'}, trunks ${trunks}${mtu}`;
  if (c.action === 'unchanged') return `${at}: unchanged, trunks ${trunks}`;
  if (c.action === 'remove')
    return `${at}: ${would ? 'would remove' : 'removed'} (no longer in bridges[].uplinks), trunks were ${trunks}`;
  const delta = [
    ...(c.addVlans.length ? [`+${vlanText(c.addVlans)}`] : []),
    ...(c.removeVlans.length ? [`-${vlanText(c.removeVlans)}`] : []),
  ].join(' ');
  if (c.action === 'move')
    return `${at}: ${would ? 'would move' : 'moved'} from ${c.fromBridge}${delta ? `, trunks ${delta}` : ''}${mtu}`;
  return `${at}: ${would ? 'would change' : 'changed'}${delta ? ` trunks ${delta}` : ''}${mtu}`;
}
