// Node built-ins that only some calls need, loaded on first use. A bundler hoists every static
// `import ... from 'node:net'` to the top of the single executable, so each one would be paid
// at start-up by every call, `status` included (measured: net ~5 ms, child_process ~4 ms).
// process.getBuiltinModule (bun, Node >= 20.16) rather than createRequire: importing node:module
// alone cost ~0.13 ms of every call, status included.
function once<T>(id: string): () => T {
  let mod: T | undefined;
  return () => (mod ??= (process as unknown as { getBuiltinModule(id: string): T }).getBuiltinModule(id));
}

export const nodeNet = once<typeof import('node:net')>('node:net');
export const nodeHttp = once<typeof import('node:http')>('node:http');
export const nodeHttps = once<typeof import('node:https')>('node:https');
export const nodeChildProcess = once<typeof import('node:child_process')>('node:child_process');
export const nodeOs = once<typeof import('node:os')>('node:os');
export const nodeFs = once<typeof import('node:fs')>('node:fs');
