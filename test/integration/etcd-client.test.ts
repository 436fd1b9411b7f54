import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cmp, EtcdClient, op } from '../../src/etcd/client';
import { ConfigError, OperationError, UnavailableError } from '../../src/errors';
import { type EtcdServer, startEtcd } from './etcd-server';

/** A port that nothing listens on (bound, then closed). */
async function deadPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const { port } = srv.address() as { port: number };
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** Accepts connections and never answers: a hung etcd. */
async function blackhole(): Promise<{ url: string; close: () => Promise<void> }> {
  const sockets: Socket[] = [];
  const srv: Server = createServer((s) => {
    sockets.push(s);
    s.on('error', () => {});
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const { port } = srv.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((r) => {
        sockets.forEach((s) => s.destroy());
        srv.close(() => r());
      }),
  };
}

const BUN = join(__dirname, '../../node_modules/.bin/bun');

/** The client under bun (fetch transport), as the executable runs it. */
function underBun(
  opts: { endpoints: string[]; tls?: Record<string, string>; timeoutMs: number },
  env: Record<string, string> = {},
): { ok: boolean; kind?: string; message?: string; ms: number } {
  const out = execFileSync(BUN, [join(__dirname, 'etcd-under-bun.ts'), JSON.stringify(opts)], {
    encoding: 'utf8',
    timeout: 20000,
    env: { ...process.env, ...env },
  });
  return JSON.parse(out.trim());
}

async function timed<T>(p: Promise<T>): Promise<{ ms: number; err: unknown }> {
  const t0 = Date.now();
  try {
    await p;
    return { ms: Date.now() - t0, err: undefined };
  } catch (err) {
    return { ms: Date.now() - t0, err };
  }
}

describe('EtcdClient against a real etcd', () => {
  let etcd: EtcdServer;
  let client: EtcdClient;
  beforeAll(async () => {
    etcd = await startEtcd();
    client = new EtcdClient({ endpoints: [etcd.url], timeoutMs: 2000 });
  });
  afterAll(async () => {
    client?.close();
    await etcd?.destroy();
  });

  it('puts, gets, lists a prefix and deletes, with any characters in keys and values', async () => {
    await client.put('/t/a/1', 'one');
    await client.put('/t/a/2', 'zwei ☃ "quoted"\nline');
    await client.put('/t/a0', 'outside the prefix');
    await client.put('/t/b', 'other');
    const one = await client.get('/t/a/1');
    expect(one).toMatchObject({ key: '/t/a/1', value: 'one', version: 1 });
    expect(one!.createRevision).toBeGreaterThan(0);
    expect(one!.modRevision).toBe(one!.createRevision);
    expect(await client.get('/t/none')).toBeUndefined();
    const listed = await client.getPrefix('/t/a/');
    expect(listed.map((kv) => [kv.key, kv.value])).toEqual([
      ['/t/a/1', 'one'],
      ['/t/a/2', 'zwei ☃ "quoted"\nline'],
    ]);
    expect((await client.getPrefix('/t/a/', { keysOnly: true })).map((kv) => kv.value)).toEqual(['', '']);
    await client.put('/t/a/1', 'uno');
    expect(await client.get('/t/a/1')).toMatchObject({ value: 'uno', version: 2, createRevision: one!.createRevision });
    expect(await client.delete('/t/a/', { prefix: true })).toBe(2);
    expect(await client.delete('/t/a0')).toBe(1);
    expect(await client.delete('/t/a0')).toBe(0);
    expect(await client.getPrefix('/t/a')).toEqual([]);
  });

  it('runs transactions: compares on create/mod revision and value, ops in order, success or failure branch', async () => {
    const created = await client.txn({
      compare: [cmp.absent('/x/k')],
      success: [op.put('/x/k', 'v1'), op.range('/x/k')],
      failure: [op.range('/x/k')],
    });
    expect(created.succeeded).toBe(true);
    expect(created.responses[0]).toEqual({ type: 'put' });
    const kv = created.responses[1].type === 'range' ? created.responses[1].kvs[0] : undefined;
    expect(kv).toMatchObject({ key: '/x/k', value: 'v1' });
    expect(created.revision).toBe(kv!.modRevision);

    const again = await client.txn({
      compare: [cmp.absent('/x/k')],
      success: [op.put('/x/k', 'v2')],
      failure: [op.range('/x/k')],
    });
    expect(again.succeeded).toBe(false);
    expect(again.responses).toEqual([{ type: 'range', count: 1, kvs: [expect.objectContaining({ value: 'v1' })] }]);

    expect((await client.txn({ compare: [cmp.value('/x/k', 'v1')], success: [op.put('/x/k', 'v2')] })).succeeded).toBe(
      true,
    );
    expect((await client.txn({ compare: [cmp.value('/x/k', 'v1')], success: [op.put('/x/k', 'v3')] })).succeeded).toBe(
      false,
    );
    expect((await client.txn({ compare: [cmp.value('/x/missing', '')] })).succeeded).toBe(false); // a value compare never holds for an absent key
    const now = (await client.get('/x/k'))!;
    expect(
      (await client.txn({ compare: [cmp.modRevision('/x/k', now.modRevision - 1)], success: [op.delete('/x/k')] }))
        .succeeded,
    ).toBe(false);
    expect((await client.txn({ compare: [cmp.modRevision('/x/k', now.modRevision, 'GREATER')] })).succeeded).toBe(
      false,
    );
    expect((await client.txn({ compare: [cmp.version('/x/k', 2)] })).succeeded).toBe(true);
    const del = await client.txn({
      compare: [cmp.modRevision('/x/k', now.modRevision), cmp.createRevision('/x/k', now.createRevision)],
      success: [op.delete('/x/k')],
    });
    expect(del).toMatchObject({ succeeded: true, responses: [{ type: 'delete', deleted: 1 }] });
  });

  it('compares a whole prefix: noneUnder holds only while no key exists under it', async () => {
    expect((await client.txn({ compare: [cmp.noneUnder('/m/h/')] })).succeeded).toBe(true);
    await client.put('/m/h2/x', 'a sibling prefix does not count');
    expect((await client.txn({ compare: [cmp.noneUnder('/m/h/')] })).succeeded).toBe(true);
    await client.put('/m/h/c1', '');
    const res = await client.txn({
      compare: [cmp.noneUnder('/m/h/')],
      failure: [op.rangePrefix('/m/h/', { countOnly: true })],
    });
    expect(res).toEqual({
      succeeded: false,
      revision: expect.any(Number),
      responses: [{ type: 'range', kvs: [], count: 1 }],
    });
    await client.delete('/m/', { prefix: true });
  });

  it('turns an etcd error into an OperationError with its message', async () => {
    const many = Array.from({ length: 200 }, (_, i) => op.put(`/many/${i}`, 'x'));
    const err = await client.txn({ success: many }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OperationError);
    expect((err as Error).message).toMatch(/^etcd kv\/txn failed: etcdserver: too many operations in txn request/);
  });

  it('fails over from an endpoint that refuses connections, and remembers the one that answered', async () => {
    const dead = `http://127.0.0.1:${await deadPort()}`;
    const c = new EtcdClient({ endpoints: [dead, etcd.url], timeoutMs: 2000 });
    try {
      await c.put('/fo/k', 'v');
      expect((await c.get('/fo/k'))?.value).toBe('v');
      await c.delete('/fo/k');
    } finally {
      c.close();
    }
  });

  it('fails over from an endpoint that hangs, within the deadline', async () => {
    const hole = await blackhole();
    const c = new EtcdClient({ endpoints: [hole.url, etcd.url], timeoutMs: 1000 });
    try {
      const { ms, err } = await timed(c.get('/fo/none'));
      expect(err).toBeUndefined();
      expect(ms).toBeLessThan(900);
    } finally {
      c.close();
      await hole.close();
    }
  });

  it('throws one UnavailableError line naming the endpoint when nothing listens', async () => {
    const dead = `http://127.0.0.1:${await deadPort()}`;
    const c = new EtcdClient({ endpoints: [dead], timeoutMs: 2000 });
    const { ms, err } = await timed(c.get('/k'));
    expect(err).toBeInstanceOf(UnavailableError);
    expect((err as Error).message).toBe(`etcd ${dead} unreachable: connection refused`);
    expect(ms).toBeLessThan(500);
  });

  it('throws UnavailableError after timeoutMs when the endpoints hang, naming each', async () => {
    const a = await blackhole();
    const dead = `http://127.0.0.1:${await deadPort()}`;
    const c = new EtcdClient({ endpoints: [a.url, dead], timeoutMs: 400 });
    try {
      const { ms, err } = await timed(c.txn({ compare: [cmp.absent('/k')], success: [op.put('/k', 'v')] }));
      expect(err).toBeInstanceOf(UnavailableError);
      expect((err as Error).message).toMatch(
        new RegExp(`^etcd unreachable: ${a.url} \\(no answer within \\d+ ms\\), ${dead} \\(connection refused\\)$`),
      );
      expect(ms).toBeGreaterThanOrEqual(190);
      expect(ms).toBeLessThan(1000);
    } finally {
      c.close();
      await a.close();
    }
  });

  it('does the same under bun (fetch): works, fails over, and names each endpoint when none answers in time', async () => {
    const dead = `http://127.0.0.1:${await deadPort()}`;
    expect(underBun({ endpoints: [etcd.url], timeoutMs: 2000 })).toMatchObject({ ok: true });
    expect(underBun({ endpoints: [dead, etcd.url], timeoutMs: 2000 })).toMatchObject({ ok: true });
    // A proxy in the environment (common for a kubelet) is not used for etcd.
    const proxy = { HTTP_PROXY: dead, HTTPS_PROXY: dead, http_proxy: dead, https_proxy: dead };
    expect(underBun({ endpoints: [etcd.url], timeoutMs: 2000 }, proxy)).toMatchObject({ ok: true });
    expect(underBun({ endpoints: [dead], timeoutMs: 2000 })).toMatchObject({
      ok: false,
      kind: 'UnavailableError',
      message: `etcd ${dead} unreachable: connection refused`,
    });
    const hole = await blackhole();
    try {
      const r = underBun({ endpoints: [hole.url, dead], timeoutMs: 600 });
      expect(r).toMatchObject({ ok: false, kind: 'UnavailableError' });
      expect(r.message).toMatch(
        new RegExp(`^etcd unreachable: ${hole.url} \\(no answer within \\d+ ms\\), ${dead} \\(connection refused\\)$`),
      );
      expect(r.ms).toBeLessThan(1500);
    } finally {
      await hole.close();
    }
  });

  it('refuses bad endpoints and unreadable TLS files with a ConfigError', () => {
    expect(() => new EtcdClient({ endpoints: ['127.0.0.1:2379'], timeoutMs: 100 })).toThrow(ConfigError);
    expect(
      () =>
        new EtcdClient({ endpoints: ['https://127.0.0.1:2379'], timeoutMs: 100, tls: { ca: '/nonexistent/ca.pem' } }),
    ).toThrow('cannot read etcd tls.ca /nonexistent/ca.pem: ENOENT');
  });
});

describe('EtcdClient when etcd stops', () => {
  it('throws UnavailableError quickly, and works again once etcd is back', async () => {
    const etcd = await startEtcd();
    const client = new EtcdClient({ endpoints: [etcd.url], timeoutMs: 3000 });
    try {
      await client.put('/s/k', 'v');
      await etcd.stop();
      const { ms, err } = await timed(client.get('/s/k'));
      expect(err).toBeInstanceOf(UnavailableError);
      expect((err as Error).message).toBe(`etcd ${etcd.url} unreachable: connection refused`);
      expect(ms).toBeLessThan(3000);
      await etcd.start();
      expect((await client.get('/s/k'))?.value).toBe('v');
    } finally {
      client.close();
      await etcd.destroy();
    }
  });
});

describe('EtcdClient with authentication', () => {
  let etcd: EtcdServer;
  beforeAll(async () => {
    etcd = await startEtcd();
    const ctl = (...args: string[]) =>
      execFileSync('etcdctl', ['--endpoints', etcd.url, ...args], {
        env: { ...process.env, ETCDCTL_API: '3' },
        stdio: 'pipe',
      });
    ctl('user', 'add', 'root:rootpw');
    ctl('user', 'add', 'podvlan:s3cret');
    ctl('role', 'add', 'podvlan');
    ctl('role', 'grant-permission', 'podvlan', '--prefix=true', 'readwrite', '/podvlan/');
    ctl('user', 'grant-role', 'podvlan', 'podvlan');
    ctl('auth', 'enable');
  });
  afterAll(async () => {
    await etcd?.destroy();
  });

  it('authenticates and sends the token', async () => {
    const c = new EtcdClient({ endpoints: [etcd.url], timeoutMs: 2000, username: 'podvlan', password: 's3cret' });
    try {
      await c.put('/podvlan/k', 'v');
      const res = await c.txn({ compare: [cmp.value('/podvlan/k', 'v')], success: [op.delete('/podvlan/k')] });
      expect(res.succeeded).toBe(true);
    } finally {
      c.close();
    }
  });

  it('refuses a wrong password, a key outside the role, and no credentials with OperationError', async () => {
    const wrong = new EtcdClient({ endpoints: [etcd.url], timeoutMs: 2000, username: 'podvlan', password: 'nope' });
    await expect(wrong.get('/podvlan/k')).rejects.toThrow(OperationError);
    await expect(wrong.get('/podvlan/k')).rejects.toThrow(
      /^etcd authentication as "podvlan" failed: etcdserver: authentication failed/,
    );
    const right = new EtcdClient({ endpoints: [etcd.url], timeoutMs: 2000, username: 'podvlan', password: 's3cret' });
    await expect(right.put('/elsewhere', 'v')).rejects.toThrow(/permission denied/);
    const none = new EtcdClient({ endpoints: [etcd.url], timeoutMs: 2000 });
    const err = await none.get('/podvlan/k').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OperationError);
    expect((err as Error).message).toMatch(/user name is empty|permission denied/);
    [wrong, right, none].forEach((c) => c.close());
  });
});

describe('EtcdClient over TLS with a client certificate', () => {
  let etcd: EtcdServer;
  let dir: string;
  beforeAll(async () => {
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    dir = mkdtempSync(join(tmpdir(), 'podvlan-tls-'));
    const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    ssl(
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=test-ca',
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
    );
    writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n');
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=etcd', '-keyout', 'server.key', '-out', 'server.csr');
    ssl(
      'x509',
      '-req',
      '-in',
      'server.csr',
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '1',
      '-extfile',
      'server.ext',
      '-out',
      'server.pem',
    );
    writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=podvlan', '-keyout', 'client.key', '-out', 'client.csr');
    ssl(
      'x509',
      '-req',
      '-in',
      'client.csr',
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '1',
      '-extfile',
      'client.ext',
      '-out',
      'client.pem',
    );
    const ca = readFileSync(join(dir, 'ca.pem'));
    const cert = readFileSync(join(dir, 'client.pem'));
    const key = readFileSync(join(dir, 'client.key'));
    etcd = await startEtcd({
      scheme: 'https',
      args: [
        '--cert-file',
        join(dir, 'server.pem'),
        '--key-file',
        join(dir, 'server.key'),
        '--trusted-ca-file',
        join(dir, 'ca.pem'),
        '--client-cert-auth',
      ],
      ready: async (url) => {
        const https = await import('node:https');
        return new Promise((resolve) => {
          const req = https.request(`${url}/health`, { ca, cert, key, timeout: 500 }, (res) => {
            res.resume();
            resolve(res.statusCode === 200);
          });
          req.on('error', () => resolve(false));
          req.on('timeout', () => {
            req.destroy();
            resolve(false);
          });
          req.end();
        });
      },
    });
  });
  afterAll(async () => {
    await etcd?.destroy();
    if (dir) execFileSync('rm', ['-rf', dir]);
  });

  it('talks https with the configured CA and client certificate', async () => {
    const c = new EtcdClient({
      endpoints: [etcd.url],
      timeoutMs: 3000,
      tls: { ca: join(dir, 'ca.pem'), cert: join(dir, 'client.pem'), key: join(dir, 'client.key') },
    });
    try {
      await c.put('/tls/k', 'v');
      expect((await c.get('/tls/k'))?.value).toBe('v');
    } finally {
      c.close();
    }
  });

  it('does the same under bun (fetch): https with the client certificate, UnavailableError without it', () => {
    expect(
      underBun({
        endpoints: [etcd.url],
        timeoutMs: 3000,
        tls: { ca: join(dir, 'ca.pem'), cert: join(dir, 'client.pem'), key: join(dir, 'client.key') },
      }),
    ).toMatchObject({ ok: true });
    const r = underBun({ endpoints: [etcd.url], timeoutMs: 3000, tls: { ca: join(dir, 'ca.pem') } });
    expect(r).toMatchObject({ ok: false, kind: 'UnavailableError' });
    expect(r.message).toMatch(new RegExp(`^etcd ${etcd.url} unreachable: `));
    expect(r.message).not.toContain('\n');
  });

  it('fails with one UnavailableError line without the client certificate', async () => {
    const c = new EtcdClient({ endpoints: [etcd.url], timeoutMs: 3000, tls: { ca: join(dir, 'ca.pem') } });
    try {
      const err = await c.get('/tls/k').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UnavailableError);
      expect((err as Error).message).toMatch(new RegExp(`^etcd ${etcd.url} unreachable: `));
      expect((err as Error).message).not.toContain('\n');
    } finally {
      c.close();
    }
  });
});
