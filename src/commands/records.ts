// The ready pod record (what status serves) built from a pod's attachments: by setup when it
// finishes, and by gc when it rebuilds a record from the ports, the state of record.
import type { Config } from '../config/schema';
import type { PodRef } from '../names';
import type { Attachment } from '../ovs/attachment';
import type { PodRecord } from '../state/pod-record';

export function readyRecord(config: Config, ref: PodRef, attachments: Attachment[]): PodRecord {
  const order = (network: string) => {
    const i = config.networks.findIndex((n) => n.name === network);
    return i < 0 ? config.networks.length : i;
  };
  const primary = attachments.find((a) => config.networks.find((n) => n.name === a.network)?.primary);
  return {
    namespace: ref.namespace,
    pod: ref.pod,
    containerId: ref.containerId,
    ready: true,
    primaryIp: primary ? statusIp(primary.ips) : undefined,
    // Config order, whoever built the list (setup plans in config order, OVSDB returns any order).
    attachments: [...attachments]
      .sort((a, b) => order(a.network) - order(b.network) || a.network.localeCompare(b.network))
      .map((a) => ({ network: a.network, interface: a.interface, port: a.port, tag: a.tag, ips: a.ips })),
  };
}

/** The one address the kubelet gets (shared/kubelet-exec-contract.md): the primary network's IPv4,
 * else (an IPv6-only network) its IPv6; bare, without the prefix length. Chosen here, once per
 * setup, so that status itself only prints what the record holds. */
export function statusIp(ips: string[]): string | undefined {
  const chosen = ips.find((ip) => !ip.includes(':')) ?? ips[0];
  return chosen?.split('/')[0];
}
