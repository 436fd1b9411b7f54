// Reading and creating podvlan's own files under the state directory (and /run/podvlan), never
// through a symbolic link. The directories are root's alone (state-dir.ts); this is the second
// line of defence. node:fs is loaded on first use: status's path imports this module.
import { nodeFs } from '../builtins';

/** The text of one of podvlan's own files, not following a link (ELOOP then). */
export function readOwnFile(path: string): string {
  const fs = nodeFs();
  const fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  try {
    return fs.readFileSync(fd, 'utf8');
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Create `path` (a temporary name, to be renamed or linked into place) with `text`, mode 0600:
 * made here and now (O_EXCL), never through a link. A leftover of a dead writer that had our
 * pid is removed and the create tried once more (not up front: a failed unlink costs an
 * exception on every call).
 */
export function writeFreshFile(path: string, text: string): void {
  const fs = nodeFs();
  const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;
  let fd: number;
  try {
    fd = fs.openSync(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    fs.unlinkSync(path);
    fd = fs.openSync(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
  }
  try {
    fs.writeSync(fd, text);
  } finally {
    fs.closeSync(fd);
  }
}
