// Per-pod serialization: flock(2) on a file in <stateDir>/locks/, a directory only root can
// enter (0700, and the state directory itself is checked to be root's alone, see state-dir.ts),
// so no other user can open the file, let alone hold or forge its lock. The kernel drops a
// flock when the last descriptor of the holder closes, which its death does, even on SIGKILL;
// the descriptor is O_CLOEXEC, so no child (ip, nsenter) inherits and outlives the lock.
//
// The file is named by a fixed-length hash of namespace and pod, so the longest valid names
// (63 + 253 characters) fit in one file name. Teardown and gc remove the file of a pod that has
// nothing left, under its lock, which keeps the directory bounded. Removal races with a waiter
// that opened the file before it was unlinked and locks it after: so after taking a lock we
// check that the path still names the inode we locked, else retry on the path's new file.
//
// Under Node (tests run src modules directly) there is no flock: the lock then excludes only
// within the process. The executable always runs under bun.
import { nodeFs } from '../builtins';
import { UnavailableError } from '../errors';
import { hash64Hex } from '../names';
import { EINTR, EWOULDBLOCK, LOCK_EX, LOCK_NB, type Libc, loadLibc } from '../sys/libc';

export interface PodLock {
  /** removeFile: the pod has nothing left, so its lock file goes too (under the lock). */
  release(opts?: { removeFile?: boolean }): void;
}

// Not in fs.constants; the same value on x86-64 and arm64 (O_NOFOLLOW is not: taken from fs).
const O_CLOEXEC = 0o2000000;

export const lockDir = (stateDir: string) => `${stateDir.replace(/\/+$/, '')}/locks`;
export const LOCK_FILE = /^[0-9a-f]{16}-[0-9a-f]{16}\.lock$/;

/** The lock file of a pod: 39 characters whatever the names' lengths. */
export function podLockPath(stateDir: string, namespace: string, pod: string): string {
  return `${lockDir(stateDir)}/${hash64Hex(namespace)}-${hash64Hex(pod)}.lock`;
}

/** The pod's lock if it is free right now, else undefined (for gc and ipam, which skip busy pods). */
export async function tryLockPod(stateDir: string, namespace: string, pod: string): Promise<PodLock | undefined> {
  return tryLockFile(podLockPath(stateDir, namespace, pod));
}

export async function lockPod(stateDir: string, namespace: string, pod: string, timeoutMs: number): Promise<PodLock> {
  const path = podLockPath(stateDir, namespace, pod);
  const deadline = Date.now() + timeoutMs;
  for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
    const lock = await tryLockFile(path);
    if (lock) return lock;
    if (Date.now() + delay > deadline) {
      const who = `pod ${namespace}/${pod}`;
      throw new UnavailableError(`another podvlan call for ${who} still runs after ${timeoutMs} ms (lock ${path})`);
    }
    await new Promise((r) => setTimeout(r, delay));
  }
}

/** The lock of one lock file (gc uses it for files no known pod names). */
export async function tryLockFile(path: string): Promise<PodLock | undefined> {
  const libc = await loadLibc();
  return libc ? tryFlock(libc, path) : tryInProcess(path);
}

function tryFlock(libc: Libc, path: string): PodLock | undefined {
  const fs = nodeFs();
  for (;;) {
    const fd = openLockFile(path);
    let locked = false;
    try {
      const st = fs.fstatSync(fd);
      // Only root can create files here; anything else means the directory was tampered with.
      if (!st.isFile() || st.uid !== process.geteuid?.()) {
        const owner = process.geteuid?.();
        throw new UnavailableError(`pod lock ${path} is not a regular file owned by uid ${owner}: remove it`);
      }
      let errno: number;
      do errno = libc.flock(fd, LOCK_EX | LOCK_NB);
      while (errno === EINTR);
      if (errno === EWOULDBLOCK) return undefined;
      if (errno !== 0) throw new UnavailableError(`cannot lock ${path}: flock failed with errno ${errno}`);
      if (namesInode(path, st.dev, st.ino)) {
        locked = true;
        return {
          release: (opts) => {
            if (opts?.removeFile) unlinkQuietly(path);
            fs.closeSync(fd); // drops the flock
          },
        };
      }
      // The holder before us removed the file: lock whatever the path names now.
    } finally {
      if (!locked) fs.closeSync(fd);
    }
  }
}

function openLockFile(path: string): number {
  const fs = nodeFs();
  const flags =
    fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_NONBLOCK | fs.constants.O_NOFOLLOW | O_CLOEXEC;
  for (let attempt = 0; ; attempt++) {
    try {
      return fs.openSync(path, flags, 0o600);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && attempt === 0) {
        try {
          fs.mkdirSync(path.slice(0, path.lastIndexOf('/')), { recursive: true, mode: 0o700 });
        } catch {
          /* reported by the retry */
        }
        continue;
      }
      const why = code === 'ELOOP' ? 'it is a symbolic link, remove it' : (code ?? (err as Error).message);
      throw new UnavailableError(`cannot create or open pod lock ${path}: ${why}`);
    }
  }
}

function namesInode(path: string, dev: number, ino: number): boolean {
  try {
    const now = nodeFs().lstatSync(path);
    return now.dev === dev && now.ino === ino;
  } catch {
    return false; // unlinked meanwhile
  }
}

function unlinkQuietly(path: string): void {
  try {
    nodeFs().unlinkSync(path);
  } catch {
    /* already gone: nobody else removes it without the lock */
  }
}

const heldHere = new Set<string>();

function tryInProcess(path: string): PodLock | undefined {
  if (heldHere.has(path)) return undefined;
  heldHere.add(path);
  return {
    release: () => {
      heldHere.delete(path);
    },
  };
}
