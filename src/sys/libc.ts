// The few libc calls that neither bun nor Node expose, bound through bun:ffi once per process.
// bun:ffi is imported dynamically (a static import of a builtin is hoisted to the executable's
// start, where every call, status included, would pay for it). Under Node (the unit tests run
// src modules directly) there is no bun:ffi: loadLibc() answers undefined and callers fall back.
type Ffi = typeof import('bun:ffi');

export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const EWOULDBLOCK = 11; // EAGAIN on Linux
export const EINTR = 4;

function bind(ffi: Ffi) {
  const { dlopen, FFIType } = ffi;
  return dlopen('libc.so.6', {
    flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
    __errno_location: { args: [], returns: FFIType.ptr },
  }).symbols;
}

export interface Libc {
  /** flock(2): 0, or -1 with errno() set. */
  flock(fd: number, operation: number): number;
  errno(): number;
}

let loaded: Promise<Libc | undefined> | undefined;

/** libc, or undefined when not running under bun or libc cannot be bound. */
export function loadLibc(): Promise<Libc | undefined> {
  loaded ??= (async () => {
    if (!(globalThis as { Bun?: unknown }).Bun) return undefined;
    try {
      const ffi = await import('bun:ffi');
      const symbols = bind(ffi);
      return { flock: (fd, op) => symbols.flock(fd, op), errno: () => ffi.read.i32(symbols.__errno_location()!, 0) };
    } catch {
      return undefined;
    }
  })();
  return loaded;
}
