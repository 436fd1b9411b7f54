// gc: remove what dead containers left (ports, veths, addresses, records) and repair what a
// killed call left half-done, keeping every live pod untouched. Safe at any time, beside setup
// and teardown: each pod is handled under its lock, and a pod whose lock is held is skipped.
//
// Snapshot order matters: veths are listed before pod records, and setup writes a pod's record
// before it creates a veth, so a veth that no record or port names cannot belong to a call in
// flight.
//
// Exec-mode ports are judged by Docker (their container must run, in the recorded namespace).
// CNI ports are not Docker's (their ids mean nothing to it): they are judged by their network
// namespace, the inode recorded at ADD, which must be gone (src/runtime/netns-alive.ts) and have
// taken the veth with it. Anything else keeps them: their runtime's DEL owns them.
import { leaseDirFor, listNodeLeases, type Owner, unreadableNodeLeases } from '../ipam';
import { listAllocations } from '../ipam/etcd-pool';
import type { LeaseRecord } from '../ipam/lease-dir';
import { listVlans } from '../ipam/vlan-pool';
import { isContainerId, isDns1123Label, isPodName, type PodRef, sameContainer } from '../names';
import { type Attachment, podSelector } from '../ovs/attachment';
import { allPortNames, findPorts, type FoundPort } from '../ovs/bridge';
import { OvsdbClient } from '../ovs/client';
import { containerNetnsInode } from '../runtime/docker';
import { type NetnsScan, scanNetnsHolders } from '../runtime/netns-alive';
import { NotFoundError } from '../errors';
import { nodeFs } from '../builtins';
import { LOCK_FILE, lockDir, podLockPath, tryLockFile, tryLockPod } from '../state/lock';
import {
  isOwnRecordedPort,
  listPodRecords,
  type PodRecord,
  readPodRecord,
  removePodRecord,
  writePodRecord,
} from '../state/pod-record';
import { appendCallLog, gcLine } from '../state/call-log';
import { reclaimedBy } from '../state/call-summary';
import { removeStaleTempFiles } from '../state/temp-files';
import { deleteHostLinks, ifindexOf, linkExists, listHostVeths } from '../veth/pair';
import { isValidOwner } from '../ipam/pool';
import { clusterOf, type Context } from './context';
import { detach, releaseOwner, releaseVlan } from './detach';
import { readyRecord } from './records';
import { isCniOwner } from '../cni/owner';

export interface GcAction {
  action: string;
  target: string;
  pod?: string;
  container?: string;
  reason: string;
}
export interface GcResult {
  actions: GcAction[];
  busy: string[];
}

type ContainerState = { running: false } | { running: true; netns: string };

export async function gc(ctx: Context, opts: { dryRun: boolean }): Promise<GcResult> {
  const { stateDir, timeoutMs } = ctx.config;
  const log = ctx.log.with({ cmd: 'gc', dryRun: opts.dryRun });
  const veths = listHostVeths().map((name) => ({ name, index: ifindexOf(name) }));
  const records = listPodRecords(stateDir).filter(isOwnRecord);
  const ovs = await OvsdbClient.connect(ctx.config.ovsdb, timeoutMs);
  const actions: GcAction[] = [];
  const busy: string[] = [];
  try {
    // Every podvlan port in this node's OVSDB is this node's, whatever node name it carries: a
    // renamed node keeps what it made (docs/how-it-works.md, "Whose is it").
    const ports = await findPorts(ovs, {});
    const nodeLeases = listNodeLeases(stateDir);
    const madeHere = new Set([...ports.map((f) => f.attachment), ...records, ...nodeLeases].map((x) => x.containerId));
    // A CNI owner's holding with no port of its owner is not podvlan gc's to judge: podvlan as
    // another plugin's IPAM (src/cni/ipam-plugin.ts) never has a port, and an interrupted CNI ADD's
    // lease is its runtime's DEL's (or the CNI GC verb's) to free. With a port, the port decides.
    const withPort = new Set(ports.map((f) => `${f.attachment.namespace}/${f.attachment.pod}`));
    const held = [...nodeLeases, ...(await clusterHoldings(ctx, ports, madeHere))].filter(
      (h) => !isCniOwner(h) || withPort.has(`${h.namespace}/${h.pod}`),
    );
    const pods = new Map<string, { namespace: string; pod: string }>();
    for (const p of [...ports.map((f) => f.attachment), ...records, ...held])
      pods.set(`${p.namespace}/${p.pod}`, { namespace: p.namespace, pod: p.pod });

    const ask = (id: string) => containerState(ctx.config.runtime.docker.socket, id, timeoutMs);
    await Promise.all([...new Set(ports.filter((f) => !isCni(f)).map((f) => f.attachment.containerId))].map(ask));
    // After the port snapshot: a namespace found gone then is gone for good (its inode may be
    // reused by a new namespace, which only makes the old port look alive). Only CNI ports whose
    // veth is gone can be dead (see judgeBy), so only their namespaces are looked for: a /proc
    // scan reads every descriptor on the node, and most runs need none.
    const candidates = ports.filter(
      (f) => isCni(f) && f.attachment.netns !== undefined && !linkExists(f.attachment.port),
    );
    const scan = candidates.length > 0 ? scanNetnsHolders(candidates.map((f) => f.attachment.netns!)) : undefined;
    const judge = judgeBy(ask, scan, new Set(candidates.map((f) => f.uuid)), log);

    for (const [key, { namespace, pod }] of pods) {
      const lock = await tryLockPod(stateDir, namespace, pod);
      if (!lock) {
        busy.push(key);
        continue;
      }
      let idle = false;
      try {
        const its = held.filter((h) => h.namespace === namespace && h.pod === pod);
        idle = await collectPod(ctx, ovs, namespace, pod, judge, its, opts.dryRun, actions);
      } finally {
        lock.release({ removeFile: idle && !opts.dryRun });
      }
    }
    const handled = new Set([...pods.values()].map((p) => podLockPath(stateDir, p.namespace, p.pod)));
    if (!opts.dryRun) await removeIdleLockFiles(stateDir, handled);

    const after = await findPorts(ovs, {});
    // Lease files with no readable owner (the node crashed as they were written) that no port of
    // this node uses.
    const used = new Set(
      after.flatMap((f) => f.attachment.ips.map((ip) => `${f.attachment.network}/${ip.split('/')[0]}`)),
    );
    for (const { network, address } of unreadableNodeLeases(stateDir)) {
      if (used.has(`${network}/${address}`)) continue;
      actions.push({
        action: 'remove-lease',
        target: `${network}/${address}`,
        reason: 'unreadable lease file that no port uses',
      });
      if (!opts.dryRun) leaseDirFor(stateDir, network).remove(address);
    }

    // Veths that no port and no record name: leftovers of calls killed before records existed.
    // Any Port row counts, ours or not: a link some other port uses is not podvlan's to delete.
    const recorded = listPodRecords(stateDir)
      .filter(isOwnRecord)
      .flatMap((r) => r.attachments.map((a) => a.port));
    const named = new Set([...(await allPortNames(ovs)), ...recorded]);
    // Same name and same ifindex as at the start: a setup that since wrote its record and made a
    // new veth under that name is not touched.
    const orphans = veths
      .filter((v) => !named.has(v.name) && v.index !== undefined && ifindexOf(v.name) === v.index)
      .map((v) => v.name);
    for (const v of orphans)
      actions.push({ action: 'delete-veth', target: v, reason: 'no port and no pod record names it' });
    if (!opts.dryRun) await deleteHostLinks(orphans, timeoutMs);

    for (const file of removeStaleTempFiles(stateDir, opts.dryRun))
      actions.push({ action: 'remove-temp-file', target: file, reason: 'its writer is gone' });
  } finally {
    ovs.close();
  }
  log.info('gc', { actions: actions.length, busy });
  if (!opts.dryRun) {
    // For `metrics`: what this run reclaimed (a run that failed midway is not counted).
    const lost = appendCallLog(stateDir, gcLine(reclaimedBy(actions)));
    if (lost) log.warn('gc not recorded for metrics', { error: lost });
  }
  return { actions, busy };
}

const isCni = (f: FoundPort) => f.attachment.runtime === 'cni';

/** Why a port is dead, or undefined while it lives. */
type Judge = (f: FoundPort) => Promise<string | undefined>;

/**
 * Exec-mode ports: their container must run in the recorded namespace, with the veth. CNI ports:
 * only one the namespace scan was made for (seen in the snapshot with its veth gone; a newer row
 * of the same owner is judged next time), whose recorded namespace the scan found gone and whose
 * veth is still gone.
 */
function judgeBy(
  stateOf: (id: string) => Promise<ContainerState>,
  scan: NetnsScan | undefined,
  scanned: Set<string>,
  log: Context['log'],
): Judge {
  return async (f) => {
    const a = f.attachment;
    if (isCni(f)) {
      if (!scan || !scanned.has(f.uuid) || a.netns === undefined) return undefined;
      // The pod end dies with its namespace and takes the host end along: a veth still here means
      // a namespace (or a holder the scan cannot see) that still lives.
      if (linkExists(a.port)) return undefined;
      const v = scan.verdict(a.netns);
      if (v.alive) {
        log.info('cni attachment kept', { port: a.port, container: a.cniContainerId, why: v.why });
        return undefined;
      }
      return `${v.why}; its veth is gone`;
    }
    const state = await stateOf(a.containerId);
    if (!state.running) return 'container gone or stopped';
    if (state.netns !== a.netns) return 'container restarted (new namespace)';
    return linkExists(a.port) ? undefined : 'veth gone';
  };
}

/** Running with which network namespace, or not running (gone, stopped, or exiting). */
async function containerState(socket: string, id: string, timeoutMs: number): Promise<ContainerState> {
  try {
    return { running: true, netns: await containerNetnsInode(socket, id, timeoutMs) };
  } catch (err) {
    if (err instanceof NotFoundError) return { running: false };
    throw err;
  }
}

/**
 * What this node holds: node-local leases, and the cluster-wide addresses and VLAN memberships
 * recorded in etcd with this node's name, or with a name one of this node's ports carries (what
 * it made before a rename) for a container this node has a port, record or lease of: another
 * machine may since have taken the old name, and its holdings are its own. Entries not in the
 * form podvlan writes are never acted on.
 */
type Holding = (Owner & { address: string; kind: 'address' }) | (Owner & { tag: number; holder: string; kind: 'vlan' });

async function clusterHoldings(ctx: Context, ports: FoundPort[], madeHere: Set<string>): Promise<Holding[]> {
  const cluster = clusterOf(ctx);
  if (!cluster) return [];
  const { client, prefix, node } = cluster;
  const oldNames = new Set(ports.flatMap((f) => f.attachment.node ?? []).filter((n) => n !== node));
  const mine = (h: { node: string; containerId: string }) =>
    h.node === node || (oldNames.has(h.node) && madeHere.has(h.containerId));
  const [addresses, vlans] = await Promise.all([listAllocations(client, prefix), listVlans(client, prefix)]);
  return [
    ...addresses.filter((a) => mine(a) && isValidOwner(a)).map((a) => ({ ...a, kind: 'address' as const })),
    ...vlans
      .flatMap((v) => v.members.filter(mine).map((m) => ({ ...m, interface: '', tag: v.tag, holder: v.holder })))
      .map((m) => ({ ...m, kind: 'vlan' as const }))
      .filter(isValidOwner),
  ];
}

/** A pod record gc may act on: valid names, and only ports named as this pod's veths are named. */
function isOwnRecord(r: PodRecord): boolean {
  const names = typeof r.namespace === 'string' && typeof r.pod === 'string' && typeof r.containerId === 'string';
  return (
    names &&
    isDns1123Label(r.namespace) &&
    isPodName(r.pod) &&
    isContainerId(r.containerId) &&
    Array.isArray(r.attachments) &&
    r.attachments.every((a) => isOwnRecordedPort(r, a))
  );
}

async function collectPod(
  ctx: Context,
  ovs: OvsdbClient,
  namespace: string,
  pod: string,
  judge: Judge,
  held: (Holding | LeaseRecord)[],
  dryRun: boolean,
  actions: GcAction[],
): Promise<boolean> {
  const { stateDir, timeoutMs } = ctx.config;
  const who = `${namespace}/${pod}`;
  const ports = await findPorts(ovs, podSelector(namespace, pod));
  const live: FoundPort[] = [];
  const dead: FoundPort[] = [];
  for (const f of ports) {
    const reason = await judge(f);
    (reason === undefined ? live : dead).push(f);
    if (reason !== undefined) {
      actions.push({
        action: 'remove-port',
        target: f.attachment.port,
        pod: who,
        container: f.attachment.containerId,
        reason,
      });
    }
  }
  if (dead.length > 0 && !dryRun) await detach(ctx, ovs, dead);

  // Addresses and VLANs held by no live port of their owner: a setup killed midway, or a dead container.
  const holds = (a: Attachment, h: Holding | LeaseRecord) =>
    a.containerId === h.containerId &&
    a.network === h.network &&
    ('kind' in h && h.kind === 'vlan' ? true : a.interface === h.interface);
  for (const h of held) {
    if (live.some((f) => holds(f.attachment, h))) continue;
    if (dead.some((f) => holds(f.attachment, h))) continue; // released with its port above
    if ('kind' in h && h.kind === 'vlan') {
      actions.push({
        action: 'leave-vlan',
        target: `${h.network}/${h.tag}`,
        pod: who,
        container: h.containerId,
        reason: 'no live port uses it',
      });
      // Under the holder etcd lists it by: a CNI member's is its Kubernetes namespace, not its owner's.
      if (!dryRun) await releaseVlan(ctx, h, { holder: h.holder });
      continue;
    }
    actions.push({
      action: 'release-address',
      target: `${h.network}/${h.address}`,
      pod: who,
      container: h.containerId,
      reason: 'no live port holds it',
    });
    if (!dryRun) await releaseOwner(ctx, h, [h.address]);
  }

  // The record: rebuilt from live ports, or removed with whatever veths it names.
  // CNI attachments have no record (records serve the exec `status` call only).
  const read = readPodRecord(stateDir, namespace, pod);
  const record = read && isOwnRecord(read) ? read : undefined;
  const execLive = live.filter((f) => !isCni(f));
  const currentId = record?.containerId ?? execLive[0]?.attachment.containerId;
  const current = execLive.filter((f) => currentId !== undefined && sameContainer(currentId, f.attachment.containerId));
  if (current.length > 0) {
    const ref: PodRef = { namespace, pod, containerId: current[0].attachment.containerId };
    const rebuilt = readyRecord(
      ctx.config,
      ref,
      current.map((f) => f.attachment),
    );
    if (JSON.stringify(rebuilt) !== JSON.stringify(record)) {
      actions.push({
        action: 'rewrite-record',
        target: who,
        pod: who,
        container: ref.containerId,
        reason: record ? 'record differs from the ports' : 'record missing',
      });
      if (!dryRun) writePodRecord(stateDir, rebuilt);
    }
  } else if (record) {
    const livePorts = new Set(live.map((f) => f.attachment.port));
    const links = record.attachments.map((a) => a.port).filter((p) => !livePorts.has(p) && linkExists(p));
    // The reason as found: a record that never became ready is an unfinished setup; a ready one
    // lost its port (its container is gone or restarted, or a teardown was killed midway).
    const why = record.ready ? 'its pod record is ready but no live port names it' : 'its setup never finished';
    for (const l of links) {
      actions.push({ action: 'delete-veth', target: l, pod: who, container: record.containerId, reason: why });
    }
    actions.push({
      action: 'remove-record',
      target: who,
      pod: who,
      container: record.containerId,
      reason: 'no live attachment',
    });
    if (!dryRun) {
      await deleteHostLinks(links, timeoutMs);
      removePodRecord(stateDir, namespace, pod, record.containerId);
    }
  }
  return live.length === 0; // nothing of the pod is left
}

/**
 * Lock files of pods that have nothing on this node (a crashed teardown, a failed setup): each
 * removed under its own lock, so a call that holds or is about to take it is never disturbed.
 * `known` are the lock files of pods handled above, which decided for themselves.
 */
async function removeIdleLockFiles(stateDir: string, known: Set<string>): Promise<void> {
  let names: string[];
  try {
    names = nodeFs().readdirSync(lockDir(stateDir));
  } catch {
    return;
  }
  for (const name of names) {
    const path = `${lockDir(stateDir)}/${name}`;
    if (!LOCK_FILE.test(name) || known.has(path)) continue;
    try {
      const lock = await tryLockFile(path);
      lock?.release({ removeFile: true });
    } catch {
      /* not a lock file of ours (tryLockFile said why): a later call refuses it with that line */
    }
  }
}
