// Whether network namespaces, known by the inode recorded at CNI ADD (podvlan/netns), still exist.
// A CNI runtime names a pod's namespace by a path (usually a bind mount under /run/netns), but the
// path is not the namespace: deleting it frees nothing while a process, a thread, an open file or
// another bind mount holds the namespace. The kernel keeps a namespace exactly as long as
// something refers to it, so we look for those references in /proc:
//   - /proc/PID/ns/net and /proc/PID/task/TID/ns/net: a process or thread in it,
//   - /proc/PID/fd/*: a descriptor open on it (a runtime or a `exec 3</run/netns/x` shell),
//   - /proc/PID/mountinfo, once per mount namespace: an nsfs bind mount, whose root is net:[INODE].
// The scan is conservative: anything that cannot be read (other than a process that exited
// meanwhile) makes every namespace count as alive, with the reason. One exception: processes whose
// namespace links the kernel refuses to show to root (EACCES/EPERM: a VM's guarded init, a hardened
// supervisor) would make nothing ever collectable. They are listed as `hidden`, their mount tables
// are still read, and the caller must have other evidence that the namespace is gone (gc requires
// the attachment's veth to be gone too: the pod end dies with its namespace and takes the host end).
//
// What no /proc scan sees: a namespace held only by a socket (whose process has since left it).
// Such a namespace keeps its devices, so the veth rule above covers it too.
import { nodeFs } from '../builtins';

export type NetnsVerdict = { alive: true; why: string } | { alive: false; why: string };

export interface NetnsScan {
  /** The verdict for one inode of the scanned set. */
  verdict(inode: string): NetnsVerdict;
  /** Processes whose namespaces the kernel would not show (see above). */
  hidden: number[];
  /** Paths that open the namespace, best first: a process's or thread's ns link, an open
   * descriptor, then a bind mount's point as is and through its process's root (the kernel refuses
   * the latter for nsfs mounts, seen so far). For a read inside it. A holder may be gone by the
   * time it is opened, and a path then name another namespace: the caller checks the inode. */
  pathsTo(inode: string): string[];
}

const NET_LINK = /^net:\[(\d+)\]$/;
const GONE = new Set(['ENOENT', 'ESRCH']); // the process or thread exited during the scan
const DENIED = new Set(['EACCES', 'EPERM']);
const MAX_PATHS = 4; // per kind and namespace: enough to outlive a holder or two that exit

class Unreadable extends Error {}

/** Scan /proc (or `proc`, for tests) once for references to any of `inodes`. */
export function scanNetnsHolders(inodes: Iterable<string>, proc = '/proc'): NetnsScan {
  const wanted = new Set(inodes);
  const holders = new Map<string, string>(); // inode -> the first reference found
  const paths = new Map<string, { held: string[]; mounted: string[] }>(); // where each can be opened
  const hidden: number[] = [];
  let unknown: string | undefined;
  const found = (target: string | undefined, what: () => string, ...at: string[]) => {
    const inode = target === undefined ? undefined : NET_LINK.exec(target)?.[1];
    if (inode === undefined || !wanted.has(inode)) return;
    if (!holders.has(inode)) holders.set(inode, what());
    if (!paths.has(inode)) paths.set(inode, { held: [], mounted: [] });
    const p = paths.get(inode)!;
    const list = at.length > 1 ? p.mounted : p.held;
    if (list.length < MAX_PATHS) list.push(...at);
  };
  try {
    const pids = listDir(proc).filter((n) => /^\d+$/.test(n));
    const nsfs = statOf(`${proc}/self/ns/net`)?.dev; // the device every namespace file is on
    const mountTables = new Set<string>();
    for (const pid of pids) {
      const base = `${proc}/${pid}`;
      const comm = () => readComm(base);
      const own = readLink(`${base}/ns/net`);
      if (own === 'gone') continue;
      if (own === 'denied') hidden.push(Number(pid));
      else {
        found(own, () => `process ${pid} (${comm()}) is in it`, `${base}/ns/net`);
        for (const tid of listDir(`${base}/task`)) {
          if (tid === pid) continue;
          const t = readLink(`${base}/task/${tid}/ns/net`);
          if (typeof t === 'string')
            found(t, () => `thread ${tid} of process ${pid} (${comm()}) is in it`, `${base}/task/${tid}/ns/net`);
        }
        for (const fd of listDir(`${base}/fd`)) {
          const t = readLink(`${base}/fd/${fd}`);
          if (typeof t !== 'string') continue;
          // A namespace opened through a bind mount shows that path, not net:[INODE]: take its inode.
          const target = t.startsWith('/') ? openedInode(base, fd, nsfs) : t;
          found(target, () => `process ${pid} (${comm()}) holds it open (fd ${fd})`, `${base}/fd/${fd}`);
        }
      }
      // One read per mount namespace; a process whose namespace is hidden counts as its own.
      const mnt = own === 'denied' ? undefined : readLink(`${base}/ns/mnt`);
      if (mnt === 'gone') continue;
      const key = typeof mnt === 'string' ? mnt : `pid ${pid}`;
      if (mountTables.has(key)) continue;
      const table = readText(`${base}/mountinfo`);
      if (table === undefined) continue; // exited
      mountTables.add(key);
      for (const line of table.split('\n')) {
        // "36 35 0:4 net:[4026532247] /run/netns/x rw shared:4 - nsfs nsfs rw": root, then mount point.
        const f = line.split(' ');
        if (f.length > 4) {
          const at = unescapeMount(f[4]);
          found(f[3], () => `bind-mounted at ${at} (mount namespace of process ${pid})`, at, `${base}/root${at}`);
        }
      }
    }
    if (pids.length === 0) unknown = `${proc} lists no process`;
  } catch (err) {
    if (!(err instanceof Unreadable)) throw err;
    unknown = err.message;
  }
  return {
    hidden,
    pathsTo: (inode) => [...(paths.get(inode)?.held ?? []), ...(paths.get(inode)?.mounted ?? [])],
    verdict(inode: string): NetnsVerdict {
      const holder = holders.get(inode);
      if (holder) return { alive: true, why: `netns ${inode}: ${holder}` };
      if (unknown) return { alive: true, why: `netns ${inode} counts as alive: cannot tell (${unknown})` };
      return { alive: false, why: `netns ${inode} is gone: no process, thread or open file in it, not mounted` };
    },
  };
}

/** A symlink's target; 'gone' if its process exited, 'denied' if the kernel hides it. */
function readLink(path: string): string | 'gone' | 'denied' {
  try {
    return nodeFs().readlinkSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (GONE.has(code)) return 'gone';
    if (DENIED.has(code)) return 'denied';
    throw new Unreadable(`cannot read ${path}: ${code || (err as Error).message}`);
  }
}

/** Directory entries; [] when its process exited. */
function listDir(path: string): string[] {
  try {
    return nodeFs().readdirSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (GONE.has(code)) return [];
    throw new Unreadable(`cannot list ${path}: ${code || (err as Error).message}`);
  }
}

/** A file's text; undefined when its process exited. */
function readText(path: string): string | undefined {
  try {
    return nodeFs().readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (GONE.has(code)) return undefined;
    throw new Unreadable(`cannot read ${path}: ${code || (err as Error).message}`);
  }
}

/**
 * `net:[INODE]` for a descriptor that may be a namespace opened by path. fdinfo's `ino:` (Linux
 * >= 5.14) costs no call into the file's filesystem (a stat of a file on a hung NFS or FUSE mount
 * would hang gc); it does not say which filesystem, so another file of the same inode number
 * counts as a holder too: the safe direction. Older kernels: stat, and only files on nsfs count.
 */
function openedInode(base: string, fd: string, nsfs: number | undefined): string | undefined {
  const info = readText(`${base}/fdinfo/${fd}`);
  if (info === undefined) return undefined; // closed meanwhile
  const ino = /^ino:\s*(\d+)$/m.exec(info)?.[1];
  if (ino !== undefined) return `net:[${ino}]`;
  const st = statOf(`${base}/fd/${fd}`);
  return st && nsfs !== undefined && st.dev === nsfs ? `net:[${st.ino}]` : undefined;
}

/** stat (following the link); undefined when its process or descriptor went away. */
function statOf(path: string): { dev: number; ino: number } | undefined {
  try {
    return nodeFs().statSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (GONE.has(code)) return undefined;
    throw new Unreadable(`cannot stat ${path}: ${code || (err as Error).message}`);
  }
}

/** A process's command name, for the reason only (never a reason to give up the scan). */
function readComm(base: string): string {
  try {
    return nodeFs().readFileSync(`${base}/comm`, 'utf8').trim();
  } catch {
    return '?';
  }
}

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
function unescapeMount(text: string): string {
  return text.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}
