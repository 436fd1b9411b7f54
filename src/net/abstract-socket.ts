// Binding a name in the abstract unix socket namespace: the kernel allows one binder and frees
// the name when the process dies, even on SIGKILL. Under bun, Bun.listen (native; node:net costs
// about 4 ms to load); elsewhere node:net. Both spell the name the same way under bun.
import type net from 'node:net';
import { nodeNet } from '../builtins';

export interface Bound { close(): void }

interface BunListener { stop(closeActive?: boolean): void; unref?(): void }
interface BunListen { listen(opts: { unix: string; socket: Record<string, (s: { end(): void }) => void> }): BunListener }

/** Bound, or undefined when another process holds the name. Other failures reject (their `code` says why). */
export function bindAbstract(name: string): Promise<Bound | undefined> {
  const key = `\0${name}`;
  const bun = (globalThis as { Bun?: BunListen }).Bun;
  if (bun) {
    try {
      // Nobody is meant to connect; whoever does is hung up on.
      const listener = bun.listen({ unix: key, socket: { open: (s) => s.end(), data: () => {} } });
      listener.unref?.();
      return Promise.resolve({ close: () => listener.stop(true) });
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'EADDRINUSE' ? Promise.resolve(undefined) : Promise.reject(err);
    }
  }
  return new Promise((resolve, reject) => {
    const server: net.Server = nodeNet().createServer((s) => s.destroy());
    server.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EADDRINUSE' ? resolve(undefined) : reject(err)));
    server.listen({ path: key, exclusive: true }, () => {
      server.unref();
      resolve({ close: () => server.close() });
    });
  });
}
