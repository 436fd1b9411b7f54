// A byte stream to a unix or TCP socket (OVSDB, the Docker API). Under bun it is Bun.connect,
// which is native: loading node:net costs about 4 ms of start-up, paid by every setup and
// teardown. Elsewhere (the test runner is Node) it is node:net. Callers see one small surface.
import { nodeNet } from '../builtins';

export type StreamTarget = { path: string } | { host: string; port: number };

export interface StreamHandlers {
  data(chunk: Buffer): void;
  /** Once, when the stream ends for any reason; err when it broke. */
  closed(err?: Error): void;
}

export interface Stream {
  write(text: string): void;
  destroy(): void;
}

/** A connected stream; rejects with the socket error (its `code` says why: ENOENT, ECONNREFUSED). */
export function openStream(target: StreamTarget, handlers: StreamHandlers): Promise<Stream> {
  const bun = (globalThis as { Bun?: BunConnect }).Bun;
  return bun ? openBunStream(bun, target, handlers) : openNodeStream(target, handlers);
}

// ---- bun ----

interface BunSocket {
  write(data: Uint8Array): number;
  end(): void;
  terminate?(): void;
}
interface BunConnect {
  connect(opts: {
    unix?: string;
    hostname?: string;
    port?: number;
    socket: Record<string, (s: BunSocket, arg?: unknown) => void>;
  }): Promise<BunSocket>;
}

const encoder = new TextEncoder();

async function openBunStream(bun: BunConnect, target: StreamTarget, handlers: StreamHandlers): Promise<Stream> {
  let done = false;
  const closed = (err?: Error) => {
    if (done) return;
    done = true;
    handlers.closed(err);
  };
  // Bytes the kernel did not take yet, sent again when the socket drains.
  const queue: Uint8Array[] = [];
  const flush = (s: BunSocket) => {
    while (queue.length > 0) {
      const head = queue[0];
      const n = s.write(head);
      if (n < 0) {
        queue.length = 0;
        closed(new Error('write on a closed socket'));
        return;
      }
      if (n < head.length) {
        queue[0] = head.subarray(n);
        return;
      }
      queue.shift();
    }
  };
  const where = 'path' in target ? { unix: target.path } : { hostname: target.host, port: target.port };
  const socket = await bun.connect({
    ...where,
    socket: {
      data: (_s, chunk) => handlers.data(chunk as Buffer),
      drain: (s) => flush(s),
      end: () => closed(),
      close: (_s, err) => closed(err as Error | undefined),
      error: (_s, err) => closed(err as Error),
    },
  });
  return {
    write(text) {
      queue.push(encoder.encode(text));
      if (queue.length === 1) flush(socket);
    },
    destroy() {
      done = true;
      if (socket.terminate) socket.terminate();
      else socket.end();
    },
  };
}

// ---- node ----

function openNodeStream(target: StreamTarget, handlers: StreamHandlers): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const socket = nodeNet().connect(target);
    let done = false;
    const closed = (err?: Error) => {
      if (done) return;
      done = true;
      handlers.closed(err);
    };
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.removeListener('error', reject);
      socket.on('data', (c: Buffer) => handlers.data(c));
      socket.on('error', (err) => closed(err));
      socket.on('close', () => closed());
      resolve({
        write: (text) => {
          socket.write(text);
        },
        destroy: () => {
          done = true;
          socket.destroy();
        },
      });
    });
  });
}
