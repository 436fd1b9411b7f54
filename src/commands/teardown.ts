// teardown <namespace> <pod> <container-id>: remove this container's ports, veths and leases.
// Whatever is already gone is success; what a newer container of the same pod holds is kept.
import { hostVethName, type PodRef } from '../names';
import { podSelector } from '../ovs/attachment';
import { findPorts } from '../ovs/bridge';
import { OvsdbClient } from '../ovs/client';
import { lockPod } from '../state/lock';
import { readPodRecord, recordedIp, removePodRecord } from '../state/pod-record';
import { type Context, networksFor } from './context';
import { detach, releaseOwner, releaseVlan } from './detach';

export interface TeardownResult { ports: string[]; addresses: string[] }

export async function teardown(ctx: Context, ref: PodRef): Promise<TeardownResult> {
  const { stateDir, timeoutMs } = ctx.config;
  const log = ctx.log.with({ cmd: 'teardown', namespace: ref.namespace, pod: ref.pod, container: ref.containerId });
  const lock = await lockPod(stateDir, ref.namespace, ref.pod, timeoutMs);
  try {
    const ovs = await OvsdbClient.connect(ctx.config.ovsdb, timeoutMs);
    try {
      const ports = await findPorts(ovs, podSelector(ref.namespace, ref.pod));
      const mine = ports.filter((f) => f.attachment.containerId === ref.containerId);
      const othersPorts = new Set(ports.filter((f) => !mine.includes(f)).map((f) => f.attachment.port));
      // Veths of an interrupted setup have no port yet; they carry this pod's names, and the
      // pod record (written before anything was created) lists them.
      const networks = networksFor(ctx.config, ref);
      const record = readPodRecord(stateDir, ref.namespace, ref.pod);
      // Only names in this pod's own form: a record is a file, and its names become ip arguments.
      const ownName = (a: { port: string; network: string }) =>
        a.port === hostVethName(ref.namespace, ref.pod, a.network);
      const mineRecorded = record?.containerId === ref.containerId ? record.attachments : [];
      const recorded = mineRecorded.filter(ownName).map((a) => a.port);
      const orphanLinks = [...networks.map((n) => hostVethName(ref.namespace, ref.pod, n.name)), ...recorded].filter((p) => !othersPorts.has(p));
      const result = await detach(ctx, ovs, mine, { extraLinks: orphanLinks });
      // Leases taken by an interrupted setup have no port to point at them.
      for (const n of networks) {
        if (mine.some((f) => f.attachment.network === n.name)) continue;
        const hint = recordedIp(record, ref.containerId, n.name)?.split('/')[0];
        const owner = { network: n.name, namespace: ref.namespace, pod: ref.pod, containerId: ref.containerId, interface: n.interface };
        result.addresses.push(...(await releaseOwner(ctx, owner, hint)));
        await releaseVlan(ctx, owner);
      }
      removePodRecord(stateDir, ref.namespace, ref.pod, ref.containerId);
      log.info('torn down', { ...result });
      return result;
    } finally {
      ovs.close();
    }
  } finally {
    lock.release();
  }
}
