// setup <namespace> <pod> <container-id>: attach the pod's infra container to every network
// that selects it. Order: plan (pure, fails before any change), lock, replace leftovers of an
// older container, then leases -> veths -> OVS ports -> pod record, each step with its undo.
import { InvalidInputError } from '../errors';
import { isPooledVlan, vlanFor } from '../ipam';
import { podNameTagProblem } from '../ipam/vlan';
import { FULL_ID_LENGTH, hostVethName, type PodRef, sameContainer } from '../names';
import type { Attachment } from '../ovs/attachment';
import { podSelector } from '../ovs/attachment';
import { findPorts, type FoundPort } from '../ovs/bridge';
import { OvsdbClient } from '../ovs/client';
import { containerNetns, inspectContainer } from '../runtime/docker';
import type { Sandbox } from '../runtime/sandbox';
import { lockPod } from '../state/lock';
import { readPodRecord, recordedIps, removePodRecord, writePodRecord } from '../state/pod-record';
import { readyRecord } from './records';
import { linkExists } from '../veth/pair';
import { type AttachItem, attachNetworks, isInPlace } from './attach';
import { type Context, networksFor } from './context';
import { bareAddresses, detach } from './detach';
import { UndoStack } from './undo';
import type { Network } from '../config/schema';

// tag is undefined for a network whose VLAN comes from the cluster-wide pool, until it is taken.
interface Planned {
  network: Network;
  tag: number | undefined;
  port: string;
}

export interface SetupResult {
  attachments: Attachment[];
  changed: boolean;
}

export function planSetup(ctx: Context, ref: PodRef): Planned[] {
  const planned = networksFor(ctx.config, ref).map((network) => ({
    network,
    tag: isPooledVlan(network.vlan) ? undefined : vlanFor(network.vlan, ref.pod, network.name),
    port: hostVethName(ref.namespace, ref.pod, network.name),
  }));
  for (const p of planned) {
    // A tag read from a pod name must stay in its network's range: never another network's VLAN
    // on the same bridge (a fixed one, or a pool that would hand the same tag to another tenant).
    if (p.tag === undefined || !('fromPodName' in p.network.vlan)) continue;
    const problem = podNameTagProblem(p.tag, p.network, ctx.config.networks, ref.pod);
    if (problem) throw new InvalidInputError(problem);
  }
  const seen = new Set<string>();
  for (const p of planned) {
    if (seen.has(p.network.interface)) {
      throw new InvalidInputError(
        `pod ${ref.namespace}/${ref.pod} matches two networks with interface ${p.network.interface}`,
      );
    }
    seen.add(p.network.interface);
  }
  return planned;
}

export async function setup(ctx: Context, given: PodRef): Promise<SetupResult> {
  const planned = planSetup(ctx, given);
  if (planned.length === 0) {
    const { namespace, pod, containerId } = given;
    ctx.log.with({ cmd: 'setup', namespace, pod, container: containerId }).info('no network selects this pod');
    return { attachments: [], changed: false };
  }
  const { timeoutMs, stateDir } = ctx.config;
  // Ports, leases and the record carry the full id, whatever prefix the caller gave: status,
  // teardown and a retried setup with the full id must find them. The kubelet passes the full
  // id, so its calls make no extra Docker round trip.
  const docker = ctx.config.runtime.docker.socket;
  const ref =
    given.containerId.length < FULL_ID_LENGTH
      ? { ...given, containerId: (await inspectContainer(docker, given.containerId, timeoutMs)).id }
      : given;
  const log = ctx.log.with({ cmd: 'setup', namespace: ref.namespace, pod: ref.pod, container: ref.containerId });
  const lock = await lockPod(stateDir, ref.namespace, ref.pod, timeoutMs);
  try {
    const ovs = await OvsdbClient.connect(ctx.config.ovsdb, timeoutMs);
    let pod: Sandbox | undefined; // the namespace handle: this call's only, closed on every way out
    try {
      let existing: FoundPort[];
      [existing, pod] = await bothOrClose(
        findPorts(ovs, podSelector(ref.namespace, ref.pod)),
        containerNetns(ctx.config.runtime.docker.socket, ref.containerId, timeoutMs),
      );
      // sameContainer: ports a setup made before ids were resolved carry the prefix it was given.
      const mine = existing.filter((f) => sameContainer(ref.containerId, f.attachment.containerId));
      if (isComplete(mine, planned, pod.inode)) {
        // OVSDB returns rows in its own order: print and record them in config order, as the first setup did.
        const attachments = planned.map((p) => mine.find((f) => f.attachment.port === p.port)!.attachment);
        writePodRecord(stateDir, readyRecord(ctx.config, ref, attachments));
        log.info('already set up', { ports: attachments.map((a) => a.port) });
        return { attachments, changed: false };
      }
      // Leftovers of an older container of this pod (the kubelet replaced its sandbox without a
      // teardown) or of an interrupted setup of this one: clear them, keeping this container's leases.
      const older = existing.filter((f) => !mine.includes(f));
      if (older.length > 0) {
        const gone = await detach(ctx, ovs, older);
        log.info("removed an older container's attachments", { ...gone });
      }
      if (mine.length > 0) await detach(ctx, ovs, mine, { keepLeases: true });
      // A veth with our name but no port is what an interrupted setup left: remove it first.
      const orphans = planned.map((p) => p.port).filter(linkExists);
      if (orphans.length > 0) await detach(ctx, ovs, [], { extraLinks: orphans });
      const { attachments, applyMs } = await attach(ctx, ovs, ref, planned, pod, log);
      log.info('set up', {
        ports: attachments.map((a) => a.port),
        ips: attachments.flatMap((a) => a.ips),
        vswitchdApplyMs: Math.round(applyMs * 10) / 10,
      });
      return { attachments, changed: true };
    } finally {
      pod?.close(); // the agent runs many calls in one process: no handle outlives its call
      ovs.close();
    }
  } finally {
    lock.release();
  }
}

async function attach(
  ctx: Context,
  ovs: OvsdbClient,
  ref: PodRef,
  planned: Planned[],
  pod: Sandbox,
  log: Context['log'],
): Promise<{ attachments: Attachment[]; applyMs: number }> {
  const { stateDir } = ctx.config;
  const undo = new UndoStack(log);
  const previous = readPodRecord(stateDir, ref.namespace, ref.pod);
  const hintsFor = (network: string) => recordedIps(previous, ref.containerId, network);
  try {
    // The intent first: whatever a crash leaves from here on can be traced to this pod.
    undo.push('remove pod record', () => removePodRecord(stateDir, ref.namespace, ref.pod, ref.containerId));
    writePodRecord(stateDir, {
      namespace: ref.namespace,
      pod: ref.pod,
      containerId: ref.containerId,
      ready: false,
      attachments: planned.map((p) => ({
        network: p.network.name,
        interface: p.network.interface,
        port: p.port,
        tag: p.tag ?? 0,
        ips: hintsFor(p.network.name),
      })),
    });
    const items: AttachItem[] = planned.map((p) => ({
      owner: {
        network: p.network.name,
        namespace: ref.namespace,
        pod: ref.pod,
        containerId: ref.containerId,
        interface: p.network.interface,
      },
      network: p.network,
      port: p.port,
      tag: p.tag ?? 'pool',
      address: { from: 'pool', hints: bareAddresses(hintsFor(p.network.name)) },
    }));
    const ownPorts = { ...podSelector(ref.namespace, ref.pod), 'podvlan/containerId': ref.containerId };
    const { attachments, applyMs } = await attachNetworks(
      ctx,
      ovs,
      { sandbox: pod, items, ownPorts, plural: true, log },
      undo,
    );
    writePodRecord(stateDir, readyRecord(ctx.config, ref, attachments));
    return { attachments, applyMs };
  } catch (err) {
    await undo.unwind();
    throw err;
  }
}

/** Already set up: every planned port exists as planned, for this very namespace, with its veth. */
function isComplete(mine: FoundPort[], planned: Planned[], netnsInode: string): boolean {
  if (mine.length !== planned.length) return false;
  return planned.every((p) =>
    mine.some((f) =>
      isInPlace(f.attachment, {
        port: p.port,
        tag: p.tag,
        network: p.network,
        interface: p.network.interface,
        netns: netnsInode,
      }),
    ),
  );
}

/** Promise.all of the port lookup and the namespace lookup, which never drops an opened handle:
 * when the port lookup fails, the handle is closed before the error goes on. */
async function bothOrClose<T>(ports: Promise<T>, netns: Promise<Sandbox>): Promise<[T, Sandbox]> {
  const [p, n] = await Promise.allSettled([ports, netns]);
  if (p.status === 'rejected') {
    if (n.status === 'fulfilled') n.value.close();
    throw p.reason;
  }
  if (n.status === 'rejected') throw n.reason;
  return [p.value, n.value];
}
