// A small etcd v3 client over the JSON gateway that etcd serves beside gRPC (POST /v3/kv/range,
// /v3/kv/txn, /v3/auth/authenticate), over plain HTTP(S) (transport.ts: fetch under bun,
// node:http under Node), so it needs no gRPC stack. Keys and values travel base64-encoded; int64
// fields come back as strings and fields equal to their default (0, false, empty) are omitted.
//
// Every call has one deadline (timeoutMs) shared by the endpoints it tries: a connection error
// or a timeout moves on to the next endpoint, and when none answers the call throws one
// UnavailableError line naming each endpoint and what went wrong. A txn whose reply was lost
// may still have been applied: the pools built on this client guard every write with compares
// and read back on failure, so repeating one is harmless.
import { ConfigError, OperationError, UnavailableError } from '../errors';
import { type EtcdTls, makeTransport, type Transport, TransportError } from './transport';

export type { EtcdTls } from './transport';

export interface EtcdOptions {
  endpoints: string[]; // http://host:port or https://host:port
  timeoutMs: number; // deadline of one call, across endpoints
  username?: string;
  password?: string;
  tls?: EtcdTls;
}

export interface KeyValue {
  key: string;
  value: string;
  createRevision: number;
  modRevision: number;
  version: number;
}

// ---- compares and ops (plain data, built by the helpers below) ----

export type CompareTarget = 'CREATE' | 'MOD' | 'VERSION' | 'VALUE';
export type CompareResult = 'EQUAL' | 'GREATER' | 'LESS' | 'NOT_EQUAL';

export interface Compare {
  key: string;
  /** With rangeEnd, the compare must hold for every key in [key, rangeEnd); an empty range compares as an absent key. */
  rangeEnd?: Buffer;
  target: CompareTarget;
  result: CompareResult;
  value: number | string; // a revision/version, or the value for 'VALUE'
}

export const cmp = {
  /** The key does not exist (its create revision is 0). */
  absent: (key: string): Compare => ({ key, target: 'CREATE', result: 'EQUAL', value: 0 }),
  /** No key exists under the prefix. */
  noneUnder: (prefix: string): Compare => ({
    key: prefix,
    rangeEnd: prefixEnd(prefix),
    target: 'CREATE',
    result: 'EQUAL',
    value: 0,
  }),
  createRevision: (key: string, n: number, result: CompareResult = 'EQUAL'): Compare => ({
    key,
    target: 'CREATE',
    result,
    value: n,
  }),
  modRevision: (key: string, n: number, result: CompareResult = 'EQUAL'): Compare => ({
    key,
    target: 'MOD',
    result,
    value: n,
  }),
  version: (key: string, n: number, result: CompareResult = 'EQUAL'): Compare => ({
    key,
    target: 'VERSION',
    result,
    value: n,
  }),
  /** The key exists and its value is (or is not, etc.) `v`. Always false for an absent key. */
  value: (key: string, v: string, result: CompareResult = 'EQUAL'): Compare => ({
    key,
    target: 'VALUE',
    result,
    value: v,
  }),
};

export type Op =
  | { type: 'put'; key: string; value: string }
  | { type: 'delete'; key: string; prefix?: boolean }
  | { type: 'range'; key: string; prefix?: boolean; keysOnly?: boolean; countOnly?: boolean };

export const op = {
  put: (key: string, value: string): Op => ({ type: 'put', key, value }),
  delete: (key: string): Op => ({ type: 'delete', key }),
  deletePrefix: (prefix: string): Op => ({ type: 'delete', key: prefix, prefix: true }),
  range: (key: string): Op => ({ type: 'range', key }),
  rangePrefix: (prefix: string, opts: { keysOnly?: boolean; countOnly?: boolean } = {}): Op => ({
    type: 'range',
    key: prefix,
    prefix: true,
    ...opts,
  }),
};

export type OpResponse =
  | { type: 'put' }
  | { type: 'delete'; deleted: number }
  | { type: 'range'; kvs: KeyValue[]; count: number };

export interface TxnRequest {
  compare?: Compare[];
  success?: Op[];
  failure?: Op[];
}
export interface TxnResponse {
  succeeded: boolean;
  revision: number;
  responses: OpResponse[];
}

// ---- encoding (pure) ----

export const b64 = (text: string | Buffer): string =>
  (typeof text === 'string' ? Buffer.from(text, 'utf8') : text).toString('base64');
export const unb64 = (text: string | undefined): string => (text ? Buffer.from(text, 'base64').toString('utf8') : '');

/** The range_end that selects every key starting with `prefix`: the prefix with its last byte below 0xff incremented. */
export function prefixEnd(prefix: string): Buffer {
  const bytes = Buffer.from(prefix, 'utf8');
  for (let i = bytes.length - 1; i >= 0; i--) {
    if (bytes[i] < 0xff) {
      const end = Buffer.from(bytes.subarray(0, i + 1));
      end[i] += 1;
      return end;
    }
  }
  return Buffer.from([0]); // "\0": every key
}

/** int64 fields arrive as decimal strings, or are missing when 0. */
export const int64 = (v: unknown): number => (v === undefined || v === null || v === '' ? 0 : Number(v));

interface RawKv {
  key?: string;
  value?: string;
  create_revision?: string;
  mod_revision?: string;
  version?: string;
}

export function decodeKv(raw: RawKv): KeyValue {
  return {
    key: unb64(raw.key),
    value: unb64(raw.value),
    createRevision: int64(raw.create_revision),
    modRevision: int64(raw.mod_revision),
    version: int64(raw.version),
  };
}

export function encodeCompare(c: Compare): Record<string, unknown> {
  const out: Record<string, unknown> = { key: b64(c.key), target: c.target, result: c.result };
  if (c.rangeEnd) out.range_end = b64(c.rangeEnd);
  switch (c.target) {
    case 'CREATE':
      out.create_revision = String(c.value);
      break;
    case 'MOD':
      out.mod_revision = String(c.value);
      break;
    case 'VERSION':
      out.version = String(c.value);
      break;
    case 'VALUE':
      out.value = b64(String(c.value));
      break;
  }
  return out;
}

export function encodeOp(o: Op): Record<string, unknown> {
  switch (o.type) {
    case 'put':
      return { request_put: { key: b64(o.key), value: b64(o.value) } };
    case 'delete':
      return { request_delete_range: { key: b64(o.key), ...(o.prefix ? { range_end: b64(prefixEnd(o.key)) } : {}) } };
    case 'range':
      return {
        request_range: {
          key: b64(o.key),
          ...(o.prefix ? { range_end: b64(prefixEnd(o.key)) } : {}),
          ...(o.keysOnly ? { keys_only: true } : {}),
          ...(o.countOnly ? { count_only: true } : {}),
        },
      };
  }
}

interface RawOpResponse {
  response_put?: unknown;
  response_delete_range?: { deleted?: string };
  response_range?: { kvs?: RawKv[]; count?: string };
}

/** The key-values of a range response (none for any other kind). */
export const rangeKvs = (r: OpResponse | undefined): KeyValue[] => (r?.type === 'range' ? r.kvs : []);

export function decodeOpResponse(raw: RawOpResponse, sent: Op): OpResponse {
  switch (sent.type) {
    case 'put':
      return { type: 'put' };
    case 'delete':
      return { type: 'delete', deleted: int64(raw.response_delete_range?.deleted) };
    case 'range':
      return {
        type: 'range',
        kvs: (raw.response_range?.kvs ?? []).map(decodeKv),
        count: int64(raw.response_range?.count),
      };
  }
}

// ---- the client ----

/** gRPC codes that mean "try again later" rather than "this request is wrong". */
const TRANSIENT_CODES = new Set([
  1 /* cancelled */, 4 /* deadline exceeded */, 8 /* resource exhausted */, 10 /* aborted */, 14 /* unavailable */,
]);
const UNAUTHENTICATED = 16;

class GatewayError extends Error {
  constructor(
    message: string,
    readonly code: number,
    readonly status: number,
  ) {
    super(message);
  }
}

export class EtcdClient {
  private readonly endpoints: URL[];
  private readonly timeoutMs: number;
  private readonly transport: Transport;
  private preferred = 0; // index of the endpoint that answered last
  private token?: string;
  private authenticating?: Promise<string>;

  constructor(private readonly opts: EtcdOptions) {
    if (opts.endpoints.length === 0) throw new ConfigError('etcd: no endpoints given');
    this.endpoints = opts.endpoints.map((e) => {
      let url: URL;
      try {
        url = new URL(e);
      } catch {
        throw new ConfigError(`etcd endpoint "${e}" is not a URL`);
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:')
        throw new ConfigError(`etcd endpoint "${e}" must be http:// or https://`);
      return url;
    });
    this.timeoutMs = opts.timeoutMs;
    this.transport = makeTransport(this.endpoints, opts.tls);
  }

  /** Drop pooled connections (idle ones do not keep the process alive anyway). */
  close(): void {
    this.transport.close();
  }

  async get(key: string): Promise<KeyValue | undefined> {
    const res = (await this.call('/v3/kv/range', { key: b64(key) })) as { kvs?: RawKv[] };
    return res.kvs?.[0] ? decodeKv(res.kvs[0]) : undefined;
  }

  /** Every key under the prefix, in key order. */
  async getPrefix(prefix: string, opts: { keysOnly?: boolean } = {}): Promise<KeyValue[]> {
    const res = (await this.call('/v3/kv/range', {
      key: b64(prefix),
      range_end: b64(prefixEnd(prefix)),
      ...(opts.keysOnly ? { keys_only: true } : {}),
    })) as { kvs?: RawKv[] };
    return (res.kvs ?? []).map(decodeKv);
  }

  async put(key: string, value: string): Promise<void> {
    await this.call('/v3/kv/put', { key: b64(key), value: b64(value) });
  }

  /** Delete one key, or every key under it with { prefix: true }; returns how many went. */
  async delete(key: string, opts: { prefix?: boolean } = {}): Promise<number> {
    const res = (await this.call('/v3/kv/deleterange', {
      key: b64(key),
      ...(opts.prefix ? { range_end: b64(prefixEnd(key)) } : {}),
    })) as { deleted?: string };
    return int64(res.deleted);
  }

  /** If every compare holds, run `success`, else `failure`, atomically. One response per op run, in order. */
  async txn(req: TxnRequest): Promise<TxnResponse> {
    const compare = req.compare ?? [];
    const success = req.success ?? [];
    const failure = req.failure ?? [];
    const res = (await this.call('/v3/kv/txn', {
      compare: compare.map(encodeCompare),
      success: success.map(encodeOp),
      failure: failure.map(encodeOp),
    })) as { succeeded?: boolean; header?: { revision?: string }; responses?: RawOpResponse[] };
    const succeeded = res.succeeded === true;
    const sent = succeeded ? success : failure;
    return {
      succeeded,
      revision: int64(res.header?.revision),
      responses: (res.responses ?? []).map((r, i) => decodeOpResponse(r, sent[i])),
    };
  }

  // ---- transport ----

  /** POST to the API, with the auth token, failover and one deadline. */
  private async call(path: string, body: unknown): Promise<unknown> {
    const deadline = Date.now() + this.timeoutMs;
    const needsAuth = this.opts.username !== undefined;
    for (let attempt = 0; ; attempt++) {
      const token = needsAuth ? await this.authToken(deadline) : undefined;
      try {
        return await this.post(path, body, deadline, token);
      } catch (err) {
        // A token expires (or the member restarted): authenticate again, once.
        if (err instanceof GatewayError && err.code === UNAUTHENTICATED && needsAuth && attempt === 0) {
          if (this.token === token) this.token = undefined;
          continue;
        }
        throw this.translate(err, path);
      }
    }
  }

  private translate(err: unknown, path: string): Error {
    if (err instanceof GatewayError) {
      const what = `etcd ${path.replace('/v3/', '')} failed: ${err.message}`;
      return TRANSIENT_CODES.has(err.code) || (err.status >= 500 && err.code === 0)
        ? new UnavailableError(what)
        : new OperationError(what);
    }
    return err as Error;
  }

  private authToken(deadline: number): Promise<string> {
    if (this.token) return Promise.resolve(this.token);
    this.authenticating ??= this.post(
      '/v3/auth/authenticate',
      { name: this.opts.username, password: this.opts.password ?? '' },
      deadline,
    )
      .then((res) => {
        const token = (res as { token?: string }).token;
        if (!token) throw new OperationError('etcd authentication returned no token');
        this.token = token;
        return token;
      })
      .catch((err: unknown) => {
        if (err instanceof GatewayError)
          throw new OperationError(
            `etcd authentication as ${JSON.stringify(this.opts.username)} failed: ${err.message}`,
          );
        throw err;
      })
      .finally(() => {
        this.authenticating = undefined;
      });
    return this.authenticating;
  }

  /** Try the endpoints in turn, starting with the one that answered last, within the deadline. */
  private async post(path: string, body: unknown, deadline: number, token?: string): Promise<unknown> {
    const payload = JSON.stringify(body);
    const failures: { origin: string; reason: string }[] = [];
    const n = this.endpoints.length;
    for (let i = 0; i < n; i++) {
      const index = (this.preferred + i) % n;
      const endpoint = this.endpoints[index];
      let resent = false;
      for (let again = true; again; ) {
        again = false;
        const left = deadline - Date.now();
        if (left <= 0) {
          failures.push({ origin: endpoint.origin, reason: 'not tried, out of time' });
          break;
        }
        // Leave the endpoints after this one a share of the time, so one that hangs cannot eat it all.
        const budget = i === n - 1 ? left : Math.max(Math.ceil(left / (n - i)), Math.min(left, 200));
        try {
          const result = await this.postOnce(endpoint, path, payload, budget, token);
          this.preferred = index;
          return result;
        } catch (err) {
          if (!(err instanceof TransportError)) throw err;
          // A pooled connection the server had already closed: the request never got there, send it again (once).
          if (err.retry && !resent) {
            resent = true;
            again = true;
            continue;
          }
          failures.push({ origin: endpoint.origin, reason: err.message });
        }
      }
    }
    throw new UnavailableError(
      n === 1
        ? `etcd ${failures[0].origin} unreachable: ${failures[0].reason}`
        : `etcd unreachable: ${failures.map((f) => `${f.origin} (${f.reason})`).join(', ')}`,
    );
  }

  private async postOnce(
    endpoint: URL,
    path: string,
    payload: string,
    timeoutMs: number,
    token?: string,
  ): Promise<unknown> {
    const { status, text } = await this.transport.post(endpoint, path, payload, timeoutMs, token);
    let json: Record<string, unknown>;
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      throw new TransportError(`HTTP ${status}, not JSON: ${text.slice(0, 100).replace(/\s+/g, ' ')}`);
    }
    if (status >= 200 && status < 300 && json.error === undefined) return json;
    const message = String(json.message ?? json.error ?? `HTTP ${status}`).replace(/\s*\n\s*/g, '; ');
    throw new GatewayError(message, Number(json.code ?? 0), status);
  }
}
