// Starts a private etcd (Debian's etcd 3.4) on loopback for one test file: its own free ports,
// its own data directory, stopped and removed afterwards.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface EtcdServer {
  url: string; // http(s)://127.0.0.1:PORT
  port: number;
  dir: string; // scratch directory (data dir and log inside)
  /** Stop etcd (SIGTERM) and wait for it to exit; the data stays for start(). */
  stop(): Promise<void>;
  /** Start it again on the same ports and data. */
  start(): Promise<void>;
  /** Stop and remove everything. */
  destroy(): Promise<void>;
  log(): string;
}

export interface EtcdServerOptions {
  /** Extra etcd flags, e.g. TLS: ['--cert-file', ...]. */
  args?: string[];
  scheme?: 'http' | 'https';
  /** Checks readiness (default: GET /health over http). */
  ready?: (url: string) => Promise<boolean>;
  /** Run etcd inside this network namespace (the e2e sandbox's), so loopback there reaches it. */
  netns?: string;
  /** The client address to listen on (default 127.0.0.1), e.g. one that simulated nodes route to. */
  host?: string;
}

/** Readiness seen from inside a network namespace, where the test process cannot connect. */
const netnsReady = (netns: string) => (url: string) =>
  new Promise<boolean>((resolve) => {
    const c = spawn(
      'ip',
      ['netns', 'exec', netns, 'etcdctl', '--endpoints', url, '--command-timeout=1s', 'endpoint', 'health'],
      { stdio: 'ignore', env: { ...process.env, ETCDCTL_API: '3' } },
    );
    c.once('exit', (code) => resolve(code === 0));
  });

const portFree = (port: number) =>
  new Promise<boolean>((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });

/** Two free ports next to each other, from 23790 + a random offset. */
async function freePorts(): Promise<[number, number]> {
  for (let i = 0; i < 50; i++) {
    const p = 23790 + 2 * Math.floor(Math.random() * 3000);
    if ((await portFree(p)) && (await portFree(p + 1))) return [p, p + 1];
  }
  throw new Error('no free ports for etcd');
}

async function httpReady(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(500) });
    return res.ok && ((await res.json()) as { health?: string }).health === 'true';
  } catch {
    return false;
  }
}

export async function startEtcd(opts: EtcdServerOptions = {}): Promise<EtcdServer> {
  const [port, peer] = await freePorts();
  const dir = mkdtempSync(join(tmpdir(), 'podvlan-etcd-'));
  const scheme = opts.scheme ?? 'http';
  const url = `${scheme}://${opts.host ?? '127.0.0.1'}:${port}`;
  const peerUrl = `http://127.0.0.1:${peer}`;
  const logFile = join(dir, 'etcd.log');
  let child: ChildProcess | undefined;

  const start = async () => {
    const out = openSync(logFile, 'a');
    const [file, pre] = opts.netns ? ['ip', ['netns', 'exec', opts.netns, 'etcd']] : ['etcd', []];
    child = spawn(
      file,
      [
        ...pre,
        '--name',
        'test',
        '--data-dir',
        join(dir, 'data'),
        '--listen-client-urls',
        url,
        '--advertise-client-urls',
        url,
        '--listen-peer-urls',
        peerUrl,
        '--initial-advertise-peer-urls',
        peerUrl,
        '--initial-cluster',
        `test=${peerUrl}`,
        ...(opts.args ?? []),
      ],
      { stdio: ['ignore', out, out] },
    );
    const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
    const ready = opts.ready ?? (opts.netns ? netnsReady(opts.netns) : httpReady);
    const deadline = Date.now() + 15000;
    for (;;) {
      if (await ready(url)) return;
      const gone = await Promise.race([exited, new Promise((r) => setTimeout(() => r('running'), 100))]);
      if (gone !== 'running')
        throw new Error(`etcd exited with ${String(gone)}: ${readFileSync(logFile, 'utf8').slice(-2000)}`);
      if (Date.now() > deadline)
        throw new Error(`etcd did not become ready at ${url}: ${readFileSync(logFile, 'utf8').slice(-2000)}`);
    }
  };

  const stop = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  };

  await start();
  return {
    url,
    port,
    dir,
    stop,
    start,
    destroy: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
    log: () => readFileSync(logFile, 'utf8'),
  };
}
