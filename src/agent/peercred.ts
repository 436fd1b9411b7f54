// Who is at the other end of a connected unix socket: getsockopt(SO_PEERCRED) through libc via
// bun:ffi. The kernel records the credentials when the peer called connect() or listen(), so
// they name the process that really holds the socket, whatever the socket file's owner or mode.
// The executable uses it to talk only to a root agent, the agent to serve only root callers.
// bun:ffi is imported dynamically, on first use only: a call that finds no agent socket (the
// common case) never loads it. Only bun runs this module; elsewhere peerCredentialsReader() rejects.

type Ffi = typeof import('bun:ffi');

const SOL_SOCKET = 1;
const SO_PEERCRED = 17; // Linux: struct ucred { pid_t pid; uid_t uid; gid_t gid }
const UCRED_BYTES = 12;

function bindLibc(ffi: Ffi) {
  const { dlopen, FFIType } = ffi;
  return dlopen('libc.so.6', {
    getsockopt: { args: [FFIType.i32, FFIType.i32, FFIType.i32, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  }).symbols;
}

let getsockopt: ReturnType<typeof bindLibc>['getsockopt'] | undefined;

export interface PeerCredentials { pid: number; uid: number; gid: number }

/** A reader of the credentials of the peer of a connected unix socket, by its fd; loads bun:ffi
 * and libc on the first call. The reader throws when they cannot be read (not a unix socket, no
 * fd): callers treat that as an untrusted peer. Rejects when bun:ffi or libc cannot be loaded. */
export async function peerCredentialsReader(): Promise<(fd: number) => PeerCredentials> {
  getsockopt ??= bindLibc(await import('bun:ffi')).getsockopt;
  const call = getsockopt;
  return (fd) => {
    if (!Number.isInteger(fd) || fd < 0) throw new Error(`no file descriptor for the socket (${fd})`);
    const cred = new Int32Array(UCRED_BYTES / 4);
    const len = new Uint32Array([UCRED_BYTES]);
    if (call(fd, SOL_SOCKET, SO_PEERCRED, cred, len) !== 0 || len[0] !== UCRED_BYTES) {
      throw new Error(`getsockopt(SO_PEERCRED) failed on fd ${fd}`);
    }
    return { pid: cred[0], uid: cred[1] >>> 0, gid: cred[2] >>> 0 };
  };
}
