// The pod ends, read inside the network namespaces recorded at setup (podvlan/netns). A namespace
// is found by what holds it (a process in it, an open descriptor, an nsfs bind mount: the /proc
// scan gc uses), opened through that holder, and its inode checked against the record before
// anything is read: the holder may have exited and its PID been reused meanwhile. Inside, one
// `ip -json -details addr show` (iproute2 under nsenter, given the namespace as a descriptor).
// Read only: nothing is created, moved or changed in any namespace.
import { fstatSync, statSync } from 'node:fs';
import { openSandbox, type Sandbox } from '../runtime/sandbox';
import { type NetnsScan, scanNetnsHolders } from '../runtime/netns-alive';
import { queryIpJson } from '../veth/ip';
import type { NetnsFacts, PodLink } from './judge';

interface IpAddrRow {
  ifname?: string;
  ifindex?: number;
  link_index?: number;
  mtu?: number;
  flags?: string[];
  linkinfo?: { info_kind?: string };
  addr_info?: { family?: string; local?: string; prefixlen?: number }[];
}

/** What to run per namespace: the real reader, or a test's. */
export type LinkReader = (sandbox: Sandbox, timeoutMs: number) => Promise<PodLink[]>;

const PARALLEL = 4; // ip + nsenter per namespace: enough to overlap, few enough for a 2-core node

/** The facts of each recorded namespace (inodes as recorded: decimal text). */
export async function readNamespaces(
  inodes: string[],
  timeoutMs: number,
  read: LinkReader = readLinks,
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
  let next = 0;
  const worker = async () => {
    while (next < todo.length) {
      const { inode, paths } = todo[next++];
      out.set(inode, await readOne(inode, paths, timeoutMs, read));
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL, todo.length) }, worker));
  return out;
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

/** The first path that opens this very namespace: a holder found by the scan may have exited
 * since, and its PID or descriptor number been given to another; and a descriptor counts as a
 * holder by its inode number alone (netns-alive.ts), which a file elsewhere may share. */
export function openFirst(inode: string, paths: string[]): Sandbox | undefined {
  const nsfs = statSync('/proc/self/ns/net').dev;
  for (const path of paths) {
    let sandbox: Sandbox;
    try {
      sandbox = openSandbox(path, `netns ${inode}`);
    } catch {
      continue;
    }
    if (sandbox.inode === inode && fstatSync(sandbox.fd).dev === nsfs) return sandbox;
    sandbox.close();
  }
  return undefined;
}

/** Every link of the namespace with its addresses (one ip process under nsenter). */
export async function readLinks(sandbox: Sandbox, timeoutMs: number): Promise<PodLink[]> {
  const { outputs, stderr } = await queryIpJson([['addr', 'show']], { netnsFd: sandbox.fd, timeoutMs });
  if (outputs.length === 0) throw new Error(stderr || 'ip printed nothing');
  return parseAddrShow(outputs[0]);
}

/** `ip -json -details addr show` as PodLinks (IPv4 addresses only, as podvlan gives). */
export function parseAddrShow(json: unknown): PodLink[] {
  if (!Array.isArray(json)) return [];
  return (json as IpAddrRow[])
    .filter((r) => typeof r.ifname === 'string' && typeof r.ifindex === 'number')
    .map((r) => ({
      name: r.ifname!,
      ifindex: r.ifindex!,
      ...(typeof r.link_index === 'number' ? { peerIndex: r.link_index } : {}),
      ...(r.linkinfo?.info_kind ? { kind: r.linkinfo.info_kind } : {}),
      up: (r.flags ?? []).includes('UP'),
      ...(typeof r.mtu === 'number' ? { mtu: r.mtu } : {}),
      addresses: (r.addr_info ?? [])
        .filter((a) => a.family === 'inet' && a.local)
        .map((a) => `${a.local}/${a.prefixlen}`),
    }));
}
