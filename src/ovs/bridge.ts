// The bridge and port model podvlan needs: ensure bridges, add access ports atomically, find
// our ports by owner, delete ports. Each call is one transaction (plus one wait for
// ovs-vswitchd where the datapath must have applied the change before we return).
import { ConflictError, NotFoundError, OperationError, UnavailableError } from '../errors';
import { type Attachment, fromExternalIds, MANAGED_KEY, toExternalIds } from './attachment';
import { OvsdbClient, TransactionError } from './client';
import { assertAbsent, comment, type Condition, insert, mutate, type Operation, select, waitUntilPresent } from './ops';
import { decodeOptional, decodeStringMap, decodeUuid, map, namedUuid, set, uuid } from './values';

export interface BridgeSpec { name: string; datapathType: string }
export interface FoundPort { uuid: string; attachment: Attachment }

const byName = (name: string): Condition[] => [['name', '==', name]];
const ALL_ROWS: Condition[] = [];

/** Operations that bump next_cfg and read it back, so we can wait for ovs-vswitchd to catch up. */
function bumpConfig(): Operation[] {
  return [
    mutate('Open_vSwitch', ALL_ROWS, [['next_cfg', '+=', 1]]),
    select('Open_vSwitch', ALL_ROWS, ['next_cfg']),
  ];
}

function nextCfgOf(results: { rows?: Record<string, unknown>[] }[]): number {
  const rows = results[results.length - 1].rows ?? [];
  if (rows.length === 0) throw new OperationError('OVSDB has no Open_vSwitch row (run `ovs-vsctl init` or start openvswitch-switch)');
  return Number(rows[0].next_cfg);
}

/** Wait until ovs-vswitchd has applied configuration `cfg`, then check the named interfaces. */
async function waitApplied(client: OvsdbClient, cfg: number, interfaces: string[], timeoutMs: number): Promise<void> {
  const ops: Operation[] = [
    waitUntilPresent('Open_vSwitch', [['cur_cfg', '>=', cfg]], timeoutMs, ['cur_cfg']),
    ...interfaces.map((name) => select('Interface', byName(name), ['name', 'ofport', 'error'])),
  ];
  let results;
  try {
    results = await client.transact(ops, timeoutMs + 2000);
  } catch (err) {
    if (err instanceof TransactionError && err.failedOp === ops[0]) {
      throw new UnavailableError(`ovs-vswitchd did not apply the change within ${timeoutMs} ms (is ovs-vswitchd running?)`);
    }
    throw err;
  }
  for (let i = 0; i < interfaces.length; i++) {
    const row = results[i + 1].rows?.[0];
    if (!row) continue;
    const ofport = decodeOptional<number>(row.ofport);
    const error = decodeOptional<string>(row.error);
    if (error || ofport === -1) {
      throw new OperationError(`OVS could not attach interface ${interfaces[i]}: ${error ?? 'ofport -1'}`);
    }
  }
}

export async function ensureBridges(client: OvsdbClient, bridges: BridgeSpec[], timeoutMs: number): Promise<string[]> {
  const found = await client.transact(bridges.map((b) => select('Bridge', byName(b.name), ['name', 'datapath_type'])));
  bridges.forEach((b, i) => {
    const row = found[i].rows?.[0];
    const actual = row ? String(row.datapath_type) || 'system' : b.datapathType; // "" means the default, system
    if (actual !== b.datapathType) {
      throw new ConflictError(`OVS bridge ${b.name} exists with datapath_type ${actual}, but the config says ${b.datapathType}`);
    }
  });
  const missing = bridges.filter((_, i) => (found[i].rows ?? []).length === 0);
  if (missing.length === 0) return [];
  await ensureRootRow(client);
  const ops: Operation[] = [comment('podvlan init: create bridges')];
  missing.forEach((b, i) => {
    ops.push(
      assertAbsent('Bridge', byName(b.name)),
      insert('Interface', { name: b.name, type: 'internal' }, `i${i}`),
      insert('Port', { name: b.name, interfaces: namedUuid(`i${i}`) }, `p${i}`),
      insert('Bridge', { name: b.name, ports: namedUuid(`p${i}`), datapath_type: b.datapathType }, `b${i}`),
      mutate('Open_vSwitch', ALL_ROWS, [['bridges', 'insert', set([namedUuid(`b${i}`)])]]),
    );
  });
  ops.push(...bumpConfig());
  const results = await client.transact(ops);
  await waitApplied(client, nextCfgOf(results), [], timeoutMs);
  return missing.map((b) => b.name);
}

/** A freshly created database has no Open_vSwitch row until someone runs `ovs-vsctl init`. */
async function ensureRootRow(client: OvsdbClient): Promise<void> {
  const [root] = await client.transact([select('Open_vSwitch', ALL_ROWS, ['_uuid'])]);
  if ((root.rows ?? []).length > 0) return;
  await client.transact([assertAbsent('Open_vSwitch', ALL_ROWS), insert('Open_vSwitch', {})]);
}

/**
 * Add one access port per attachment, all in one transaction: each port must not exist yet and
 * each bridge must exist, or nothing is changed. Returns once ovs-vswitchd has the ports, with
 * how long ovs-vswitchd took to apply them (its reconfiguration grows with the bridge's ports;
 * our own part does not: no full-table reads).
 */
export async function addAccessPorts(client: OvsdbClient, attachments: Attachment[], timeoutMs: number): Promise<{ applyMs: number }> {
  if (attachments.length === 0) return { applyMs: 0 };
  const ops: Operation[] = [];
  const bridgeChecks = new Map<number, string>();
  const portChecks = new Map<number, string>();
  attachments.forEach((a, i) => {
    bridgeChecks.set(ops.length, a.bridge);
    ops.push(waitUntilPresent('Bridge', byName(a.bridge), 0));
    portChecks.set(ops.length, a.port);
    ops.push(
      assertAbsent('Port', byName(a.port)),
      insert('Interface', { name: a.port }, `i${i}`),
      insert('Port', { name: a.port, interfaces: namedUuid(`i${i}`), tag: a.tag, external_ids: map(toExternalIds(a)) }, `p${i}`),
      mutate('Bridge', byName(a.bridge), [['ports', 'insert', set([namedUuid(`p${i}`)])]]),
    );
  });
  ops.push(...bumpConfig());
  let results;
  try {
    results = await client.transact(ops);
  } catch (err) {
    if (err instanceof TransactionError && err.failedOp) {
      const at = ops.indexOf(err.failedOp);
      if (bridgeChecks.has(at)) throw new NotFoundError(`OVS bridge ${bridgeChecks.get(at)} does not exist (run \`podvlan init\`)`);
      if (portChecks.has(at)) throw new OperationError(`OVS port ${portChecks.get(at)} already exists`);
    }
    throw err;
  }
  const committed = performance.now();
  await waitApplied(client, nextCfgOf(results), attachments.map((a) => a.port), timeoutMs);
  return { applyMs: performance.now() - committed };
}

/** Our ports whose external_ids include every given entry (always restricted to managed ports). */
export async function findPorts(client: OvsdbClient, selector: Record<string, string>): Promise<FoundPort[]> {
  const where: Condition[] = [['external_ids', 'includes', map({ ...selector, [MANAGED_KEY]: 'true' })]];
  const [res] = await client.transact([select('Port', where, ['_uuid', 'name', 'tag', 'external_ids'])]);
  const out: FoundPort[] = [];
  for (const row of res.rows ?? []) {
    const attachment = fromExternalIds(String(row.name), decodeOptional<number>(row.tag), decodeStringMap(row.external_ids));
    if (attachment) out.push({ uuid: decodeUuid(row._uuid), attachment });
  }
  return out;
}

/** Remove ports from whatever bridge holds them; their Port and Interface rows go with them. */
export async function deletePorts(client: OvsdbClient, portUuids: string[]): Promise<void> {
  if (portUuids.length === 0) return;
  const ops = portUuids.map((u) => mutate('Bridge', [['ports', 'includes', set([uuid(u)])]], [['ports', 'delete', set([uuid(u)])]]));
  await client.transact(ops);
}
