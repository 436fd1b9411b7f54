import { fork } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ExhaustedError } from '../../src/errors';
import { HostLocalPool, type HostLocalSpec } from '../../src/ipam/host-local';
import { LeaseDir } from '../../src/ipam/lease-dir';
import type { Owner } from '../../src/ipam/pool';

const owner = (containerId: string, iface = 'eth1', network = 'n'): Owner => ({
  network,
  namespace: 'ns',
  pod: `pod-${containerId}`,
  containerId,
  interface: iface,
});
// 10.0.0.0/29: hosts .1-.6; .1 is the gateway and .3 is excluded, so .2 .4 .5 .6 are free.
const small: HostLocalSpec = {
  subnet: '10.0.0.0/29',
  gateway: '10.0.0.1',
  exclude: ['10.0.0.3'],
  routes: [{ dst: '0.0.0.0/0' }],
};

describe('HostLocalPool', () => {
  let root: string;
  let leases: LeaseDir;
  const poolOf = (spec: HostLocalSpec) => new HostLocalPool(leases, spec);
  const addr = async (pool: HostLocalPool, o: Owner, hint?: string) => (await pool.acquire(o, hint)).address;
  const files = () =>
    readdirSync(leases.dir)
      .filter((n) => !n.startsWith('.'))
      .sort();
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'podvlan-hl-'));
    leases = new LeaseDir(join(root, 'ipam', 'n'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('skips the gateway and excluded addresses, and fills in the gateway and routes', async () => {
    const pool = poolOf(small);
    expect(await pool.acquire(owner('c1'))).toEqual({
      address: '10.0.0.2/29',
      gateway: '10.0.0.1',
      routes: [{ dst: '0.0.0.0/0', via: '10.0.0.1' }],
    });
    expect(await addr(pool, owner('c2'))).toBe('10.0.0.4/29');
    expect(leases.read('10.0.0.2')).toMatchObject({
      containerId: 'c1',
      interface: 'eth1',
      network: 'n',
      address: '10.0.0.2',
    });
  });

  it('keeps to rangeStart-rangeEnd', async () => {
    const pool = poolOf({
      subnet: '10.1.0.0/24',
      rangeStart: '10.1.0.10',
      rangeEnd: '10.1.0.11',
      exclude: [],
      routes: [],
    });
    expect(await addr(pool, owner('c1'))).toBe('10.1.0.10/24');
    expect(await addr(pool, owner('c2'))).toBe('10.1.0.11/24');
    await expect(pool.acquire(owner('c3'))).rejects.toThrow(ExhaustedError);
  });

  it('gives a retry by the same owner (container + interface + network) the same address', async () => {
    const pool = poolOf(small);
    const first = await addr(pool, owner('c1'));
    expect(await addr(pool, owner('c1'))).toBe(first);
    expect(await addr(pool, owner('c1'), first.split('/')[0])).toBe(first);
    expect(files()).toEqual(['10.0.0.2']);
  });

  it('gives a different container, or another interface of the same one, a different address', async () => {
    const pool = poolOf(small);
    const a = await addr(pool, owner('c1'));
    const b = await addr(pool, owner('c2'));
    const c = await addr(pool, owner('c1', 'eth2'));
    expect(new Set([a, b, c]).size).toBe(3);
  });

  it('treats the same container id under another pod name as another owner (a mistyped call cannot take or free it)', async () => {
    const pool = poolOf(small);
    const held = await addr(pool, owner('c1'));
    const impostor: Owner = { ...owner('c1'), pod: 'other-pod' };
    expect(await addr(pool, impostor, held.split('/')[0])).not.toBe(held);
    expect(await pool.release(impostor, held.split('/')[0])).not.toContain(held.split('/')[0]);
    expect(files()).toContain(held.split('/')[0]);
  });

  it("releases only that owner's address", async () => {
    const pool = poolOf(small);
    await pool.acquire(owner('c1'));
    await pool.acquire(owner('c1', 'eth2'));
    await pool.acquire(owner('c2'));
    expect(await pool.release(owner('c1'))).toEqual(['10.0.0.2']);
    expect(files()).toEqual(['10.0.0.4', '10.0.0.5']);
    expect(await pool.release(owner('c9'))).toEqual([]);
    expect(files()).toEqual(['10.0.0.4', '10.0.0.5']);
  });

  it('does not hand a freed address out again at once (round robin after the last one)', async () => {
    const pool = poolOf(small);
    expect(await addr(pool, owner('a'))).toBe('10.0.0.2/29');
    expect(await addr(pool, owner('b'))).toBe('10.0.0.4/29');
    await pool.release(owner('a'));
    expect(await addr(pool, owner('c'))).toBe('10.0.0.5/29');
    expect(await addr(pool, owner('d'))).toBe('10.0.0.6/29');
    expect(await addr(pool, owner('e'))).toBe('10.0.0.2/29'); // wraps around
  });

  it('throws ExhaustedError naming the range and network when full', async () => {
    const pool = poolOf(small);
    for (const id of ['a', 'b', 'c', 'd']) await pool.acquire(owner(id));
    const err = await pool.acquire(owner('e')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExhaustedError);
    expect((err as Error).message).toBe('address range 10.0.0.1-10.0.0.6 of network n is exhausted');
    await pool.release(owner('b'));
    expect(await addr(pool, owner('e'))).toBe('10.0.0.4/29');
  });

  it('never hands out one address twice to 200 concurrent acquire() calls', async () => {
    const pool = poolOf({ subnet: '10.9.0.0/24', gateway: '10.9.0.1', exclude: [], routes: [] });
    const got = await Promise.all(Array.from({ length: 200 }, (_, i) => addr(pool, owner(`c${i}`))));
    expect(new Set(got).size).toBe(200);
    expect(got).not.toContain('10.9.0.1/24');
    expect(files()).toHaveLength(200);
  });

  it('never hands out one address twice to 4 processes acquiring 50 each at once', async () => {
    const here = fileURLToPath(new URL('.', import.meta.url));
    const bundle = join(root, 'ipam.mjs');
    await build({
      stdin: {
        contents:
          "export { HostLocalPool } from './src/ipam/host-local'; export { LeaseDir } from './src/ipam/lease-dir';",
        resolveDir: join(here, '../..'),
        loader: 'ts',
      },
      bundle: true,
      platform: 'node',
      format: 'esm',
      outfile: bundle,
      logLevel: 'silent',
    });
    const workers = Array.from({ length: 4 }, (_, w) =>
      fork(join(here, 'fixtures', 'acquire-worker.mjs'), [bundle, leases.dir, String(w), '50'], { stdio: 'inherit' }),
    );
    const ready = workers.map(
      (c) =>
        new Promise<void>((resolve, reject) => {
          c.once('message', () => resolve());
          c.once('error', reject);
        }),
    );
    await Promise.all(ready);
    const results = workers.map(
      (c) =>
        new Promise<string[]>((resolve, reject) => {
          c.once('message', (m) => resolve((m as { addresses: string[] }).addresses));
          c.once('exit', (code) => reject(new Error(`worker exited with ${code}`)));
        }),
    );
    for (const c of workers) c.send('go');
    const all = (await Promise.all(results)).flat();
    expect(all).toHaveLength(200);
    expect(new Set(all).size).toBe(200);
    expect(files()).toHaveLength(200);
  }, 30000);
});
