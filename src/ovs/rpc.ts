// JSON-RPC 1.0 over an OVSDB stream socket (unix:PATH or tcp:HOST:PORT). Knows nothing about
// tables or operations: it sends requests, matches replies by id and answers the server's echo.
import { UnavailableError } from '../errors';
import { openStream, type Stream, type StreamTarget } from '../net/stream';
import { JsonStreamSplitter } from './json-stream';

interface Reply {
  id: unknown;
  result?: unknown;
  error?: unknown;
  method?: string;
  params?: unknown;
}

export class RpcError extends Error {
  constructor(
    readonly method: string,
    readonly detail: unknown,
  ) {
    super(`OVSDB ${method} failed: ${JSON.stringify(detail)}`);
  }
}

export function parseRemote(remote: string): StreamTarget {
  if (remote.startsWith('unix:')) return { path: remote.slice('unix:'.length) };
  const tcp = /^tcp:(.+):(\d+)$/.exec(remote);
  if (tcp) return { host: tcp[1].replace(/^\[|\]$/g, ''), port: Number(tcp[2]) };
  throw new Error(`unsupported OVSDB remote "${remote}" (use unix:PATH or tcp:HOST:PORT)`);
}

export class RpcConnection {
  private nextId = 1;
  private readonly waiting = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: Error) => void; method: string }
  >();
  private closedError: Error | undefined;
  private readonly splitter = new JsonStreamSplitter();
  private stream!: Stream;

  private constructor(
    private readonly timeoutMs: number,
    private readonly remote: string,
  ) {}

  static connect(remote: string, timeoutMs: number): Promise<RpcConnection> {
    const target = parseRemote(remote);
    const conn = new RpcConnection(timeoutMs, remote);
    return new Promise((resolve, reject) => {
      let late = false;
      const timer = setTimeout(() => {
        late = true;
        reject(new UnavailableError(`OVSDB at ${remote} did not accept a connection within ${timeoutMs} ms`));
      }, timeoutMs);
      openStream(target, { data: (chunk) => conn.received(chunk), closed: (err) => conn.closed(err) }).then(
        (stream) => {
          clearTimeout(timer);
          conn.stream = stream;
          if (late) stream.destroy();
          else resolve(conn);
        },
        (err: NodeJS.ErrnoException) => {
          clearTimeout(timer);
          reject(new UnavailableError(`cannot connect to OVSDB at ${remote}: ${err.code ?? err.message}`));
        },
      );
    });
  }

  call(method: string, params: unknown[], timeoutMs = this.timeoutMs): Promise<unknown> {
    if (this.closedError) return Promise.reject(this.closedError);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new UnavailableError(`OVSDB at ${this.remote} did not answer ${method} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(id, {
        method,
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.stream.write(JSON.stringify({ method, params, id }));
    });
  }

  close(): void {
    this.closedError ??= new UnavailableError(`OVSDB connection to ${this.remote} is closed`);
    this.stream.destroy();
  }

  private received(chunk: Buffer): void {
    let messages: unknown[];
    try {
      messages = this.splitter.push(chunk);
    } catch (err) {
      this.fail(new UnavailableError(`OVSDB at ${this.remote} sent malformed data: ${(err as Error).message}`));
      return;
    }
    for (const m of messages) this.dispatch(m as Reply);
  }

  private closed(err?: Error): void {
    this.fail(
      new UnavailableError(
        err ? `OVSDB at ${this.remote}: ${err.message}` : `OVSDB at ${this.remote} closed the connection`,
      ),
    );
  }

  private dispatch(msg: Reply): void {
    if (msg.method === 'echo') {
      this.stream.write(JSON.stringify({ result: msg.params, error: null, id: msg.id }));
      return;
    }
    if (typeof msg.id !== 'number') return; // notifications (update, locked, ...) are not used
    const entry = this.waiting.get(msg.id);
    if (!entry) return;
    this.waiting.delete(msg.id);
    if (msg.error !== null && msg.error !== undefined) entry.reject(new RpcError(entry.method, msg.error));
    else entry.resolve(msg.result);
  }

  private fail(err: Error): void {
    if (this.closedError) return;
    this.closedError = err;
    for (const entry of this.waiting.values()) entry.reject(err);
    this.waiting.clear();
  }
}
