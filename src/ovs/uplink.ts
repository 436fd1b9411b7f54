// Uplinks: host interfaces that init makes trunk ports of a bridge, carrying exactly the VLANs of
// the networks on that bridge. Planning reads OVSDB and the host and refuses before anything
// changes; applying is one transaction (plus the wait for ovs-vswitchd), undone if OVS does not
// attach a new uplink. Only ports marked with UPLINK_KEY are ever changed.
import type { Config } from '../config/schema';
import { ConfigError, ConflictError, NotFoundError, OperationError, oneLine } from '../errors';
import { declaredVlans, vlanListText, vlansOf } from '../ipam/vlan';
import type { HostLinks } from '../net/host-links';
import { bumpConfig, nextCfgOf, waitApplied } from './bridge';
import type { OvsdbClient } from './client';
import { assertAbsent, comment, type Condition, insert, mutate, type Operation, select } from './ops';
import { decodeOptional, decodeSet, decodeStringMap, decodeUuid, map, namedUuid, set, uuid } from './values';

export const UPLINK_KEY = 'podvlan/uplink';
const UPLINK_BRIDGE_KEY = 'podvlan/bridge';

export interface UplinkSpec {
  bridge: string;
  name: string;
  vlans: number[]; // sorted, never empty: OVS reads an empty trunks as "every VLAN"
  mtu?: number;
}

export interface UplinkChange {
  spec: UplinkSpec;
  action: 'add' | 'update' | 'unchanged';
  portUuid?: string;
  interfaceUuid?: string;
  addVlans: number[];
  removeVlans: number[];
  mtuFrom?: number; // the Interface's mtu_request before, when init changes it
  setMtu: boolean;
}

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

/** Read OVSDB and the host; refuse (one line, nothing changed) any uplink init must not touch. */
export async function planUplinks(client: OvsdbClient, specs: UplinkSpec[], host: HostLinks): Promise<UplinkChange[]> {
  if (specs.length === 0) return [];
  const ops: Operation[] = [select('Bridge', [], ['name', 'ports'])];
  for (const s of specs) {
    ops.push(select('Port', byName(s.name), ['_uuid', 'trunks', 'external_ids']));
    ops.push(select('Interface', byName(s.name), ['_uuid', 'mtu_request']));
  }
  const results = await client.transact(ops);
  const bridgeOfPort = new Map<string, string>();
  for (const row of results[0].rows ?? [])
    for (const p of decodeSet(row.ports)) bridgeOfPort.set(decodeUuid(p), String(row.name));
  return specs.map((spec, i) => {
    const port = results[1 + 2 * i].rows?.[0];
    const iface = results[2 + 2 * i].rows?.[0];
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
    if (on !== undefined && on !== spec.bridge)
      throw new ConflictError(
        `${where}: ${spec.name} is already a port of OVS bridge ${on}: remove it there ` +
          `(ovs-vsctl del-port ${on} ${spec.name}) or pick another interface`,
      );
    if (decodeStringMap(port.external_ids)[UPLINK_KEY] !== 'true')
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
      action: changed ? 'update' : 'unchanged',
      portUuid,
      interfaceUuid: iface ? decodeUuid(iface._uuid) : undefined,
      addVlans,
      removeVlans,
      mtuFrom: mtuNow,
      setMtu,
    };
  });
}

/** Apply the plan in one transaction; new uplinks that ovs-vswitchd does not attach are removed again. */
export async function applyUplinks(client: OvsdbClient, changes: UplinkChange[], timeoutMs: number): Promise<void> {
  const todo = changes.filter((c) => c.action !== 'unchanged');
  if (todo.length === 0) return;
  const ops: Operation[] = [comment('podvlan init: uplinks')];
  const portInserts = new Map<UplinkChange, Operation>();
  todo.forEach((c, i) => {
    const { spec } = c;
    if (c.action === 'add') {
      const iface = { name: spec.name, ...(spec.mtu !== undefined ? { mtu_request: spec.mtu } : {}) };
      const portRow = {
        name: spec.name,
        interfaces: namedUuid(`ui${i}`),
        trunks: set(spec.vlans),
        vlan_mode: 'trunk',
        external_ids: map({ [UPLINK_KEY]: 'true', [UPLINK_BRIDGE_KEY]: spec.bridge }),
      };
      const portOp = insert('Port', portRow, `up${i}`);
      portInserts.set(c, portOp);
      ops.push(
        assertAbsent('Port', byName(spec.name)),
        insert('Interface', iface, `ui${i}`),
        portOp,
        mutate('Bridge', byName(spec.bridge), [['ports', 'insert', set([namedUuid(`up${i}`)])]]),
      );
      return;
    }
    // Only the VLANs that differ: a port's other columns (and other ports) stay as they are.
    if (c.addVlans.length > 0) ops.push(mutate('Port', byUuid(c.portUuid!), [['trunks', 'insert', set(c.addVlans)]]));
    if (c.removeVlans.length > 0)
      ops.push(mutate('Port', byUuid(c.portUuid!), [['trunks', 'delete', set(c.removeVlans)]]));
    if (c.setMtu && c.interfaceUuid)
      ops.push({ op: 'update', table: 'Interface', where: byUuid(c.interfaceUuid), row: { mtu_request: spec.mtu! } });
  });
  ops.push(...bumpConfig());
  const results = await client.transact(ops);
  const added = [...portInserts].map(([c, op]) => ({ c, uuid: decodeUuid(results[ops.indexOf(op)].uuid) }));
  const expected = todo.map((c) => ({ name: c.spec.name, bridge: c.spec.bridge }));
  try {
    await waitApplied(client, nextCfgOf(results), expected, timeoutMs);
  } catch (err) {
    const undo = [
      ...added.map((a) => mutate('Bridge', byName(a.c.spec.bridge), [['ports', 'delete', set([uuid(a.uuid)])]])),
      ...todo.flatMap((c) => undoUpdate(c)),
    ];
    try {
      await client.transact(undo);
    } catch (undoErr) {
      throw new OperationError(`${oneLine(err)}; and undoing the uplink changes failed: ${oneLine(undoErr)}`);
    }
    throw err;
  }
}

function undoUpdate(c: UplinkChange): Operation[] {
  if (c.action !== 'update') return [];
  const ops: Operation[] = [];
  if (c.addVlans.length > 0) ops.push(mutate('Port', byUuid(c.portUuid!), [['trunks', 'delete', set(c.addVlans)]]));
  if (c.removeVlans.length > 0)
    ops.push(mutate('Port', byUuid(c.portUuid!), [['trunks', 'insert', set(c.removeVlans)]]));
  if (c.setMtu && c.interfaceUuid)
    ops.push({
      op: 'update',
      table: 'Interface',
      where: byUuid(c.interfaceUuid),
      row: { mtu_request: set(c.mtuFrom === undefined ? [] : [c.mtuFrom]) },
    });
  return ops;
}

/** "22,100-199": a VLAN list as ranges. */
export const vlanText = vlanListText;

/** One line per uplink: what init did (or, with `would`, would do). */
export function describeChange(c: UplinkChange, would: boolean): string {
  const at = `uplink ${c.spec.name} on ${c.spec.bridge}`;
  const mtu = c.setMtu ? `, mtu ${c.mtuFrom ?? 'default'} -> ${c.spec.mtu}` : '';
  if (c.action === 'add') return `${at}: ${would ? 'would add' : 'added'}, trunks ${vlanText(c.spec.vlans)}${mtu}`;
  if (c.action === 'unchanged') return `${at}: unchanged, trunks ${vlanText(c.spec.vlans)}`;
  const delta = [
    ...(c.addVlans.length ? [`+${vlanText(c.addVlans)}`] : []),
    ...(c.removeVlans.length ? [`-${vlanText(c.removeVlans)}`] : []),
  ].join(' ');
  return `${at}: ${would ? 'would change' : 'changed'}${delta ? ` trunks ${delta}` : ''}${mtu}`;
}
