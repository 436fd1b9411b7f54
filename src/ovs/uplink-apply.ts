// Applying an uplink plan (uplink.ts): every change in one OVSDB transaction, then the wait for
// ovs-vswitchd. If ovs-vswitchd does not apply it (or does not attach an uplink), the whole change
// is undone in one more transaction: new uplinks taken off, trunks, MTUs and marks set back, moved
// uplinks put back on their bridge, removed ones made again from the rows read before.
import { OperationError, oneLine } from '../errors';
import { bumpConfig, nextCfgOf, waitApplied } from './bridge';
import type { OvsdbClient } from './client';
import { assertAbsent, comment, type Condition, insert, mutate, type Operation, type Row } from './ops';
import { UPLINK_BRIDGE_KEY, UPLINK_KEY, type UplinkChange } from './uplink';
import { decodeUuid, map, namedUuid, set, uuid } from './values';

const byName = (name: string): Condition[] => [['name', '==', name]];
const byUuid = (id: string): Condition[] => [['_uuid', '==', uuid(id)]];
const portsOf = (bridge: string, mutator: 'insert' | 'delete', port: Parameters<typeof set>[0][number]) =>
  mutate('Bridge', byName(bridge), [['ports', mutator, set([port])]]);

/** Apply the plan in one transaction; undone (one more) if ovs-vswitchd does not apply it. */
export async function applyUplinks(client: OvsdbClient, changes: UplinkChange[], timeoutMs: number): Promise<void> {
  const todo = changes.filter((c) => c.action !== 'unchanged');
  if (todo.length === 0) return;
  const ops: Operation[] = [comment('podvlan init: uplinks')];
  const portInserts = new Map<UplinkChange, Operation>();
  todo.forEach((c, i) => {
    const { spec } = c;
    if (c.action === 'remove') {
      // No reference left: OVSDB drops the Port and its Interface with it.
      ops.push(portsOf(spec.bridge, 'delete', uuid(c.portUuid!)));
      return;
    }
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
        portsOf(spec.bridge, 'insert', namedUuid(`up${i}`)),
      );
      return;
    }
    // update, move: only the VLANs that differ; a port's other columns (and other ports) stay as they are.
    ops.push(...trunkOps(c, false));
    if (c.setMtu && c.interfaceUuid)
      ops.push({ op: 'update', table: 'Interface', where: byUuid(c.interfaceUuid), row: { mtu_request: spec.mtu! } });
    if (c.action === 'move') ops.push(...moveOps(c, c.fromBridge!, spec.bridge));
  });
  ops.push(...bumpConfig());
  const results = await client.transact(ops);
  const added = [...portInserts].map(([c, op]) => ({ c, uuid: decodeUuid(results[ops.indexOf(op)].uuid) }));
  const expected = todo.filter((c) => c.action !== 'remove').map((c) => ({ name: c.spec.name, bridge: c.spec.bridge }));
  try {
    await waitApplied(client, nextCfgOf(results), expected, timeoutMs);
  } catch (err) {
    const undo = [
      ...added.map((a) => portsOf(a.c.spec.bridge, 'delete', uuid(a.uuid))),
      ...todo.flatMap((c, i) => undoOps(c, i)),
    ];
    try {
      await client.transact(undo);
    } catch (undoErr) {
      throw new OperationError(`${oneLine(err)}; and undoing the uplink changes failed: ${oneLine(undoErr)}`);
    }
    throw err;
  }
}

/** The trunk mutations of an update or move, or (undo) their reverse. */
function trunkOps(c: UplinkChange, undo: boolean): Operation[] {
  const [add, remove] = undo ? [c.removeVlans, c.addVlans] : [c.addVlans, c.removeVlans];
  const ops: Operation[] = [];
  if (add.length > 0) ops.push(mutate('Port', byUuid(c.portUuid!), [['trunks', 'insert', set(add)]]));
  if (remove.length > 0) ops.push(mutate('Port', byUuid(c.portUuid!), [['trunks', 'delete', set(remove)]]));
  return ops;
}

/** The port row leaves one bridge for the other, and its mark follows. */
function moveOps(c: UplinkChange, from: string, to: string): Operation[] {
  const port = uuid(c.portUuid!);
  return [
    portsOf(from, 'delete', port),
    portsOf(to, 'insert', port),
    mutate('Port', byUuid(c.portUuid!), [
      ['external_ids', 'delete', set([UPLINK_BRIDGE_KEY])],
      ['external_ids', 'insert', map({ [UPLINK_BRIDGE_KEY]: to })],
    ]),
  ];
}

function undoOps(c: UplinkChange, i: number): Operation[] {
  if (c.action === 'remove') return recreate(c, i);
  if (c.action !== 'update' && c.action !== 'move') return [];
  const ops = trunkOps(c, true);
  if (c.setMtu && c.interfaceUuid)
    ops.push({
      op: 'update',
      table: 'Interface',
      where: byUuid(c.interfaceUuid),
      row: { mtu_request: set(c.mtuFrom === undefined ? [] : [c.mtuFrom]) },
    });
  if (c.action === 'move') ops.push(...moveOps(c, c.spec.bridge, c.fromBridge!));
  return ops;
}

/** A removed uplink made again from the rows read before: new rows, the same columns. */
function recreate(c: UplinkChange, i: number): Operation[] {
  const { port, interfaces } = c.removed!;
  const names = interfaces.map((_, k) => `ri${i}_${k}`);
  return [
    assertAbsent('Port', byName(c.spec.name)),
    ...interfaces.map((row, k) => insert('Interface', row as Row, names[k])),
    insert('Port', { ...(port as Row), interfaces: set(names.map(namedUuid)) }, `rp${i}`),
    portsOf(c.spec.bridge, 'insert', namedUuid(`rp${i}`)),
  ];
}
