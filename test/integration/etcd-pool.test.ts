import { type ChildProcess, fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EtcdClient } from '../../src/etcd/client';
import { ConflictError, ExhaustedError, InvalidInputError, UnavailableError } from '../../src/errors';
import { EtcdAddressPool, type EtcdIpamNetwork, forceRelease, listAllocations } from '../../src/ipam/etcd-pool';
import type { Owner } from '../../src/ipam/pool';
import { type EtcdServer, startEtcd } from './etcd-server';

const here = fileURLToPath(new URL('.', import.meta.url));
let prefixes = 0;
const freshPrefix = () => `/t${++prefixes}-${process.pid}`;

const owner = (containerId: string, pod = `pod-${containerId}`, extra: Partial<Owner> = {}): Owner => ({
  network: 'net',
  namespace: 'ns',
  pod,
  containerId,
  interface: 'eth1',
  ...extra,
});
const small: EtcdIpamNetwork = {
  name: 'net',
  subnet: '10.0.0.0/29',
  gateway: '10.0.0.1',
  exclude: ['10.0.0.3'],
  routes: [{ dst: '0.0.0.0/0' }],
};
const c24: EtcdIpamNetwork = { name: 'net', subnet: '10.9.0.0/24', gateway: '10.9.0.1', exclude: [], routes: [] };
const ip = (address: string) => address.split('/')[0];

describe('EtcdAddressPool against a real etcd', () => {
  let etcd: EtcdServer;
  let client: EtcdClient;
  let root: string;
  const keys = async (prefix: string) => (await client.getPrefix(`${prefix}/`)).map((kv) => kv.key);

  beforeAll(async () => {
    etcd = await startEtcd();
    client = new EtcdClient({ endpoints: [etcd.url], timeoutMs: 5000 });
    root = mkdtempSync(join(tmpdir(), 'podvlan-etcd-pool-'));
  });
  afterAll(async () => {
    client?.close();
    await etcd?.destroy();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('leases an address with the gateway and routes, records its owner, and gives a retry the same one', async () => {
    const prefix = freshPrefix();
    const pool = new EtcdAddressPool(client, prefix, small, 'node-a');
    const lease = await pool.acquire(owner('c1'));
    expect(lease.gateway).toBe('10.0.0.1');
    expect(lease.routes).toEqual([{ dst: '0.0.0.0/0', via: '10.0.0.1' }]);
    expect(['10.0.0.2/29', '10.0.0.4/29', '10.0.0.5/29', '10.0.0.6/29']).toContain(lease.address);
    expect(await pool.acquire(owner('c1'))).toEqual(lease);
    expect(await new EtcdAddressPool(client, prefix, small, 'node-b').acquire(owner('c1'))).toEqual(lease); // from any node
    expect(await keys(prefix)).toEqual([
      `${prefix}/ipam/net/ip/${ip(lease.address)}`,
      `${prefix}/ipam/net/owner/c1/eth1`,
    ]);
    const rec = JSON.parse((await client.get(`${prefix}/ipam/net/ip/${ip(lease.address)}`))!.value);
    expect(rec).toEqual({
      network: 'net',
      namespace: 'ns',
      pod: 'pod-c1',
      containerId: 'c1',
      interface: 'eth1',
      node: 'node-a',
      since: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    expect((await client.get(`${prefix}/ipam/net/owner/c1/eth1`))!.value).toBe(ip(lease.address));
    expect(await pool.release(owner('c1'))).toEqual([ip(lease.address)]);
    expect(await keys(prefix)).toEqual([]);
  });

  it('gives another container, or another interface of the same one, another address', async () => {
    const prefix = freshPrefix();
    const pool = new EtcdAddressPool(client, prefix, small, 'node-a');
    const got = [
      await pool.acquire(owner('c1')),
      await pool.acquire(owner('c2')),
      await pool.acquire(owner('c1', undefined, { interface: 'eth2' })),
    ].map((l) => l.address);
    expect(new Set(got).size).toBe(3);
    await pool.release(owner('c1'));
    await pool.release(owner('c2'));
    await pool.release(owner('c1', undefined, { interface: 'eth2' }));
    expect(await keys(prefix)).toEqual([]);
  });

  it('keeps to the range, skips the gateway and excluded addresses, and throws ExhaustedError when full', async () => {
    const prefix = freshPrefix();
    const pool = new EtcdAddressPool(client, prefix, small, 'node-a');
    const got = await Promise.all(['a', 'b', 'c', 'd'].map((id) => pool.acquire(owner(id))));
    expect(got.map((l) => l.address).sort()).toEqual(['10.0.0.2/29', '10.0.0.4/29', '10.0.0.5/29', '10.0.0.6/29']);
    const err = await pool.acquire(owner('e')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExhaustedError);
    expect((err as Error).message).toBe('address range 10.0.0.1-10.0.0.6 of network net is exhausted');
    const freed = await pool.release(owner('b'));
    expect(await pool.acquire(owner('e'))).toMatchObject({ address: `${freed[0]}/29` });
    await Promise.all(['a', 'c', 'd', 'e'].map((id) => pool.release(owner(id))));
    expect(await keys(prefix)).toEqual([]);

    const ranged = new EtcdAddressPool(
      client,
      prefix,
      { name: 'net', subnet: '10.1.0.0/24', rangeStart: '10.1.0.10', rangeEnd: '10.1.0.11', exclude: [], routes: [] },
      'node-a',
    );
    expect([(await ranged.acquire(owner('x'))).address, (await ranged.acquire(owner('y'))).address].sort()).toEqual([
      '10.1.0.10/24',
      '10.1.0.11/24',
    ]);
    await expect(ranged.acquire(owner('z'))).rejects.toThrow(ExhaustedError);
    await ranged.release(owner('x'));
    await ranged.release(owner('y'));
  });

  it('gives 3 nodes x 40 concurrent acquisitions 120 distinct addresses, then releases them all at once', async () => {
    const prefix = freshPrefix();
    const nodes = ['node-a', 'node-b', 'node-c'].map((n) => ({
      n,
      c: new EtcdClient({ endpoints: [etcd.url], timeoutMs: 5000 }),
    }));
    const pools = nodes.map(({ n, c }) => new EtcdAddressPool(c, prefix, c24, n));
    const owners = pools.map((_, p) => Array.from({ length: 40 }, (_, i) => owner(`${p}c${i}`)));
    try {
      const t0 = performance.now();
      const leases = await Promise.all(pools.flatMap((pool, p) => owners[p].map((o) => pool.acquire(o))));
      const ms = performance.now() - t0;
      const attempts = pools.reduce((n, p) => n + p.stats.attempts, 0);
      const conflicts = pools.reduce((n, p) => n + p.stats.conflicts, 0);
      console.log(
        `etcd IPAM: 120 allocations (3 nodes x 40 concurrent) in ${ms.toFixed(0)} ms = ${(120 / (ms / 1000)).toFixed(0)} allocations/s; ${attempts} compare-and-swaps, ${conflicts} lost`,
      );
      expect(attempts - conflicts).toBe(120);
      const addresses = leases.map((l) => l.address);
      expect(new Set(addresses).size).toBe(120);
      expect(addresses).not.toContain('10.9.0.1/24');
      const all = await listAllocations(client, prefix);
      expect(all).toHaveLength(120);
      expect(new Set(all.map((a) => a.node))).toEqual(new Set(['node-a', 'node-b', 'node-c']));
      expect((await client.getPrefix(`${prefix}/ipam/net/owner/`)).length).toBe(120);
      // Retries from every node give the same addresses.
      const again = await Promise.all(pools.flatMap((pool, p) => owners[p].map((o) => pool.acquire(o))));
      expect(again.map((l) => l.address)).toEqual(addresses);

      const t1 = performance.now();
      const freed = await Promise.all(pools.flatMap((pool, p) => owners[p].map((o) => pool.release(o))));
      console.log(`etcd IPAM: 120 releases in ${(performance.now() - t1).toFixed(0)} ms`);
      expect(freed.flat().sort()).toEqual(addresses.map(ip).sort());
      expect(await keys(prefix)).toEqual([]);
    } finally {
      nodes.forEach(({ c }) => c.close());
    }
  });

  it('never hands out one address twice to 3 OS processes x 40 at once, beside 120 held in this process', async () => {
    const prefix = freshPrefix();
    const bundle = join(root, 'pools.mjs');
    await build({
      stdin: {
        contents:
          "export { EtcdClient } from './src/etcd/client'; export { EtcdAddressPool } from './src/ipam/etcd-pool';",
        resolveDir: join(here, '../..'),
        loader: 'ts',
      },
      bundle: true,
      platform: 'node',
      format: 'esm',
      outfile: bundle,
      logLevel: 'silent',
    });
    // Fill half of the /24 first, from this process, so the workers race over what is left.
    const local = new EtcdAddressPool(client, prefix, c24, 'node-local');
    const localOwners = Array.from({ length: 120 }, (_, i) => owner(`l${i}`));
    const held = (await Promise.all(localOwners.map((o) => local.acquire(o)))).map((l) => l.address);

    const workers: ChildProcess[] = ['node-x', 'node-y', 'node-z'].map((n) =>
      fork(join(here, 'fixtures', 'etcd-pool-worker.mjs'), [bundle, etcd.url, prefix, n, '40', JSON.stringify(c24)], {
        stdio: 'inherit',
      }),
    );
    const next = (c: ChildProcess) =>
      new Promise<Record<string, unknown>>((resolve, reject) => {
        const onExit = (code: number | null) => reject(new Error(`worker exited with ${code}`));
        c.once('exit', onExit);
        c.once('message', (m) => {
          c.off('exit', onExit);
          resolve(m as Record<string, unknown>);
        });
      });
    try {
      await Promise.all(workers.map(next)); // ready
      const t0 = performance.now();
      const replies = workers.map(next);
      workers.forEach((c) => c.send({ cmd: 'acquire' }));
      const results = await Promise.all(replies);
      const ms = performance.now() - t0;
      for (const r of results) expect(r.error).toBeUndefined();
      const fromWorkers = results.flatMap((r) => r.addresses as string[]);
      const lost = results.reduce((n, r) => n + (r.stats as { conflicts: number }).conflicts, 0);
      console.log(
        `etcd IPAM: 120 allocations from 3 processes x 40 concurrent (240 of 253 taken at the end) in ${ms.toFixed(0)} ms = ${(120 / (ms / 1000)).toFixed(0)} allocations/s; ${lost} compare-and-swaps lost`,
      );
      expect(fromWorkers).toHaveLength(120);
      expect(new Set([...fromWorkers, ...held]).size).toBe(240);
      expect(await listAllocations(client, prefix, 'net')).toHaveLength(240);

      const released = workers.map(next);
      workers.forEach((c) => c.send({ cmd: 'release' }));
      const freed = (await Promise.all(released)).flatMap((r) => r.freed as string[]);
      expect(freed.sort()).toEqual(fromWorkers.map(ip).sort());
    } finally {
      workers.forEach((c) => {
        if (c.connected) c.send({ cmd: 'exit' });
      });
    }
    await Promise.all(localOwners.map((o) => local.release(o)));
    expect(await keys(prefix)).toEqual([]);
  }, 60000);

  it('gives concurrent calls for one owner (a retry racing the first call) one address', async () => {
    const prefix = freshPrefix();
    const pools = ['node-a', 'node-b'].map((n) => new EtcdAddressPool(client, prefix, c24, n));
    const got = await Promise.all(Array.from({ length: 10 }, (_, i) => pools[i % 2].acquire(owner('same'))));
    expect(new Set(got.map((l) => l.address)).size).toBe(1);
    expect(await keys(prefix)).toHaveLength(2);
    expect(await pools[0].release(owner('same'))).toEqual([ip(got[0].address)]);
    expect(await keys(prefix)).toEqual([]);
  });

  it("releases exactly the owner's keys, never a newer container's of the same pod", async () => {
    const prefix = freshPrefix();
    const pool = new EtcdAddressPool(client, prefix, c24, 'node-a');
    const old = await pool.acquire(owner('c-old', 'web'));
    const newer = await pool.acquire(owner('c-new', 'web')); // the kubelet replaced the sandbox
    const other = await pool.acquire(owner('c-other', 'db'));
    expect(newer.address).not.toBe(old.address);
    expect(await pool.release(owner('c-old', 'web'))).toEqual([ip(old.address)]);
    expect(await pool.release(owner('c-old', 'web'))).toEqual([]); // a late, repeated teardown
    expect((await pool.list()).map((a) => [a.containerId, a.address]).sort()).toEqual(
      [
        ['c-new', ip(newer.address)],
        ['c-other', ip(other.address)],
      ].sort(),
    );
    expect(await keys(prefix)).toEqual(
      [
        `${prefix}/ipam/net/ip/${ip(newer.address)}`,
        `${prefix}/ipam/net/ip/${ip(other.address)}`,
        `${prefix}/ipam/net/owner/c-new/eth1`,
        `${prefix}/ipam/net/owner/c-other/eth1`,
      ].sort(),
    );
    // The same container id under another pod name (a mistyped call) can neither take nor free it.
    await expect(pool.acquire(owner('c-new', 'not-web'))).rejects.toThrow(ConflictError);
    expect(await pool.release(owner('c-new', 'not-web'))).toEqual([]);
    expect(await pool.release(owner('c-new', 'web'))).toEqual([ip(newer.address)]);
    expect(await pool.release(owner('c-other', 'db'))).toEqual([ip(other.address)]);
    expect(await keys(prefix)).toEqual([]);
  });

  it('reserves fixed addresses: from the config for its pod, or explicitly; refuses one held by another pod', async () => {
    const prefix = freshPrefix();
    const spec: EtcdIpamNetwork = { ...small, fixed: [{ namespace: 'ns', pod: 'db-0', address: '10.0.0.6' }] };
    const pool = new EtcdAddressPool(client, prefix, spec, 'node-a');
    expect(await pool.acquire(owner('c1', 'db-0'))).toMatchObject({ address: '10.0.0.6/29', gateway: '10.0.0.1' });
    expect(await pool.acquire(owner('c1', 'db-0'))).toMatchObject({ address: '10.0.0.6/29' }); // retry
    // Dynamic allocations never take a fixed address.
    const dynamic = await Promise.all(['a', 'b', 'c'].map((id) => pool.acquire(owner(id))));
    expect(dynamic.map((l) => l.address).sort()).toEqual(['10.0.0.2/29', '10.0.0.4/29', '10.0.0.5/29']);
    await pool.release(owner('c1', 'db-0'));
    await expect(pool.acquire(owner('d'))).rejects.toThrow(ExhaustedError); // even when it is free
    // Explicit reservations: refused while another pod holds the address, naming it.
    const err = await pool.reserve(owner('x'), '10.0.0.4').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect((err as Error).message).toMatch(
      /^address 10\.0\.0\.4 of network net is already held by ns\/pod-[abc] \(container [abc] on node node-a\)$/,
    );
    await expect(pool.reserve(owner('x'), '10.1.0.4')).rejects.toThrow(InvalidInputError);
    expect(await pool.reserve(owner('x'), '10.0.0.6/29')).toMatchObject({ address: '10.0.0.6/29' });
    await expect(pool.reserve(owner('x'), '10.0.0.3')).rejects.toThrow(
      'container x (ns/pod-x) already holds 10.0.0.6 in network net, not the fixed address 10.0.0.3',
    );
    await expect(pool.acquire(owner('c2', 'db-0'))).rejects.toThrow(
      'address 10.0.0.6 of network net is already held by ns/pod-x (container x on node node-a)',
    );
    await Promise.all(['a', 'b', 'c', 'x'].map((id) => pool.release(owner(id))));
    expect(await keys(prefix)).toEqual([]);
  });

  it("hands a pod's fixed address to its newer container, whose predecessor's late teardown frees nothing", async () => {
    const prefix = freshPrefix();
    const spec: EtcdIpamNetwork = { ...small, fixed: [{ namespace: 'ns', pod: 'db-0', address: '10.0.0.6' }] };
    const dead = new EtcdAddressPool(client, prefix, spec, 'node-gone');
    const here = new EtcdAddressPool(client, prefix, spec, 'node-b');
    await dead.acquire(owner('c1', 'db-0'));
    expect(await here.acquire(owner('c2', 'db-0'))).toMatchObject({ address: '10.0.0.6/29' });
    expect(await keys(prefix)).toEqual([`${prefix}/ipam/net/ip/10.0.0.6`, `${prefix}/ipam/net/owner/c2/eth1`]);
    expect(JSON.parse((await client.get(`${prefix}/ipam/net/ip/10.0.0.6`))!.value)).toMatchObject({
      containerId: 'c2',
      node: 'node-b',
    });
    expect(await dead.release(owner('c1', 'db-0'))).toEqual([]);
    expect(await here.acquire(owner('c2', 'db-0'))).toMatchObject({ address: '10.0.0.6/29' });
    expect(await here.release(owner('c2', 'db-0'))).toEqual(['10.0.0.6']);
    expect(await keys(prefix)).toEqual([]);
  });

  it('lists allocations across networks and frees one by hand', async () => {
    const prefix = freshPrefix();
    const a = new EtcdAddressPool(client, prefix, small, 'node-a');
    const b = new EtcdAddressPool(client, prefix, { ...c24, name: 'other' }, 'node-b');
    const la = await a.acquire(owner('c1'));
    const lb = await b.acquire(owner('c2', undefined, { network: 'other' }));
    const all = await listAllocations(client, prefix);
    expect(all).toEqual([
      {
        network: 'net',
        address: ip(la.address),
        namespace: 'ns',
        pod: 'pod-c1',
        containerId: 'c1',
        interface: 'eth1',
        node: 'node-a',
        since: expect.any(String),
      },
      {
        network: 'other',
        address: ip(lb.address),
        namespace: 'ns',
        pod: 'pod-c2',
        containerId: 'c2',
        interface: 'eth1',
        node: 'node-b',
        since: expect.any(String),
      },
    ]);
    expect(await b.list()).toEqual([all[1]]);
    expect(await forceRelease(client, prefix, 'net', ip(la.address))).toEqual(all[0]);
    expect(await forceRelease(client, prefix, 'net', ip(la.address))).toBeUndefined();
    expect(await b.forceRelease(lb.address)).toEqual(all[1]);
    expect(await a.release(owner('c1'))).toEqual([]); // already gone
    expect(await keys(prefix)).toEqual([]);
  });

  it('fails with UnavailableError within timeoutMs while etcd is down, leaving nothing behind', async () => {
    const prefix = freshPrefix();
    const quick = new EtcdClient({ endpoints: [etcd.url], timeoutMs: 1000 });
    const pool = new EtcdAddressPool(quick, prefix, c24, 'node-a');
    try {
      await etcd.stop();
      const t0 = Date.now();
      const err = await pool.acquire(owner('c1')).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UnavailableError);
      expect((err as Error).message).toBe(`etcd ${etcd.url} unreachable: connection refused`);
      expect(Date.now() - t0).toBeLessThan(1000);
      await expect(pool.release(owner('c1'))).rejects.toThrow(UnavailableError);
    } finally {
      await etcd.start();
      quick.close();
    }
    expect(await keys(prefix)).toEqual([]);
  });
});
