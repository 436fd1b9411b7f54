// The small part of bun:ffi that netlink-ffi.ts uses. The project type-checks against Node's
// types only; bun provides the module at run time (and only bun loads netlink-ffi.ts).
declare module 'bun:ffi' {
  export const FFIType: {
    readonly i32: number;
    readonly u32: number;
    readonly i64: number;
    readonly u64: number;
    readonly ptr: number;
  };
  /** A pointer, as bun:ffi passes it: a number. */
  export type Pointer = number;
  type Arg = number | bigint | ArrayBufferView | null;
  export function dlopen<const T extends Record<string, { args: readonly number[]; returns: number }>>(
    path: string,
    symbols: T,
    // biome-ignore lint/suspicious/noExplicitAny: each symbol returns what its `returns` type says
  ): { symbols: { [K in keyof T]: (...args: Arg[]) => any }; close(): void };
  export const read: { i32(ptr: Pointer, byteOffset?: number): number };
}
