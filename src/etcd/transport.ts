// One HTTP POST to one etcd endpoint, within a time limit. Under bun it is fetch, which is
// native: loading node:http costs about 6 ms of start-up, paid by every call that reaches etcd.
// Elsewhere (the test runner is Node) it is node:http / node:https with keep-alive agents.
// Either way a failure to get an answer is a TransportError, in the same words.
import { readFileSync } from 'node:fs';
import type * as http from 'node:http';
import type * as https from 'node:https';
import { nodeHttp, nodeHttps } from '../builtins';
import { ConfigError } from '../errors';

export interface EtcdTls {
  ca?: string;
  cert?: string;
  key?: string;
} // file paths (PEM)

/** Failure to reach an endpoint or to get a complete answer from it in time. */
export class TransportError extends Error {
  /** retry: the request never reached the server (a pooled connection it had closed): send it again, once. */
  constructor(
    message: string,
    readonly retry = false,
  ) {
    super(message);
  }
}

export interface Answer {
  status: number;
  text: string;
}

export interface Transport {
  post(endpoint: URL, path: string, payload: string, timeoutMs: number, token?: string): Promise<Answer>;
  close(): void;
}

export function makeTransport(endpoints: URL[], tls: EtcdTls | undefined): Transport {
  const secure = endpoints.some((u) => u.protocol === 'https:');
  const pem = secure ? readPem(tls) : {};
  return typeof (globalThis as { Bun?: unknown }).Bun === 'object'
    ? fetchTransport(pem)
    : nodeTransport(endpoints, pem);
}

type Pem = { ca?: Buffer; cert?: Buffer; key?: Buffer };

function readPem(tls: EtcdTls | undefined): Pem {
  const read = (what: keyof EtcdTls) => {
    const path = tls?.[what];
    if (!path) return undefined;
    try {
      return readFileSync(path);
    } catch (err) {
      throw new ConfigError(
        `cannot read etcd tls.${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      );
    }
  };
  return { ca: read('ca'), cert: read('cert'), key: read('key') };
}

const headers = (payload: string, token?: string): Record<string, string> => ({
  'content-type': 'application/json',
  'content-length': String(Buffer.byteLength(payload)),
  ...(token ? { authorization: token } : {}),
});

// ---- bun ----

function fetchTransport(pem: Pem): Transport {
  // Bun's fetch takes client certificates and CAs in a `tls` option of its own.
  const tls =
    pem.ca || pem.cert || pem.key
      ? { ca: pem.ca?.toString(), cert: pem.cert?.toString(), key: pem.key?.toString() }
      : undefined;
  return {
    async post(endpoint, path, payload, timeoutMs, token) {
      try {
        const res = await fetch(new URL(path, endpoint), {
          method: 'POST',
          body: payload,
          headers: headers(payload, token),
          signal: AbortSignal.timeout(timeoutMs),
          keepalive: true,
          ...(tls ? { tls } : {}),
          // Never through $HTTP_PROXY / $HTTPS_PROXY, which bun's fetch honours and node:http
          // does not: etcd traffic and its token are not for a proxy.
          proxy: false,
        } as RequestInit);
        return { status: res.status, text: await res.text() };
      } catch (err) {
        const e = err as Error & { code?: string };
        if (e.name === 'TimeoutError' || e.name === 'AbortError')
          throw new TransportError(`no answer within ${timeoutMs} ms`);
        // fetch does not say whether the connection was a pooled one; a reset is sent again once.
        throw new TransportError(describe(e), e.code === 'ECONNRESET');
      }
    },
    close() {
      /* fetch's pool does not keep the process alive */
    },
  };
}

// ---- node ----

function nodeTransport(endpoints: URL[], pem: Pem): Transport {
  const httpAgent = endpoints.some((u) => u.protocol === 'http:')
    ? new (nodeHttp().Agent)({ keepAlive: true })
    : undefined;
  const httpsAgent = endpoints.some((u) => u.protocol === 'https:')
    ? new (nodeHttps().Agent)({ keepAlive: true, ...pem })
    : undefined;
  return {
    post: (endpoint, path, payload, timeoutMs, token) =>
      new Promise((resolve, reject) => {
        const secure = endpoint.protocol === 'https:';
        let settled = false;
        const finish = (err: Error | undefined, value?: Answer) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          if (err) reject(err);
          else resolve(value!);
        };
        const req = (secure ? nodeHttps() : nodeHttp()).request(
          {
            protocol: endpoint.protocol,
            hostname: endpoint.hostname.replace(/^\[|\]$/g, ''),
            port: endpoint.port || (secure ? 443 : 80),
            path,
            method: 'POST',
            agent: (secure ? httpsAgent : httpAgent) as http.Agent | https.Agent,
            headers: headers(payload, token),
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('error', (err) => finish(new TransportError(describe(err))));
            res.on('end', () =>
              finish(undefined, { status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
            );
          },
        );
        const timer = setTimeout(() => {
          finish(new TransportError(`no answer within ${timeoutMs} ms`));
          req.destroy();
        }, timeoutMs);
        req.on('error', (err) => {
          const code = (err as NodeJS.ErrnoException).code;
          finish(
            new TransportError(describe(err), req.reusedSocket === true && (code === 'ECONNRESET' || code === 'EPIPE')),
          );
        });
        req.end(payload);
      }),
    close() {
      httpAgent?.destroy();
      httpsAgent?.destroy();
    },
  };
}

function describe(err: Error): string {
  const code = (err as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ECONNRESET':
      return 'connection reset';
    case 'EHOSTUNREACH':
      return 'host unreachable';
    case 'ENETUNREACH':
      return 'network unreachable';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host name not found';
    default:
      return code ? `${code}: ${err.message}`.replace(/\s*\n\s*/g, '; ') : err.message.replace(/\s*\n\s*/g, '; ');
  }
}
