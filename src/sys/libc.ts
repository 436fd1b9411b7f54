// The few libc calls that neither bun nor Node expose, bound through bun:ffi once per process.
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

let loaded: Promise<Libc | undefined> | undefined;

/** libc, or undefined when not running under bun or libc cannot be bound. */
export function loadLibc(): Promise<Libc | undefined> {
  loaded ??= (async () => {
    if (!(globalThis as { Bun?: unknown }).Bun) return undefined;
    try {
      const ffi = await import('bun:ffi');
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
