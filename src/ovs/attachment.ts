// The state of record for one pod network attachment, as stored in OVSDB Port.external_ids.
// A port is ours only when it has the `podvlan/managed` key, the very name hostVethName gives
// its namespace, pod and network, and every value in the form podvlan writes it; any other row
// (a foreign port that copied the key, a forged value) is never read back or touched.
import {
  cniHexId,
  hostVethName,
  isCniContainerId,
  isContainerId,
  isDns1123Label,
  isInterfaceName,
  isMac,
  isPluginName,
  isPodName,
} from '../names';
import { familyOfText, isIpPrefixText, isIpText } from '../ipam/ip';
import { parseVlanTrunk, vlanListText, vlansOf } from '../ipam/vlan';

export const KEY_PREFIX = 'podvlan/';
export const MANAGED_KEY = `${KEY_PREFIX}managed`;
// The VLANs a trunk port was made with (the config's, canonical): marks the port a trunk port.
export const TRUNKS_KEY = `${KEY_PREFIX}trunks`;
const VLAN_KEY = `${KEY_PREFIX}vlan`;
const IP_KEY = `${KEY_PREFIX}ip`;

export interface Attachment {
  namespace: string;
  pod: string;
  containerId: string;
  network: string;
  interface: string; // name inside the pod
  bridge: string;
  port: string; // host-side veth, also the OVS port and interface name
  tag: number; // 0 on a trunk port, which has no tag
  // A trunk port's VLANs as its Port.trunks column has them ("100-110,200"; "" when emptied by
  // hand, which OVS reads as every VLAN); set only on ports podvlan made as trunks (TRUNKS_KEY).
  trunks?: string;
  recordedTrunks?: string; // a trunk port's VLANs as setup made them (podvlan/trunks), to notice a hand edit
  vlan?: number; // the tag set at setup (podvlan/vlan), to notice one changed by hand; absent on older rows
  // The addresses/prefixes inside the pod (canonical, IPv4 first; one per family), none without
  // IPAM. Stored comma-joined in podvlan/ip; a row of an older podvlan has one.
  ips: string[];
  mac: string;
  netns?: string; // inode of the pod's network namespace at setup, to notice a restarted container
  node?: string; // the node that made it (config nodeName or host name), for gc
  runtime?: string; // 'cni' for a CNI attachment; absent for exec mode (whose rows predate the key)
  cniContainerId?: string; // the CNI runtime's own container id (containerId is a hex digest of it)
  k8sNamespace?: string; // a CNI row's K8S_POD_NAMESPACE, when the runtime gave one (for `list`)
  k8sPod?: string; // a CNI row's K8S_POD_NAME, likewise
  // Delegated IPAM (CNI only): the plugin that gave the address, which podvlan holds no lease for,
  // and what of its result a repeated ADD answers with again (it cannot ask the delegate twice).
  ipamPlugin?: string;
  gateway?: string; // comma-joined, one per family at most
  routes?: string; // "dst@via,dst" (encodeRoutes)
}

const FIELDS = [
  'namespace',
  'pod',
  'containerId',
  'network',
  'interface',
  'bridge',
  'mac',
  'netns',
  'node',
  'runtime',
  'cniContainerId',
  'k8sNamespace',
  'k8sPod',
  'ipamPlugin',
  'gateway',
  'routes',
] as const;

export function toExternalIds(a: Attachment): Record<string, string> {
  const ids: Record<string, string> = { [MANAGED_KEY]: 'true' };
  for (const f of FIELDS) {
    const v = a[f];
    if (v !== undefined) ids[KEY_PREFIX + f] = v;
  }
  if (a.ips.length > 0) ids[IP_KEY] = a.ips.join(',');
  const trunks = a.recordedTrunks ?? a.trunks; // the record stays as setup made it, whatever the column says now
  if (trunks !== undefined) ids[TRUNKS_KEY] = trunks;
  if (a.vlan !== undefined) ids[VLAN_KEY] = String(a.vlan);
  return ids;
}

/** Rebuild an attachment from a port's name, tag, external_ids and trunks column; undefined if not
 * ours or not valid. */
export function fromExternalIds(
  port: string,
  tag: number | undefined,
  ids: Record<string, string>,
  trunks: number[] = [],
): Attachment | undefined {
  if (ids[MANAGED_KEY] !== 'true') return undefined;
  const get = (f: string) => ids[KEY_PREFIX + f] ?? '';
  const a: Attachment = {
    namespace: get('namespace'),
    pod: get('pod'),
    containerId: get('containerId'),
    network: get('network'),
    interface: get('interface'),
    bridge: get('bridge'),
    port,
    tag: tag ?? 0,
    ips: ids[IP_KEY] === undefined ? [] : ids[IP_KEY].split(','),
    mac: get('mac'),
    netns: ids[`${KEY_PREFIX}netns`],
    node: ids[`${KEY_PREFIX}node`],
  };
  // Only set when present, so exec-mode attachments read back exactly as before.
  const runtime = ids[`${KEY_PREFIX}runtime`];
  if (runtime !== undefined) a.runtime = runtime;
  const vlan = ids[VLAN_KEY];
  if (vlan !== undefined) a.vlan = /^[1-9]\d{0,3}$/.test(vlan) ? Number(vlan) : Number.NaN; // NaN: refused below
  const cniId = ids[`${KEY_PREFIX}cniContainerId`];
  if (cniId !== undefined) a.cniContainerId = cniId;
  for (const f of ['k8sNamespace', 'k8sPod', 'ipamPlugin', 'gateway', 'routes'] as const) {
    const v = ids[KEY_PREFIX + f];
    if (v !== undefined) a[f] = v;
  }
  // The column as it is now (a hand edit shows), for a port the record marks as a trunk; OVSDB
  // keeps its values in 0-4095. A row whose mark is not a trunk list is not podvlan's.
  const recorded = ids[TRUNKS_KEY];
  if (recorded !== undefined) {
    if (!isTrunkList(recorded) || !trunks.every((v) => Number.isInteger(v) && v >= 0 && v <= 4095)) return undefined;
    a.trunks = vlanListText([...trunks].sort((x, y) => x - y));
    a.recordedTrunks = vlanListText(vlansOf(parseVlanTrunk(recorded)));
  }
  return isValidAttachment(a) ? a : undefined;
}

/** Every value in the form podvlan writes it, and the port named as hostVethName names it. */
export function isValidAttachment(a: Attachment): boolean {
  return (
    isDns1123Label(a.namespace) &&
    isPodName(a.pod) &&
    isDns1123Label(a.network) &&
    isContainerId(a.containerId) &&
    isInterfaceName(a.interface) &&
    isInterfaceName(a.bridge) &&
    isMac(a.mac) &&
    Number.isInteger(a.tag) &&
    a.tag >= 0 &&
    a.tag <= 4094 &&
    (a.vlan === undefined || (Number.isInteger(a.vlan) && a.vlan >= 1 && a.vlan <= 4094)) &&
    isAddressList(a.ips, isIpPrefixText) &&
    (a.netns === undefined || /^\d{1,20}$/.test(a.netns)) &&
    (a.node === undefined || /^[A-Za-z0-9._-]{1,253}$/.test(a.node)) && // a host name, maybe not lowercase
    // A CNI row: its hex containerId is the digest of the runtime's id, which is in the spec's form.
    (a.runtime === undefined
      ? a.cniContainerId === undefined
      : a.runtime === 'cni' &&
        a.cniContainerId !== undefined &&
        isCniContainerId(a.cniContainerId) &&
        a.containerId === cniHexId(a.cniContainerId)) &&
    // Kubernetes names only on CNI rows (exec rows are named by them already), in their forms.
    ((a.k8sNamespace === undefined && a.k8sPod === undefined) || a.runtime === 'cni') &&
    (a.k8sNamespace === undefined || isDns1123Label(a.k8sNamespace)) &&
    (a.k8sPod === undefined || isPodName(a.k8sPod)) &&
    // A delegate's address: a CNI row with an address, the plugin a file name; gateway and routes only with it.
    (a.ipamPlugin === undefined
      ? a.gateway === undefined && a.routes === undefined
      : a.runtime === 'cni' &&
        a.ips.length > 0 &&
        isPluginName(a.ipamPlugin) &&
        (a.gateway === undefined || isAddressList(a.gateway.split(','), isIpText)) &&
        (a.routes === undefined || decodeRoutes(a.routes) !== undefined)) &&
    (a.trunks === undefined || /^(\d{1,4}(-\d{1,4})?(,\d{1,4}(-\d{1,4})?)*)?$/.test(a.trunks)) &&
    a.port === hostVethName(a.namespace, a.pod, a.network)
  );
}

/** At most one address of each family, IPv4 first, each in the form podvlan writes. */
function isAddressList(list: string[], valid: (s: string) => boolean): boolean {
  if (list.length > 2 || !list.every(valid)) return false;
  return list.length < 2 || (familyOfText(list[0]) === 4 && familyOfText(list[1]) === 6);
}

function isTrunkList(text: string): boolean {
  try {
    parseVlanTrunk(text);
    return true;
  } catch {
    return false;
  }
}

const MAX_ROUTES = 64;

/** Routes as one external_ids value: `dst@via` or `dst`, comma-separated. */
export function encodeRoutes(routes: { dst: string; via?: string }[]): string {
  return routes.map((r) => (r.via ? `${r.dst}@${r.via}` : r.dst)).join(',');
}

/** The routes of encodeRoutes; undefined unless every part is in that form. */
export function decodeRoutes(text: string): { dst: string; via?: string }[] | undefined {
  if (text === '') return [];
  const parts = text.split(',');
  if (parts.length > MAX_ROUTES) return undefined;
  const routes: { dst: string; via?: string }[] = [];
  for (const part of parts) {
    const [dst, via, ...rest] = part.split('@');
    // Either family; a route's via is of its destination's family.
    if (rest.length > 0 || !isIpPrefixText(dst)) return undefined;
    if (via !== undefined && (!isIpText(via) || familyOfText(via) !== familyOfText(dst))) return undefined;
    routes.push(via === undefined ? { dst } : { dst, via });
  }
  return routes;
}

/** external_ids entries that select a pod's ports in an `includes` condition. */
export function podSelector(namespace: string, pod: string): Record<string, string> {
  return { [MANAGED_KEY]: 'true', [`${KEY_PREFIX}namespace`]: namespace, [`${KEY_PREFIX}pod`]: pod };
}
