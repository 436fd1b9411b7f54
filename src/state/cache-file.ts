// The validated-config caches (exec: config/cached.ts, CNI: cni/conf-cache.ts) keep their answer
// in a file of root's: read only when it is a regular file of the effective uid, mode 0600, one
// link, opened without following a link; written whole to a fresh file, then renamed over.
import {
  closeSync,
  constants,
  fstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
} from 'node:fs';
import { writeFreshFile } from './own-file';

/** dev, inode, size, mtime and ctime: any change to the file (or its replacement) changes it. */
export function fileIdentity(path: string): string | undefined {
  try {
    const st = statSync(path);
    return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
  } catch {
    return undefined;
  }
}

/** The file's JSON when it is root-only as above and at most maxBytes; undefined otherwise. */
export function readRootOnlyJson<T>(file: string, maxBytes: number): T | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    const st = fstatSync(fd);
    const ours = st.isFile() && st.uid === process.geteuid?.() && (st.mode & 0o777) === 0o600 && st.nlink === 1;
    if (!ours || st.size > maxBytes) return undefined;
    return JSON.parse(readFileSync(fd, 'utf8')) as T;
  } catch {
    return undefined; // none yet, or unreadable: validate afresh
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Best effort: a cache that cannot be written only costs time. `makeDir` creates its directory 0700. */
export function writeCacheFile(file: string, value: unknown, makeDir = false): void {
  const temp = `${file}.tmp-${process.pid}`;
  try {
    if (makeDir) mkdirSync(file.slice(0, file.lastIndexOf('/')), { recursive: true, mode: 0o700 });
    writeFreshFile(temp, JSON.stringify(value));
    renameSync(temp, file);
  } catch {
    try {
      unlinkSync(temp);
    } catch {
      /* never written */
    }
  }
}
