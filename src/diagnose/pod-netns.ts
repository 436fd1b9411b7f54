// Reading both ends of a pod's veth for diagnose, in process over rtnetlink: the pod's interface,
// addresses, the kernel's route and neighbour lookups and its ARP and reverse-path sysctls inside
// the pod's namespace, and the host end in the node's. The pod's namespace is found by the inode
// recorded at setup (a process in it or an nsfs mount of it), opened once, and checked to be
// that inode before anything is read. Read only: nothing here changes a namespace.
import { nodeFs } from '../builtins';
import { isInterfaceName } from '../names';
import { openSandbox, type Sandbox } from '../runtime/sandbox';
import { scanNetnsHolders } from '../runtime/netns-alive';
import {
  addrDump,
  type LinkFacts,
  linkGetByIndex,
  neighGet,
  parseAddr,
  parseLink,
  parseNeigh,
  parseRoute,
  routeGet,
} from '../veth/netlink-read';
import { linkGet } from '../veth/netlink';
import { ask, type Netlink } from '../veth/netlink-query';
import type { EndFacts } from './facts';

type Socket = import('../veth/netlink-ffi').RouteSocket;

const NET_LINK = /^net:\[(\d+)\]$/;

/** A path that opens each namespace of `inodes`: an nsfs mount of it, else /proc/PID/ns/net of a process in it. */
export function netnsPaths(inodes: string[], proc = '/proc'): Map<string, string> {
  const fs = nodeFs();
  const wanted = new Set(inodes);
  const found = new Map<string, string>();
  try {
    for (const line of fs.readFileSync(`${proc}/self/mountinfo`, 'utf8').split('\n')) {
      const f = line.split(' '); // "36 35 0:4 net:[4026532247] /run/netns/x rw ..."
      const inode = f.length > 4 ? NET_LINK.exec(f[3])?.[1] : undefined;
      if (inode && wanted.has(inode) && !found.has(inode) && !f[4].includes('\\')) found.set(inode, f[4]);
    }
  } catch {
    /* no mount table: look for processes */
  }
  if (found.size === wanted.size) return found;
  for (const pid of fs.readdirSync(proc)) {
    if (!/^\d+$/.test(pid)) continue;
    let target: string;
    try {
      target = fs.readlinkSync(`${proc}/${pid}/ns/net`);
    } catch {
      continue; // exited, or hidden from us
    }
    const inode = NET_LINK.exec(target)?.[1];
    if (inode && wanted.has(inode) && !found.has(inode)) {
      found.set(inode, `${proc}/${pid}/ns/net`);
      if (found.size === wanted.size) break;
    }
  }
  return found;
}

/** Open the namespace `inode` through `path`, refusing one that turned out to be another. */
export function openNetns(inode: string, path: string): Sandbox {
  const sandbox = openSandbox(path, `netns ${inode} (${path})`);
  if (sandbox.inode !== inode) {
    sandbox.close();
    throw new Error(`${path} is now namespace ${sandbox.inode}, not ${inode}`);
  }
  return sandbox;
}

/** Why the namespace cannot be found: gone (nothing holds it), or held where we cannot open it. */
export function netnsAbsence(inode: string): { gone: boolean; why: string } {
  const v = scanNetnsHolders([inode]).verdict(inode);
  return { gone: !v.alive, why: v.why };
}

const errnoFrom = (err: unknown) => (err as { errno?: number }).errno;
const text = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** The link `name`; null when there is none (ENODEV). */
function link(sock: Socket, name: string): LinkFacts | null {
  try {
    return parseLink(ask(sock, (seq) => linkGet(seq, name))[0]) ?? null;
  } catch (err) {
    if (errnoFrom(err) === 19) return null;
    throw err;
  }
}

/** The host end of a veth, in the caller's namespace. */
export function readHostLink(nl: Netlink, name: string, timeoutMs: number): LinkFacts | null {
  const sock = nl.openHostSocket(timeoutMs);
  try {
    return link(sock, name);
  } finally {
    sock.close();
  }
}

type PodSide = Pick<
  EndFacts,
  'podLink' | 'addresses' | 'dadFailed' | 'route' | 'routeError' | 'nextHop' | 'neighbour' | 'receive' | 'sysctl'
>;

/** Everything the pod's end of the path shows, read inside `sandbox`; `unread` gets what failed. */
export function readPodSide(
  nl: Netlink,
  sandbox: Sandbox,
  ifname: string,
  addresses: { own?: string; peer?: string },
  unread: Record<string, string>,
  timeoutMs: number,
): PodSide {
  if (!isInterfaceName(ifname)) throw new Error(`invalid interface name ${JSON.stringify(ifname)}`);
  const out: PodSide = {};
  let sysctl: PodSide['sysctl'] | string | undefined;
  // In the namespace only as long as the socket's creation and the sysctl opens take.
  const sock = nl.inNetns(sandbox, () => {
    sysctl = readSysctls(ifname);
    return nl.RouteSocket.open(timeoutMs);
  });
  if (typeof sysctl === 'string') unread.sysctl = sysctl;
  else out.sysctl = sysctl;
  const step = (fact: string, fn: () => void) => {
    try {
      fn();
    } catch (err) {
      unread[fact] = text(err);
    }
  };
  try {
    step('pod interface', () => {
      out.podLink = link(sock, ifname);
    });
    const l = out.podLink;
    if (!l) return out;
    step('addresses', () => {
      // Both families; the kernel's own fe80:: link-local address is not one podvlan gives.
      const all = ask(sock, (seq) => addrDump(seq, 'both'))
        .map(parseAddr)
        .filter((a) => a !== undefined && a.index === l.index && !/^fe[89ab][0-9a-f]:/i.test(a.address));
      out.addresses = all.filter((a) => !a!.dadFailed).map((a) => a!.address);
      const failed = all.filter((a) => a!.dadFailed).map((a) => a!.address);
      if (failed.length > 0) out.dadFailed = failed;
    });
    const { own, peer } = addresses;
    if (peer === undefined) return out;
    try {
      const r = parseRoute(ask(sock, (seq) => routeGet(seq, peer))[0]);
      if (r) {
        const oifName = r.oif === l.index ? ifname : r.oif ? lookupName(sock, r.oif) : undefined;
        out.route = { ...r, ...(oifName ? { oifName } : {}) };
      }
    } catch (err) {
      if (errnoFrom(err) === undefined) unread.route = text(err);
      else out.routeError = text(err);
    }
    out.nextHop = out.route?.gateway ?? peer;
    step('neighbour', () => {
      try {
        out.neighbour =
          parseNeigh(ask(sock, (seq) => neighGet(seq, out.route?.oif ?? l.index, out.nextHop!))[0]) ?? null;
      } catch (err) {
        if (errnoFrom(err) !== 2) throw err; // ENOENT: no entry
        out.neighbour = null;
      }
    });
    if (own === undefined) return out;
    try {
      ask(sock, (seq) => routeGet(seq, own, { src: peer, iif: l.index }));
      out.receive = { ok: true };
    } catch (err) {
      const errno = errnoFrom(err);
      if (errno === undefined) unread['receive path'] = text(err);
      else out.receive = { ok: false, error: text(err), errno };
    }
    return out;
  } finally {
    sock.close();
  }
}

function lookupName(sock: Socket, index: number): string | undefined {
  try {
    return parseLink(ask(sock, (seq) => linkGetByIndex(seq, index))[0])?.name;
  } catch {
    return undefined;
  }
}

/** rp_filter and arp_ignore, `all` and the interface's; read in the pod's namespace. */
function readSysctls(ifname: string): PodSide['sysctl'] | string {
  const fs = nodeFs();
  const read = (scope: string, key: string) =>
    Number(fs.readFileSync(`/proc/sys/net/ipv4/conf/${scope}/${key}`, 'utf8').trim());
  try {
    return {
      rpFilter: [read('all', 'rp_filter'), read(ifname, 'rp_filter')],
      arpIgnore: [read('all', 'arp_ignore'), read(ifname, 'arp_ignore')],
    };
  } catch (err) {
    return text(err);
  }
}
