// The bridge and port model podvlan needs: ensure bridges, add access ports atomically, find
// our ports by owner, delete ports. Each call is one transaction (plus one wait for
// ovs-vswitchd where the datapath must have applied the change before we return).
import { ConflictError, NotFoundError, OperationError, oneLine, UnavailableError } from '../errors';
import { type Attachment, fromExternalIds, MANAGED_KEY, toExternalIds } from './attachment';
import { type OvsdbClient, TransactionError } from './client';
import {
  assertAbsent,
  comment,
  type Condition,
  insert,
  mutate,
  type Operation,
  type OperationResult,
  type Row,
  select,
  waitUntilPresent,
} from './ops';
import { decodeOptional, decodeSet, decodeStringMap, decodeUuid, map, namedUuid, set, uuid } from './values';
import { parseVlanTrunk, vlansOf } from '../ipam/vlan';

export interface BridgeSpec {
  name: string;
  datapathType: string;
}
export interface FoundPort {
  uuid: string;
  attachment: Attachment;
}

const byName = (name: string): Condition[] => [['name', '==', name]];
const ALL_ROWS: Condition[] = [];

/** Operations that bump next_cfg and read it back, so we can wait for ovs-vswitchd to catch up. */
export function bumpConfig(): Operation[] {
  return [mutate('Open_vSwitch', ALL_ROWS, [['next_cfg', '+=', 1]]), select('Open_vSwitch', ALL_ROWS, ['next_cfg'])];
}

export function nextCfgOf(results: { rows?: Record<string, unknown>[] }[]): number {
  const rows = results[results.length - 1].rows ?? [];
  if (rows.length === 0)
    throw new OperationError('OVSDB has no Open_vSwitch row (run `ovs-vsctl init` or start openvswitch-switch)');
  return Number(rows[0].next_cfg);
}

/** Something ovs-vswitchd should have attached: a pod's port on a bridge, or a bridge's own interface. */
export interface Expected {
  name: string;
  bridge: string;
}

/**
 * Wait until ovs-vswitchd has applied configuration `cfg`, then check what it should have
 * attached: one transaction, so setup pays no extra round trip for the check.
 */
export async function waitApplied(
  client: OvsdbClient,
  cfg: number,
  expected: Expected[],
  timeoutMs: number,
): Promise<void> {
  const check = attachCheck(expected);
  const wait = waitUntilPresent('Open_vSwitch', [['cur_cfg', '>=', cfg]], timeoutMs, ['cur_cfg']);
  let results: Awaited<ReturnType<OvsdbClient['transact']>>;
  try {
    results = await client.transact([wait, ...check.ops], timeoutMs + 2000);
  } catch (err) {
    if (err instanceof TransactionError && err.failedOp === wait) {
      throw new UnavailableError(
        `ovs-vswitchd did not apply the change within ${timeoutMs} ms (is ovs-vswitchd running?)`,
      );
    }
    throw err;
  }
  const failure = check.judge(results.slice(1));
  if (failure) throw new OperationError(failure);
}

/**
 * The selects that tell whether each of `expected` is attached, and the judge of their results:
 * one line saying why not, or undefined when all are. ovs-vswitchd gives an attached interface a
 * positive ofport; -1 or a set error means it tried and failed; an empty ofport means it never
 * took the bridge (a system datapath without its kernel module). Bridges are judged first: a
 * bridge that is not up explains all its ports.
 */
interface AttachCheck {
  ops: Operation[];
  judge: (results: OperationResult[]) => string | undefined;
}

function attachCheck(expected: Expected[]): AttachCheck {
  const bridges = [...new Set(expected.map((e) => e.bridge))];
  const names = [...new Set([...bridges, ...expected.map((e) => e.name)])];
  const ops = [
    ...bridges.map((b) => select('Bridge', byName(b), ['datapath_type'])),
    ...names.map((n) => select('Interface', byName(n), ['ofport', 'error'])),
  ];
  const judge = (results: OperationResult[]): string | undefined => {
    const datapath = new Map(bridges.map((b, i) => [b, String(results[i].rows?.[0]?.datapath_type ?? '') || 'system']));
    const row = new Map(names.map((n, i) => [n, results[bridges.length + i].rows?.[0]]));
    const problem = (name: string): string | undefined => {
      const r = row.get(name);
      if (!r) return 'it has no Interface row';
      const error = decodeOptional<string>(r.error);
      if (error) return error;
      const ofport = decodeOptional<number>(r.ofport);
      if (ofport === undefined) return 'ovs-vswitchd gave it no ofport';
      if (!Number.isInteger(ofport) || ofport <= 0) return `ofport ${ofport}`;
      return undefined;
    };
    for (const b of bridges) {
      const why = problem(b);
      if (why) return `OVS bridge ${b} is not up in ovs-vswitchd (${why}): ${likelyCause(datapath.get(b)!)}`;
    }
    for (const e of expected) {
      if (e.name === e.bridge) continue;
      const why = problem(e.name);
      if (why) return `OVS could not attach port ${e.name} to bridge ${e.bridge} (${why}): see ovs-vswitchd's log`;
    }
    return undefined;
  };
  return { ops, judge };
}

function likelyCause(datapathType: string): string {
  if (datapathType === 'system') {
    return (
      'datapath_type system needs the openvswitch kernel module, which is likely not loaded ' +
      '(modprobe openvswitch, or use datapathType netdev, which works without it)'
    );
  }
  return `datapath_type ${datapathType}: see ovs-vswitchd's log for why it failed`;
}

/**
 * Make sure every bridge exists and is up in ovs-vswitchd. A bridge created here that does not
 * come up is removed again (nothing half-built is left); one that existed is reported, not touched.
 */
export async function ensureBridges(client: OvsdbClient, bridges: BridgeSpec[], timeoutMs: number): Promise<string[]> {
  const own = (b: BridgeSpec): Expected => ({ name: b.name, bridge: b.name });
  // The lookup and the attach check of existing bridges in one transaction: the common case (all
  // exist) costs one round trip; the check's results are ignored when a bridge is missing.
  const check = attachCheck(bridges.map(own));
  const lookups = bridges.map((b) => select('Bridge', byName(b.name), ['name', 'datapath_type']));
  const answers = await client.transact([...lookups, ...check.ops]);
  const found = answers.slice(0, lookups.length);
  bridges.forEach((b, i) => {
    const row = found[i].rows?.[0];
    const actual = row ? String(row.datapath_type) || 'system' : b.datapathType; // "" means the default, system
    if (actual !== b.datapathType) {
      throw new ConflictError(
        `OVS bridge ${b.name} exists with datapath_type ${actual}, but the config says ${b.datapathType}`,
      );
    }
  });
  const missing = bridges.filter((_, i) => (found[i].rows ?? []).length === 0);
  if (missing.length === 0) {
    const failure = check.judge(answers.slice(lookups.length));
    if (failure) throw new OperationError(failure);
    return [];
  }
  await ensureRootRow(client);
  const ops: Operation[] = [comment('podvlan init: create bridges')];
  const bridgeOps: Operation[] = [];
  missing.forEach((b, i) => {
    const row = { name: b.name, ports: namedUuid(`p${i}`), datapath_type: b.datapathType };
    const bridgeOp = insert('Bridge', row, `b${i}`);
    bridgeOps.push(bridgeOp);
    ops.push(
      assertAbsent('Bridge', byName(b.name)),
      insert('Interface', { name: b.name, type: 'internal' }, `i${i}`),
      insert('Port', { name: b.name, interfaces: namedUuid(`i${i}`) }, `p${i}`),
      bridgeOp,
      mutate('Open_vSwitch', ALL_ROWS, [['bridges', 'insert', set([namedUuid(`b${i}`)])]]),
    );
  });
  ops.push(...bumpConfig());
  const results = await client.transact(ops);
  const created = missing.map((b, i) => ({ name: b.name, uuid: decodeUuid(results[ops.indexOf(bridgeOps[i])].uuid) }));
  try {
    await waitApplied(client, nextCfgOf(results), bridges.map(own), timeoutMs);
  } catch (err) {
    // Undo what this call made: with no reference left, OVSDB drops the bridge, its port and interface.
    const unlink = created.map((c) => mutate('Open_vSwitch', ALL_ROWS, [['bridges', 'delete', set([uuid(c.uuid)])]]));
    try {
      await client.transact(unlink);
    } catch (undoErr) {
      // The reason the bridge failed matters more than the failed cleanup: say both, that first.
      throw new OperationError(`${oneLine(err)}; and removing the bridges this call made failed: ${oneLine(undoErr)}`);
    }
    throw err;
  }
  return missing.map((b) => b.name);
}

/** A freshly created database has no Open_vSwitch row until someone runs `ovs-vsctl init`. */
async function ensureRootRow(client: OvsdbClient): Promise<void> {
  const [root] = await client.transact([select('Open_vSwitch', ALL_ROWS, ['_uuid'])]);
  if ((root.rows ?? []).length > 0) return;
  await client.transact([assertAbsent('Open_vSwitch', ALL_ROWS), insert('Open_vSwitch', {})]);
}

/** The Port row of an attachment: an access port with its tag, or a trunk port of its VLANs (a
 * trunk is never empty: OVS reads empty trunks as every VLAN). */
function portRow(a: Attachment, iface: string): Row {
  const row: Row = { name: a.port, interfaces: namedUuid(iface), external_ids: map(toExternalIds(a)) };
  if (a.trunks === undefined) return { ...row, tag: a.tag };
  return { ...row, trunks: set(vlansOf(parseVlanTrunk(a.trunks))), vlan_mode: 'trunk' };
}

/**
 * Add one access (or trunk) port per attachment, all in one transaction: each port must not exist yet and
 * each bridge must exist, or nothing is changed. Returns once ovs-vswitchd has the ports, with
 * how long ovs-vswitchd took to apply them (its reconfiguration grows with the bridge's ports;
 * our own part does not: no full-table reads).
 */
export async function addAccessPorts(
  client: OvsdbClient,
  attachments: Attachment[],
  timeoutMs: number,
): Promise<{ applyMs: number }> {
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
      insert('Port', portRow(a, `i${i}`), `p${i}`),
      mutate('Bridge', byName(a.bridge), [['ports', 'insert', set([namedUuid(`p${i}`)])]]),
    );
  });
  ops.push(...bumpConfig());
  let results: Awaited<ReturnType<OvsdbClient['transact']>>;
  try {
    results = await client.transact(ops);
  } catch (err) {
    if (err instanceof TransactionError && err.failedOp) {
      const at = ops.indexOf(err.failedOp);
      if (bridgeChecks.has(at))
        throw new NotFoundError(`OVS bridge ${bridgeChecks.get(at)} does not exist (run \`podvlan init\`)`);
      if (portChecks.has(at)) throw new OperationError(`OVS port ${portChecks.get(at)} already exists`);
    }
    throw err;
  }
  const committed = performance.now();
  const expected = attachments.map((a) => ({ name: a.port, bridge: a.bridge }));
  await waitApplied(client, nextCfgOf(results), expected, timeoutMs);
  return { applyMs: performance.now() - committed };
}

/** Whether ovs-vswitchd is alive: bump next_cfg and wait for it to catch up (CNI STATUS). */
export async function probeVswitchd(client: OvsdbClient, timeoutMs: number): Promise<void> {
  await waitApplied(client, nextCfgOf(await client.transact(bumpConfig())), [], timeoutMs);
}

/** Our ports whose external_ids include every given entry (always restricted to managed ports). */
export async function findPorts(client: OvsdbClient, selector: Record<string, string>): Promise<FoundPort[]> {
  const where: Condition[] = [['external_ids', 'includes', map({ ...selector, [MANAGED_KEY]: 'true' })]];
  const [res] = await client.transact([select('Port', where, ['_uuid', 'name', 'tag', 'trunks', 'external_ids'])]);
  const out: FoundPort[] = [];
  for (const row of res.rows ?? []) {
    const attachment = fromExternalIds(
      String(row.name),
      decodeOptional<number>(row.tag),
      decodeStringMap(row.external_ids),
      decodeSet<number>(row.trunks),
    );
    if (attachment) out.push({ uuid: decodeUuid(row._uuid), attachment });
  }
  return out;
}

/** Names of every Port row, ours or not (gc: a host link that any port uses is not an orphan). */
export async function allPortNames(client: OvsdbClient): Promise<Set<string>> {
  const [res] = await client.transact([select('Port', ALL_ROWS, ['name'])]);
  return new Set((res.rows ?? []).map((r) => String(r.name)));
}

/** Remove ports from whatever bridge holds them; their Port and Interface rows go with them. */
export async function deletePorts(client: OvsdbClient, portUuids: string[]): Promise<void> {
  if (portUuids.length === 0) return;
  const ops = portUuids.map((u) =>
    mutate('Bridge', [['ports', 'includes', set([uuid(u)])]], [['ports', 'delete', set([uuid(u)])]]),
  );
  await client.transact(ops);
}
