// status <namespace> <pod> <container-id>: the primary network's address, from the pod record
// on local disk. No OVSDB, Docker or etcd round trip: the kubelet calls this for every pod, often.
import { type PodRef, sameContainer } from '../names';
import { readPodRecord } from '../state/pod-record';
import { readOwnFileQuick } from '../state/small-file';

export const STATUS_API_VERSION = 'v1beta1';
export const STATUS_KIND = 'PodNetworkStatus';

/** The exact text to print, or '' when podvlan has no primary address for this container (given by
 * its full id or a prefix of at least 12 digits: the record holds the full id). */
export function statusOutput(stateDir: string, ref: PodRef): string {
  const record = readPodRecord(stateDir, ref.namespace, ref.pod, readOwnFileQuick);
  if (!record || record.ready === false || !record.primaryIp) return '';
  if (!sameContainer(ref.containerId, record.containerId)) return '';
  return JSON.stringify({ apiVersion: STATUS_API_VERSION, kind: STATUS_KIND, ip: record.primaryIp });
}
