// Veth pairs for pod attachments. The pair is created from the host with the pod end born
// directly inside the pod's namespace under its final name, so no temporary name ever appears
// in the host namespace and two pods cannot race on it. The pod's namespace comes as an open
// handle (runtime/sandbox.ts) and is used only through it, on both paths below: a PID would be
// looked up again at move time, and may by then name a stranger's namespace.
//
// Under bun the work is done in-process over rtnetlink (netlink-pairs.ts over netlink-ffi.ts, through bun:ffi), which
// saves the two spawns of ip and nsenter; under Node (vitest), when bun:ffi or libc cannot be
// loaded or no netlink socket can be opened, or with PODVLAN_VETH=ip in the environment, it
// falls back to iproute2 (ip.ts). The fallback is decided before anything is changed.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { ConflictError, oneLine } from '../errors';
import { type Family, familyOfText } from '../ipam/ip';
import { inodeOfFd, type Sandbox } from '../runtime/sandbox';
import { CHILD_NETNS, type IpCommand, ipv6InPod, notifyInPod, runIpBatch } from './ip';
import { addrAddWords, routeAddWords, vethAddWords } from './netlink';

type Netlink = typeof import('./netlink-pairs');
let netlinkModule: Promise<Netlink | undefined> | undefined;

/** The in-process netlink path, or undefined where it cannot be used. Loaded on first use only
 * (a dynamic import, so other commands and Node never evaluate bun:ffi). */
function netlink(): Promise<Netlink | undefined> {
  if (typeof (globalThis as { Bun?: unknown }).Bun === 'undefined' || process.env.PODVLAN_VETH === 'ip')
    return Promise.resolve(undefined);
  netlinkModule ??= import('./netlink-pairs')
    .then(async (m) => {
      await m.load();
      return m;
    })
    .catch(() => undefined);
  return netlinkModule;
}

export interface VethPlan {
  hostName: string;
  podName: string; // interface name inside the pod
  mac: string;
  mtu: number;
  addresses: string[]; // canonical addr/len, either family (IPv4 first)
  routes: { dst: string; via?: string }[];
}

/** Create every pair and bring the host ends up (host namespace), then configure the pod ends,
 * all in the namespace `sandbox` holds, after checking it is the one recorded for the ports
 * (`recordedInode`). The caller keeps the handle and closes it. IPv6 addresses are added with
 * `nodad`, so none is tentative when this returns (docs/how-it-works.md, "IPv6 on the pod end").
 * A pod end with an IPv4 address gets arp_notify, one with an IPv6 address ndisc_notify, so that
 * announceAddresses can make it announce itself later; returns why that could not be set, if it
 * could not, which fails nothing. */
export async function createPairs(
  sandbox: Sandbox,
  recordedInode: string,
  plans: VethPlan[],
  timeoutMs: number,
): Promise<string[]> {
  if (plans.length === 0) return [];
  checkHandle(sandbox, recordedInode);
  const nl = await netlink();
  if (nl) {
    try {
      return nl.createPairs(sandbox, plans, timeoutMs);
    } catch (err) {
      if (!(err instanceof nl.NetlinkUnavailable)) throw err;
    }
  }
  const host: IpCommand[] = [];
  const pod: IpCommand[] = [];
  for (const p of plans) {
    host.push(vethAddWords(p, CHILD_NETNS));
    host.push(['link', 'set', p.hostName, 'up']);
    for (const a of p.addresses) pod.push(addrAddWords(a, p.podName));
    pod.push(['link', 'set', p.podName, 'up']);
    for (const r of p.routes) pod.push(routeAddWords(r.dst, r.via, p.podName));
  }
  await runIpBatch(host, { netnsFd: sandbox.fd, timeoutMs });
  const having = (family: Family) =>
    plans.filter((p) => p.addresses.some((a) => familyOfText(a) === family)).map((p) => p.podName);
  // IPv6 on before the addresses (ipv6InPod): one more wait, for pod ends with an IPv6 address only.
  await ipv6InPod(having(6), { netnsFd: sandbox.fd, timeoutMs });
  // sysctl beside the pod's ip batch, not after it: one more process, but not one more wait.
  const [, notify] = await Promise.all([
    runIpBatch(pod, { netnsFd: sandbox.fd, enterNetns: true, timeoutMs }),
    notifyInPod({ arp: having(4), ndisc: having(6) }, { netnsFd: sandbox.fd, timeoutMs }).then(
      () => [],
      (err: unknown) => [oneLine(err)],
    ),
  ]);
  return notify;
}

/** Make each pod end (with arp_notify and ndisc_notify set by createPairs) announce each of its
 * addresses, once its port forwards: the MAC set to the one it already has changes nothing, but
 * the kernel still runs its address-change notifiers (NETDEV_CHANGEADDR): with arp_notify IPv4's
 * sends a gratuitous ARP request (sender and target IP the address, sender MAC the interface's),
 * with ndisc_notify IPv6's an unsolicited neighbour advertisement to all nodes (target the
 * address, override set, the interface's MAC as its target link-layer option). A socket or
 * process of our own that sent the frame would cost more: closing a packet socket waits for the
 * kernel's synchronize_net, 6-18 ms. Throws on failure; the caller decides what that means. */
export async function announceAddresses(
  sandbox: Sandbox,
  targets: { podName: string; mac: string }[],
  timeoutMs: number,
): Promise<void> {
  if (targets.length === 0) return;
  const nl = await netlink();
  if (nl) {
    try {
      return nl.announce(sandbox, targets, timeoutMs);
    } catch (err) {
      if (!(err instanceof nl.NetlinkUnavailable)) throw err;
    }
  }
  const pod = targets.map((t) => ['link', 'set', 'dev', t.podName, 'address', t.mac]);
  await runIpBatch(pod, { netnsFd: sandbox.fd, enterNetns: true, timeoutMs });
}

/** The handle must still hold the namespace whose inode goes into the ports' record: an fd number
 * closed and reused (a bug in a long-running agent), or a handle of another lookup, is refused
 * before anything is created. So is our own namespace, the node's: a host-network container, or
 * a PID that a host process took over before the lookup opened it; pod ends, addresses and
 * routes there would land on the node itself. */
function checkHandle(sandbox: Sandbox, recordedInode: string): void {
  let inode: string;
  try {
    inode = inodeOfFd(sandbox.fd);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(`internal: the network namespace handle of ${sandbox.source} is unusable (${code})`);
  }
  if (inode !== recordedInode) {
    throw new ConflictError(
      `the network namespace of ${sandbox.source} has inode ${inode}, not the recorded ` +
        `${recordedInode}: nothing created, retry the setup`,
    );
  }
  // thread-self: the namespace this thread creates host ends in (the same as the process's here).
  if (inode === String(statSync('/proc/thread-self/ns/net').ino)) {
    throw new ConflictError(
      `${sandbox.source} is in the node's own network namespace (host network?): ` +
        'podvlan attaches only pods with a namespace of their own',
    );
  }
}

/** Delete host ends (the pod ends go with them). Missing links are not an error. */
export async function deleteHostLinks(names: string[], timeoutMs: number): Promise<void> {
  if (names.length === 0) return;
  const nl = await netlink();
  if (nl) {
    try {
      return nl.deleteLinks(names, timeoutMs);
    } catch (err) {
      if (!(err instanceof nl.NetlinkUnavailable)) throw err;
    }
  }
  await runIpBatch(
    names.map((n) => ['link', 'del', n]),
    { force: true, timeoutMs },
  );
}

/** Whether a link exists in our network namespace (sysfs shows the namespace it was mounted in,
 * which is ours for the kubelet's host namespace and under `ip netns exec`). */
export function linkExists(name: string): boolean {
  return existsSync(`/sys/class/net/${name}`);
}

const HOST_VETH = /^pv[0-9a-f]{13}$/;

/** podvlan's host-side veths in our namespace (by their name pattern). */
export function listHostVeths(): string[] {
  try {
    return readdirSync('/sys/class/net').filter((n) => HOST_VETH.test(n));
  } catch {
    return [];
  }
}

/** A link's ifindex (sysfs), or undefined when it is gone: a name reused by a new link has a new index. */
export function ifindexOf(name: string): number | undefined {
  try {
    return Number(readFileSync(`/sys/class/net/${name}/ifindex`, 'utf8'));
  } catch {
    return undefined;
  }
}
