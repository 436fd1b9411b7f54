// The few libc calls that neither bun nor Node expose (flock, SO_PEERCRED), bound through bun:ffi
// once per process, each group on first use.
// bun:ffi is imported dynamically (a static import of a builtin is hoisted to the executable's
// start, where every call, status included, would pay for it). Under Node (the unit tests run
// src modules directly) there is no bun:ffi: loadLibc() answers undefined and callers fall back.
type Ffi = typeof import('bun:ffi');

export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const EWOULDBLOCK = 11; // EAGAIN on Linux
export const EINTR = 4;

// Each bound symbol costs start-up (bun compiles a trampoline per symbol, ~0.1 ms): errno is
// bound only when a call has failed, which the lock's fast path never does.
const bindFlock = ({ dlopen, FFIType: t }: Ffi) =>
  dlopen('libc.so.6', { flock: { args: [t.i32, t.i32], returns: t.i32 } }).symbols;
const bindErrno = ({ dlopen, FFIType: t }: Ffi) =>
  dlopen('libc.so.6', { __errno_location: { args: [], returns: t.ptr } }).symbols;

export interface Libc {
  /** flock(2): 0, or the errno it failed with. */
  flock(fd: number, operation: number): number;
}

let ffiModule: Promise<Ffi> | undefined;
/** bun:ffi, imported once per process; rejects where there is none (Node). */
function loadFfi(): Promise<Ffi> {
  if (!(globalThis as { Bun?: unknown }).Bun) return Promise.reject(new Error('bun:ffi needs bun'));
  ffiModule ??= import('bun:ffi');
  return ffiModule;
}

let loaded: Promise<Libc | undefined> | undefined;

/** libc, or undefined when not running under bun or libc cannot be bound. */
export function loadLibc(): Promise<Libc | undefined> {
  loaded ??= (async () => {
    try {
      const ffi = await loadFfi();
      const { flock } = bindFlock(ffi);
      let errnoAt: (() => number) | undefined;
      const errno = () => ffi.read.i32(errnoAt!(), 0);
      return {
        flock: (fd, op) => {
          if (flock(fd, op) === 0) return 0;
          if (errnoAt) return errno();
          // Binding may itself set errno: bind, then ask again and read errno right after.
          errnoAt = bindErrno(ffi).__errno_location;
          return flock(fd, op) === 0 ? 0 : errno();
        },
      };
    } catch {
      return undefined;
    }
  })();
  return loaded;
}

// Who is at the other end of a connected unix socket: getsockopt(SO_PEERCRED). The kernel records
// the credentials when the peer called connect() or listen(), so they name the process that
// really holds the socket, whatever the socket file's owner or mode. The executable uses it to
// talk only to a root agent, the agent to serve only root callers; bound only when an agent
// socket answered (a call that finds none never loads bun:ffi).
const SOL_SOCKET = 1;
const SO_PEERCRED = 17; // Linux: struct ucred { pid_t pid; uid_t uid; gid_t gid }
const UCRED_BYTES = 12;
const bindGetsockopt = ({ dlopen, FFIType: t }: Ffi) =>
  dlopen('libc.so.6', { getsockopt: { args: [t.i32, t.i32, t.i32, t.ptr, t.ptr], returns: t.i32 } }).symbols;
let getsockopt: ReturnType<typeof bindGetsockopt>['getsockopt'] | undefined;

export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

/** A reader of the credentials of the peer of a connected unix socket, by its fd. The reader
 * throws when they cannot be read (not a unix socket, no fd): callers treat that as an untrusted
 * peer. Rejects when bun:ffi or libc cannot be loaded. */
export async function peerCredentialsReader(): Promise<(fd: number) => PeerCredentials> {
  getsockopt ??= bindGetsockopt(await loadFfi()).getsockopt;
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
