// The state of record for one pod network attachment, as stored in OVSDB Port.external_ids.
// A port without the `podvlan/managed` key is not ours and is never read back or touched.

export const KEY_PREFIX = 'podvlan/';
export const MANAGED_KEY = `${KEY_PREFIX}managed`;

export interface Attachment {
  namespace: string;
  pod: string;
  containerId: string;
  network: string;
  interface: string; // name inside the pod
  bridge: string;
  port: string; // host-side veth, also the OVS port and interface name
  tag: number;
  ip?: string; // address/prefix inside the pod, when the network has IPAM
  mac: string;
  netns?: string; // inode of the pod's network namespace at setup, to notice a restarted container
  node?: string; // the node that made it (config nodeName or host name), for gc
}

const FIELDS = ['namespace', 'pod', 'containerId', 'network', 'interface', 'bridge', 'ip', 'mac', 'netns', 'node'] as const;

export function toExternalIds(a: Attachment): Record<string, string> {
  const ids: Record<string, string> = { [MANAGED_KEY]: 'true' };
  for (const f of FIELDS) {
    const v = a[f];
    if (v !== undefined) ids[KEY_PREFIX + f] = v;
  }
  return ids;
}

/** Rebuild an attachment from a port's name, tag and external_ids; undefined if not ours. */
export function fromExternalIds(port: string, tag: number | undefined, ids: Record<string, string>): Attachment | undefined {
  if (ids[MANAGED_KEY] !== 'true') return undefined;
  const get = (f: string) => ids[KEY_PREFIX + f] ?? '';
  return {
    namespace: get('namespace'),
    pod: get('pod'),
    containerId: get('containerId'),
    network: get('network'),
    interface: get('interface'),
    bridge: get('bridge'),
    port,
    tag: tag ?? 0,
    ip: ids[`${KEY_PREFIX}ip`],
    mac: get('mac'),
    netns: ids[`${KEY_PREFIX}netns`],
    node: ids[`${KEY_PREFIX}node`],
  };
}

/** external_ids entries that select a pod's ports in an `includes` condition. */
export function podSelector(namespace: string, pod: string): Record<string, string> {
  return { [MANAGED_KEY]: 'true', [`${KEY_PREFIX}namespace`]: namespace, [`${KEY_PREFIX}pod`]: pod };
}
