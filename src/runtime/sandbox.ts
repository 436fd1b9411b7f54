// A pod's network namespace, held open. A PID or a /proc path only names a namespace at the
// moment it is read: a container that dies leaves its PID free for any new process, so a move
// "into /proc/PID/ns/net" later can land in a stranger's namespace. An open file descriptor pins
// the namespace itself (the kernel keeps it alive while the fd is open), so the lookup opens it
// once and every later step (recording its inode, creating the pod end, configuring it) goes
// through that one fd.
import { closeSync, fstatSync, openSync } from 'node:fs';

export interface Sandbox {
  /** The open namespace; valid until close(). */
  readonly fd: number;
  /** Its inode, from fstat of this very fd: what the port's external_ids record as podvlan/netns. */
  readonly inode: string;
  /** Where it came from, for messages: "container 0123456789ab (pid 42)". */
  readonly source: string;
  /** Idempotent: closing twice must never close a number the process has since reused. */
  close(): void;
}

/** Open `path` (a network namespace file) and read its inode from the open fd. Throws node:fs's
 * error (ENOENT when the process is gone), for the caller to word. */
export function openSandbox(path: string, source: string): Sandbox {
  const fd = openSync(path, 'r'); // both bun and Node open with O_CLOEXEC: no child inherits it by accident
  let inode: string;
  try {
    inode = inodeOfFd(fd);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  let open = true;
  return {
    fd,
    inode,
    source,
    close() {
      if (!open) return;
      open = false;
      closeSync(fd);
    },
  };
}

/** The inode of what `fd` refers to now (a closed fd throws EBADF). */
export function inodeOfFd(fd: number): string {
  return String(fstatSync(fd).ino);
}
