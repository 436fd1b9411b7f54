// JSON-RPC 1.0 over a stream socket (unix:PATH or tcp:HOST:PORT): OVSDB, and ovs-vswitchd's
// unixctl socket, which frames its messages the same way. Knows nothing about tables, operations
// or commands: it sends requests, matches replies by id and answers the server's echo. Messages
// name the peer as the caller says it ("OVSDB at unix:/...", "ovs-vswitchd unixctl at /...").
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
    peer = 'OVSDB',
  ) {
    super(`${peer} ${method} failed: ${JSON.stringify(detail)}`);
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

  /** where: the peer as messages name it ("OVSDB at unix:/run/db.sock"); peer: its kind ("OVSDB"). */
  private constructor(
    private readonly timeoutMs: number,
    private readonly where: string,
    private readonly peer: string,
  ) {}

  /** peer names the server in messages: `${peer} at ${remote}` unless `where` says otherwise. */
  static connect(
    remote: string,
    timeoutMs: number,
    peer = 'OVSDB',
    where = `${peer} at ${remote}`,
  ): Promise<RpcConnection> {
    const target = parseRemote(remote);
    const conn = new RpcConnection(timeoutMs, where, peer);
    return new Promise((resolve, reject) => {
      let late = false;
      const timer = setTimeout(() => {
        late = true;
        reject(new UnavailableError(`${where} did not accept a connection within ${timeoutMs} ms`));
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
          reject(new UnavailableError(`cannot connect to ${where}: ${err.code ?? err.message}`));
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
        reject(new UnavailableError(`${this.where} did not answer ${method} within ${timeoutMs} ms`));
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
    this.closedError ??= new UnavailableError(`connection to ${this.where} is closed`);
    this.stream.destroy();
  }

  private received(chunk: Buffer): void {
    let messages: unknown[];
    try {
      messages = this.splitter.push(chunk);
    } catch (err) {
      this.fail(new UnavailableError(`${this.where} sent malformed data: ${(err as Error).message}`));
      return;
    }
    for (const m of messages) this.dispatch(m as Reply);
  }

  private closed(err?: Error): void {
    this.fail(new UnavailableError(err ? `${this.where}: ${err.message}` : `${this.where} closed the connection`));
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
    if (msg.error !== null && msg.error !== undefined) entry.reject(new RpcError(entry.method, msg.error, this.peer));
    else entry.resolve(msg.result);
  }

  private fail(err: Error): void {
    if (this.closedError) return;
    this.closedError = err;
    for (const entry of this.waiting.values()) entry.reject(err);
    this.waiting.clear();
  }
}
