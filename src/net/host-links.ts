// What this node's kernel says about its interfaces, read from /proc and the OS (no child
// process): which links exist, which carry the node's addresses, which its default routes use.
// init reads these before making an interface an uplink, so podvlan never cuts a node off.
import { nodeFs } from '../builtins';
import { UnavailableError } from '../errors';
import { hostAddressesJson } from '../veth/ip';

export interface HostLinks {
  exists(name: string): boolean;
  /** The node's addresses on the link: IPv4 and non-link-local IPv6 (fe80:: is on every up link). */
  addresses(name: string): string[];
  /** Whether an IPv4 or IPv6 default route goes out of the link. */
  carriesDefaultRoute(name: string): boolean;
}

function readProc(path: string): string {
  try {
    return nodeFs().readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** The links of the caller's network namespace (/proc/net is per namespace). */
export async function hostLinks(timeoutMs: number): Promise<HostLinks> {
  // /proc/net/dev: two header lines, then "  name: counters...".
  const names = new Set(
    readProc('/proc/net/dev')
      .split('\n')
      .slice(2)
      .map((l) => l.split(':')[0].trim())
      .filter(Boolean),
  );
  const defaults = new Set<string>();
  // /proc/net/route: Iface Destination Gateway Flags ... Mask; a default route has both zero.
  for (const line of readProc('/proc/net/route').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 8 && f[1] === '00000000' && f[7] === '00000000') defaults.add(f[0]);
  }
  // /proc/net/ipv6_route: dest, dest prefix length, ..., device last; ::/0 is the default.
  for (const line of readProc('/proc/net/ipv6_route').split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 10 && /^0{32}$/.test(f[0]) && f[1] === '00' && f[9] !== 'lo') defaults.add(f[9]);
  }
  // Not os.networkInterfaces(): it leaves out every link that is down or has no carrier, and an
  // address on an unplugged NIC is still the node's: made a port, the NIC cuts the node off that
  // network once its cable is back. The kernel's own list has every link's addresses.
  let addresses: Map<string, string[]> | undefined;
  let unreadable = '';
  try {
    addresses = addressesOf(await hostAddressesJson(timeoutMs));
  } catch (err) {
    unreadable = (err as Error).message;
  }
  return {
    exists: (name) => names.has(name),
    addresses: (name) => {
      if (!addresses)
        throw new UnavailableError(
          `cannot read the addresses of ${name} (${unreadable}): init adds no uplink unchecked`,
        );
      return addresses.get(name) ?? [];
    },
    carriesDefaultRoute: (name) => defaults.has(name),
  };
}

/** `ip -json addr show` by link: IPv4 addresses and IPv6 ones that are not link-local. */
export function addressesOf(json: unknown): Map<string, string[]> {
  const out = new Map<string, string[]>();
  if (!Array.isArray(json)) throw new Error('ip -json addr show printed no list');
  for (const link of json as { ifname?: unknown; addr_info?: { family?: unknown; local?: unknown }[] }[]) {
    if (typeof link.ifname !== 'string') continue;
    const local = (link.addr_info ?? [])
      .filter((a) => typeof a.local === 'string' && (a.family === 'inet' || a.family === 'inet6'))
      .map((a) => a.local as string)
      .filter((a) => !a.toLowerCase().startsWith('fe80:'));
    out.set(link.ifname, local);
  }
  return out;
}
