// teardown <namespace> <pod> <container-id>: remove this container's ports, veths and leases.
// Whatever is already gone is success; what a newer container of the same pod holds is kept.
import type { Network } from '../config/schema';
import { leaseDirFor } from '../ipam';
import { FULL_ID_LENGTH, hostVethName, matchContainerId, type PodRef } from '../names';
import { podSelector } from '../ovs/attachment';
import { findPorts, type FoundPort } from '../ovs/bridge';
import { OvsdbClient } from '../ovs/client';
import { lockPod } from '../state/lock';
import { isOwnRecordedPort, type PodRecord, readPodRecord, recordedIps, removePodRecord } from '../state/pod-record';
import { type Context, networksFor } from './context';
import { bareAddresses, detach, releaseOwner, releaseVlan } from './detach';

export interface TeardownResult {
  ports: string[];
  addresses: string[];
}

export async function teardown(ctx: Context, given: PodRef): Promise<TeardownResult> {
  const { stateDir, timeoutMs } = ctx.config;
  const lock = await lockPod(stateDir, given.namespace, given.pod, timeoutMs);
  let idle = false; // nothing of the pod left: its lock file goes too
  try {
    const ovs = await OvsdbClient.connect(ctx.config.ovsdb, timeoutMs);
    try {
      const ports = await findPorts(ovs, podSelector(given.namespace, given.pod));
      const networks = networksFor(ctx.config, given);
      const record = readPodRecord(stateDir, given.namespace, given.pod);
      // The id as recorded (the container may be gone from Docker by now): the caller may give a prefix.
      const ref = { ...given, containerId: recordedContainerId(ctx, given, ports, record, networks) };
      const log = ctx.log.with({ cmd: 'teardown', namespace: ref.namespace, pod: ref.pod, container: ref.containerId });
      const mine = ports.filter((f) => f.attachment.containerId === ref.containerId);
      const othersPorts = new Set(ports.filter((f) => !mine.includes(f)).map((f) => f.attachment.port));
      // Veths of an interrupted setup have no port yet; they carry this pod's names, and the
      // pod record (written before anything was created) lists them.
      const mineRecorded = record?.containerId === ref.containerId ? record.attachments : [];
      const recorded = mineRecorded.filter((a) => isOwnRecordedPort(ref, a)).map((a) => a.port);
      const orphanLinks = [...networks.map((n) => hostVethName(ref.namespace, ref.pod, n.name)), ...recorded].filter(
        (p) => !othersPorts.has(p),
      );
      const result = await detach(ctx, ovs, mine, { extraLinks: orphanLinks });
      // Leases taken by an interrupted setup have no port to point at them.
      for (const n of networks) {
        if (mine.some((f) => f.attachment.network === n.name)) continue;
        const hints = bareAddresses(recordedIps(record, ref.containerId, n.name));
        const owner = {
          network: n.name,
          namespace: ref.namespace,
          pod: ref.pod,
          containerId: ref.containerId,
          interface: n.interface,
        };
        result.addresses.push(...(await releaseOwner(ctx, owner, hints)));
        await releaseVlan(ctx, owner);
      }
      removePodRecord(stateDir, ref.namespace, ref.pod, ref.containerId);
      idle = othersPorts.size === 0 && (record === undefined || record.containerId === ref.containerId);
      log.info('torn down', { ...result });
      return result;
    } finally {
      ovs.close();
    }
  } finally {
    lock.release({ removeFile: idle });
  }
}

/**
 * The id under which podvlan recorded the container `given` names: in the pod's ports, its record,
 * or (only for a prefix, as it means reading every lease) its node-local leases. The given id
 * itself when nothing matches; an ambiguous prefix is refused.
 */
function recordedContainerId(
  ctx: Context,
  given: PodRef,
  ports: FoundPort[],
  record: PodRecord | undefined,
  networks: Network[],
): string {
  const ids = [...ports.map((f) => f.attachment.containerId), ...(record ? [record.containerId] : [])];
  const found = matchContainerId(given.containerId, ids);
  if (found || given.containerId.length >= FULL_ID_LENGTH) return found ?? given.containerId;
  const leased = networks
    .flatMap((n) => leaseDirFor(ctx.config.stateDir, n.name).all())
    .filter((l) => l.namespace === given.namespace && l.pod === given.pod)
    .map((l) => l.containerId);
  return matchContainerId(given.containerId, leased) ?? given.containerId;
}
