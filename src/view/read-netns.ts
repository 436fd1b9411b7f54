// The pod ends, read inside the network namespaces recorded at setup (podvlan/netns). A namespace
// is found by what holds it (a process in it, an open descriptor, an nsfs bind mount: the /proc
// scan gc uses), opened through that holder, and its inode checked against the record before
// anything is read: the holder may have exited and its PID been reused meanwhile. Inside, a link
// and an address dump over rtnetlink, in process (netlink-query.ts, diagnose's reader): a socket
// made in the namespace through the opened descriptor, so what is read is what was checked.
// Read only: nothing is created, moved or changed in any namespace.
import { closeSync, fstatSync, openSync, statSync } from 'node:fs';
import { openSandbox, type Sandbox } from '../runtime/sandbox';
import { type NetnsScan, scanNetnsHolders } from '../runtime/netns-alive';
import type { AddrFacts, LinkFacts } from '../veth/netlink-read';
import { loadNetlink, readNetnsLinks } from '../veth/netlink-query';
import type { NetnsFacts, PodLink } from './judge';

/** What to run per namespace: the real reader, or a test's. */
export type LinkReader = (sandbox: Sandbox, timeoutMs: number) => PodLink[] | Promise<PodLink[]>;

/** The facts of each recorded namespace (inodes as recorded: decimal text). */
export async function readNamespaces(
  inodes: string[],
  timeoutMs: number,
  read?: LinkReader,
  scanFor: (inodes: string[]) => NetnsScan = scanNetnsHolders,
): Promise<Map<string, NetnsFacts>> {
  const out = new Map<string, NetnsFacts>();
  const wanted = [...new Set(inodes)];
  if (wanted.length === 0) return out;
  const scan = scanFor(wanted);
  const todo: { inode: string; paths: string[] }[] = [];
  for (const inode of wanted) {
    const v = scan.verdict(inode);
    const paths = scan.pathsTo(inode);
    // Only namespaces of existing host veths are asked about: their pod ends live somewhere, so
    // "gone" is believed only when no process hid its namespace from the scan.
    if (!v.alive && scan.hidden.length > 0)
      out.set(inode, { state: 'unknown', why: `${v.why}, but ${scan.hidden.length} process(es) hide theirs` });
    else if (!v.alive) out.set(inode, { state: 'gone', why: v.why });
    else if (paths.length === 0) out.set(inode, { state: 'unknown', why: v.why });
    else todo.push({ inode, paths });
  }
  if (todo.length === 0) return out;
  const reader = read ?? (await netlinkReader());
  // One after another: each read is two dumps on a socket, well under a millisecond.
  for (const { inode, paths } of todo) out.set(inode, await readOne(inode, paths, timeoutMs, reader));
  return out;
}

/** The in-process reader; without one (Node, no libc) every namespace reads as unknown, saying why. */
async function netlinkReader(): Promise<LinkReader> {
  const nl = await loadNetlink();
  if (typeof nl === 'string')
    return () => {
      throw new Error(nl);
    };
  return (sandbox, timeoutMs) => {
    const { links, addresses } = readNetnsLinks(nl, sandbox, timeoutMs, 'both');
    return podLinks(links, addresses);
  };
}

async function readOne(inode: string, paths: string[], timeoutMs: number, read: LinkReader): Promise<NetnsFacts> {
  const sandbox = openFirst(inode, paths);
  if (!sandbox) return { state: 'unknown', why: `cannot open netns ${inode} (holders gone, or refused)` };
  try {
    return { state: 'read', links: await read(sandbox, timeoutMs) };
  } catch (err) {
    return { state: 'unknown', why: `cannot read netns ${inode}: ${(err as Error).message}` };
  } finally {
    sandbox.close();
  }
}

// Not in fs.constants; the same value on x86-64 and arm64. An O_PATH descriptor opens nothing:
// no FIFO waits for a writer, no device runs its open, no mount's filesystem is asked.
const O_PATH = 0o10000000;

/** The first path that opens this very namespace: a holder found by the scan may have exited
 * since, and its PID or descriptor number been given to another; and a descriptor counts as a
 * holder by its inode number alone (netns-alive.ts), which a file elsewhere may share: a pipe, a
 * FIFO or a device, whose open would block the view or act on the device. So each path is first
 * looked at through O_PATH, and only the namespace it names is opened (through that look). */
export function openFirst(inode: string, paths: string[]): Sandbox | undefined {
  const nsfs = statSync('/proc/self/ns/net').dev;
  for (const path of paths) {
    let sandbox: Sandbox;
    let probe: number;
    try {
      probe = openSync(path, O_PATH);
    } catch {
      continue;
    }
    try {
      const st = fstatSync(probe);
      if (st.dev !== nsfs || String(st.ino) !== inode) continue;
      sandbox = openSandbox(`/proc/self/fd/${probe}`, `netns ${inode}`);
    } catch {
      continue;
    } finally {
      closeSync(probe);
    }
    if (sandbox.inode === inode && fstatSync(sandbox.fd).dev === nsfs) return sandbox;
    sandbox.close();
  }
  return undefined;
}

/** The links of a namespace as the views judge them, each with its addresses of both families that
 * podvlan could have given: the kernel's own IPv6 link-local ones (fe80::/10) and any that failed
 * duplicate address detection (unusable) are left out. IFLA_LINK is a veth's peer; the kernel leaves it out, or sends 0, for a link with
 * none (lo), which then has no peer rather than peer 0. */
export function podLinks(links: LinkFacts[], all: AddrFacts[]): PodLink[] {
  const addresses = all.filter((a) => !a.dadFailed && !isLinkLocal6(a.address));
  return links
    .filter((l) => l.name !== '' && l.index > 0)
    .map((l) => ({
      name: l.name,
      ifindex: l.index,
      ...(l.peerIndex ? { peerIndex: l.peerIndex } : {}),
      ...(l.kind ? { kind: l.kind } : {}),
      up: l.up,
      ...(l.mtu !== undefined ? { mtu: l.mtu } : {}),
      addresses: addresses.filter((a) => a.index === l.index).map((a) => a.address),
    }));
}

/** fe80::/10, which the kernel gives every IPv6 link itself. */
const isLinkLocal6 = (address: string) => /^fe[89ab][0-9a-f]:/i.test(address);
