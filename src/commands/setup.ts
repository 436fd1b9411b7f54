// setup <namespace> <pod> <container-id>: attach the pod's infra container to every network
// that selects it. Order: plan (pure, fails before any change), lock, replace leftovers of an
// older container, then leases -> veths -> OVS ports -> pod record, each step with its undo.
import { InvalidInputError } from '../errors';
import { isPooledVlan, type Lease, type Owner, poolFor, vlanFor, vlanPoolFor } from '../ipam';
import { macFor } from './mac';
import { podNameTagProblem } from '../ipam/vlan';
import { FULL_ID_LENGTH, hostVethName, type PodRef, sameContainer } from '../names';
import type { Attachment } from '../ovs/attachment';
import { podSelector } from '../ovs/attachment';
import { addAccessPorts, findPorts, type FoundPort } from '../ovs/bridge';
import { OvsdbClient } from '../ovs/client';
import { containerNetns, inspectContainer } from '../runtime/docker';
import type { Sandbox } from '../runtime/sandbox';
import { lockPod } from '../state/lock';
import { readPodRecord, recordedIp, removePodRecord, writePodRecord } from '../state/pod-record';
import { readyRecord } from './records';
import { createPairs, linkExists } from '../veth/pair';
import { clusterOf, type Context, networksFor, nodeName } from './context';
import { detach } from './detach';
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
        ips: attachments.map((a) => a.ip),
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
  const { stateDir, timeoutMs } = ctx.config;
  const undo = new UndoStack(log);
  const previous = readPodRecord(stateDir, ref.namespace, ref.pod);
  const hintFor = (network: string) => recordedIp(previous, ref.containerId, network);
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
        ip: hintFor(p.network.name),
      })),
    });
    const leases: (Lease | undefined)[] = [];
    const tags: number[] = [];
    for (const p of planned) {
      const owner: Owner = {
        network: p.network.name,
        namespace: ref.namespace,
        pod: ref.pod,
        containerId: ref.containerId,
        interface: p.network.interface,
      };
      const vlans = isPooledVlan(p.network.vlan) ? vlanPoolFor(p.network, clusterOf(ctx))! : undefined;
      if (vlans) undo.push(`leave the VLAN of ${p.network.name}`, () => vlans.release(owner));
      tags.push(p.tag ?? (await vlans!.acquire(owner)));
      const pool = poolFor(p.network, stateDir, p.network.ipam?.type === 'etcd' ? clusterOf(ctx) : undefined);
      if (!pool) {
        leases.push(undefined);
        continue;
      }
      const hint = hintFor(p.network.name)?.split('/')[0];
      // Registered before the call: a lost reply may still have taken the address.
      undo.push(`release address of ${p.network.name}`, () => pool.release(owner, hint));
      leases.push(await pool.acquire(owner, hint));
    }
    const attachments: Attachment[] = planned.map((p, i) => ({
      namespace: ref.namespace,
      pod: ref.pod,
      containerId: ref.containerId,
      network: p.network.name,
      interface: p.network.interface,
      bridge: p.network.bridge,
      port: p.port,
      tag: tags[i],
      ip: leases[i]?.address,
      mac: macFor(leases[i], p.port),
      netns: pod.inode,
      node: nodeName(ctx.config),
    }));
    undo.push('delete veths', () => detach(ctx, ovs, [], { extraLinks: attachments.map((a) => a.port) }));
    await createPairs(
      pod,
      attachments[0].netns ?? '',
      attachments.map((a, i) => ({
        hostName: a.port,
        podName: a.interface,
        mac: a.mac,
        mtu: planned[i].network.mtu,
        address: a.ip,
        routes: leases[i]?.routes ?? [],
      })),
      timeoutMs,
    );
    // Addresses and VLANs have undos of their own, further down the stack.
    undo.push('delete OVS ports', async () =>
      detach(
        ctx,
        ovs,
        await findPorts(ovs, { ...podSelector(ref.namespace, ref.pod), 'podvlan/containerId': ref.containerId }),
        { keepLeases: true },
      ),
    );
    const { applyMs } = await addAccessPorts(ovs, attachments, timeoutMs);
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
  // The port row alone is not enough: a container restarted under the same id has a new
  // namespace, and its old veths die with the old one (the kernel may take a moment).
  return (
    planned.every((p) =>
      mine.some(
        (f) =>
          f.attachment.port === p.port &&
          (p.tag === undefined || f.attachment.tag === p.tag) &&
          f.attachment.bridge === p.network.bridge &&
          f.attachment.interface === p.network.interface &&
          f.attachment.netns === netnsInode,
      ),
    ) && planned.every((p) => linkExists(p.port))
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
