// What CHECK reads of the pod's interface, inside the namespace the CNI_NETNS handle holds
// (iproute2 `-json` under nsenter, handed the namespace as an fd, never by path or PID): its
// index, its veth peer's index, MAC, addresses and routes. Read only.
import type { Sandbox } from '../runtime/sandbox';
import { OperationError } from '../errors';
import { queryIpJson } from '../veth/ip';

export interface PodInterface {
  ifindex: number;
  peerIndex?: number; // the veth peer's ifindex, in the peer's namespace
  kind?: string; // "veth" for podvlan's
  mac: string;
  addresses: string[]; // addr/len of either family, scope global (an IPv6 link-local address is the kernel's)
  routes: { dst: string; gw?: string }[]; // dst as a prefix ("0.0.0.0/0" or "::/0" for default), main table
}

interface IpAddrRow {
  ifindex: number;
  link_index?: number;
  address?: string;
  linkinfo?: { info_kind?: string };
  addr_info?: { family?: string; local?: string; prefixlen?: number; scope?: string }[];
}
interface IpRouteRow {
  dst?: string;
  gateway?: string;
  table?: string; // "main", or another table (local)
  type?: string; // "unicast", or local, broadcast, multicast
  pref?: string; // IPv6 rows only (the router preference)
}

/** The interface `ifname` in the sandbox's namespace; undefined when it has none of that name. */
export async function readPodInterface(
  sandbox: Sandbox,
  ifname: string,
  timeoutMs: number,
): Promise<PodInterface | undefined> {
  const { outputs, stderr } = await queryIpJson(
    [
      ['addr', 'show', 'dev', ifname],
      // `table all`: both families in one command (a batch line cannot say -6); the main table's unicast rows are kept.
      ['route', 'show', 'table', 'all', 'dev', ifname],
    ],
    { netnsFd: sandbox.fd, timeoutMs },
  );
  const link = (outputs[0] as IpAddrRow[] | undefined)?.[0];
  if (!link) {
    // No such device is an answer; anything else (ip or nsenter failing) is not.
    if (/does not exist|Cannot find device/.test(stderr) || outputs.length > 0) return undefined;
    throw new OperationError(`in the pod: cannot read ${ifname}: ${stderr || 'ip printed nothing'}`);
  }
  const rows = (outputs[1] as IpRouteRow[] | undefined) ?? [];
  const routes = rows
    .filter((r) => (r.table ?? 'main') === 'main' && (r.type ?? 'unicast') === 'unicast')
    .map((r) => ({
      dst: routePrefix(r.dst ?? '', r.pref !== undefined || r.gateway?.includes(':')),
      ...(r.gateway ? { gw: r.gateway } : {}),
    }));
  return {
    ifindex: link.ifindex,
    peerIndex: link.link_index,
    kind: link.linkinfo?.info_kind,
    mac: (link.address ?? '').toLowerCase(),
    addresses: (link.addr_info ?? [])
      .filter((a) => (a.family === 'inet' || (a.family === 'inet6' && a.scope === 'global')) && a.local)
      .map((a) => `${a.local}/${a.prefixlen}`),
    routes,
  };
}

/** iproute2 prints "default" and bare host addresses; a result says "0.0.0.0/0" (or "::/0" for an
 * IPv6 row) and "a.b.c.d/32". */
export function routePrefix(dst: string, ipv6 = false): string {
  if (dst === 'default') return ipv6 ? '::/0' : '0.0.0.0/0';
  if (dst.includes('/')) return dst;
  return dst.includes(':') ? `${dst}/128` : `${dst}/32`;
}
