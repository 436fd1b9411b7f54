// The etcd address pool with IPv6 subnets, against a real etcd: a /64 allocated without ever
// listing or walking the range (every request the pool sends is watched), a tiny IPv6 range
// scanned to its last free address, the owner keys of a dual-stack owner, fixed addresses and
// what reads allocations back. IPv4's own tests are etcd-pool.test.ts, unchanged.
import { type ChildProcess, fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { EtcdClient, type TxnRequest } from '../../src/etcd/client';
import { ConflictError, ExhaustedError, InvalidInputError } from '../../src/errors';
import { ipamKeys, probeOffset } from '../../src/ipam/etcd-keys';
import {
  EtcdAddressPool,
  type EtcdIpamNetwork,
  forceRelease,
  listAllocations,
  MAX_PROBES,
  releaseOwnerAddress,
} from '../../src/ipam/etcd-pool';
import { formatIp, parseIp } from '../../src/ipam/ip';
import type { Owner } from '../../src/ipam/pool';
import { type EtcdServer, startEtcd } from './etcd-server';

const here = fileURLToPath(new URL('.', import.meta.url));
let prefixes = 0;
const freshPrefix = () => `/v6-${++prefixes}-${process.pid}`;
const owner = (containerId: string, pod = `pod-${containerId}`, extra: Partial<Owner> = {}): Owner => ({
  network: 'net6',
  namespace: 'ns',
  pod,
  containerId,
  interface: 'eth1',
  ...extra,
});
const wide: EtcdIpamNetwork = {
  name: 'net6',
  subnet: 'fd00:e6::/64',
  gateway: 'fd00:e6::1',
  exclude: [],
  routes: [{ dst: '::/0' }],
};
// Four addresses, one of them the gateway and one excluded: two to hand out.
const tiny: EtcdIpamNetwork = {
  name: 'net6',
  subnet: 'fd00:e6::/64',
  rangeStart: 'fd00:e6::a',
  rangeEnd: 'fd00:e6::d',
  gateway: 'fd00:e6::a',
  exclude: ['fd00:e6::c'],
  routes: [],
};
const ip = (address: string) => address.split('/')[0];

/** Every request the pool sends to etcd, to show that a /64 is never listed. */
function watch(client: EtcdClient) {
  const txns: TxnRequest[] = [];
  const txn = client.txn.bind(client);
  vi.spyOn(client, 'txn').mockImplementation((req) => {
    txns.push(req);
    return txn(req);
  });
  const getPrefix = vi.spyOn(client, 'getPrefix');
  const listed = () =>
    getPrefix.mock.calls.length +
    txns.flatMap((t) => [...(t.success ?? []), ...(t.failure ?? [])]).filter((o) => 'prefix' in o && o.prefix).length;
  return { txns, listed };
}

describe('EtcdAddressPool with IPv6 against a real etcd', () => {
  let etcd: EtcdServer;
  let client: EtcdClient;
  let root: string;
  const keys = async (prefix: string) => (await client.getPrefix(`${prefix}/`)).map((kv) => kv.key);

  beforeAll(async () => {
    etcd = await startEtcd();
    client = new EtcdClient({ endpoints: [etcd.url], timeoutMs: 5000 });
    root = mkdtempSync(join(tmpdir(), 'podvlan-etcd-pool6-'));
  });
  afterAll(async () => {
    client?.close();
    await etcd?.destroy();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('leases an address of a /64 in one transaction, canonical keys under owner6/, a retry the same', async () => {
    const prefix = freshPrefix();
    const c = new EtcdClient({ endpoints: [etcd.url], timeoutMs: 5000 });
    const seen = watch(c);
    try {
      const pool = new EtcdAddressPool(c, prefix, wide, 'node-a');
      const lease = await pool.acquire(owner('c1'));
      expect(lease).toMatchObject({ gateway: 'fd00:e6::1', routes: [{ dst: '::/0', via: 'fd00:e6::1' }] });
      expect(lease.address).toMatch(/^fd00:e6:(:|0:)[0-9a-f:]+\/64$/);
      const address = ip(lease.address);
      expect(formatIp(parseIp(address))).toBe(address); // RFC 5952
      expect(seen.txns).toHaveLength(1); // the compare-and-swap alone: no snapshot read first
      expect(await keys(prefix)).toEqual([`${prefix}/ipam/net6/ip/${address}`, `${prefix}/ipam/net6/owner6/c1/eth1`]);
      expect((await c.get(`${prefix}/ipam/net6/owner6/c1/eth1`))!.value).toBe(address);
      expect(JSON.parse((await c.get(`${prefix}/ipam/net6/ip/${address}`))!.value)).toMatchObject({
        containerId: 'c1',
        node: 'node-a',
      });
      expect(await pool.acquire(owner('c1'))).toEqual(lease);
      expect(await new EtcdAddressPool(c, prefix, wide, 'node-b').acquire(owner('c1'))).toEqual(lease);
      expect(seen.listed()).toBe(0);
      expect(await pool.release(owner('c1'))).toEqual([address]);
      expect(await keys(prefix)).toEqual([]);
    } finally {
      c.close();
    }
  });

  it('gives 3 nodes x 100 concurrent acquisitions on a /64 300 distinct addresses without listing anything', async () => {
    const prefix = freshPrefix();
    const nodes = ['node-a', 'node-b', 'node-c'].map((n) => {
      const c = new EtcdClient({ endpoints: [etcd.url], timeoutMs: 10000 });
      return { n, c, seen: watch(c) };
    });
    const pools = nodes.map(({ n, c }) => new EtcdAddressPool(c, prefix, wide, n));
    const owners = pools.map((_, p) => Array.from({ length: 100 }, (_, i) => owner(`${p}c${i}`)));
    try {
      const t0 = performance.now();
      const leases = await Promise.all(pools.flatMap((pool, p) => owners[p].map((o) => pool.acquire(o))));
      const ms = performance.now() - t0;
      const attempts = pools.reduce((n, p) => n + p.stats.attempts, 0);
      console.log(
        `etcd IPv6 IPAM: 300 allocations on a /64 (3 nodes x 100 concurrent) in ${ms.toFixed(0)} ms = ${(300 / (ms / 1000)).toFixed(0)} allocations/s; ${attempts} compare-and-swaps`,
      );
      expect(attempts).toBe(300); // one transaction each: a /64 this empty never collides
      const addresses = leases.map((l) => l.address);
      expect(new Set(addresses).size).toBe(300);
      expect(addresses).not.toContain('fd00:e6::1/64');
      expect(nodes.reduce((n, x) => n + x.seen.listed(), 0)).toBe(0);
      expect(await listAllocations(client, prefix)).toHaveLength(300);
      expect((await client.getPrefix(`${prefix}/ipam/net6/owner6/`)).length).toBe(300);
      expect(await client.getPrefix(`${prefix}/ipam/net6/owner/`)).toEqual([]);
      const freed = await Promise.all(pools.flatMap((pool, p) => owners[p].map((o) => pool.release(o))));
      expect(freed.flat().sort()).toEqual(addresses.map(ip).sort());
      expect(await keys(prefix)).toEqual([]);
    } finally {
      nodes.forEach(({ c }) => c.close());
    }
  });

  it('scans a tiny IPv6 range to its last free address under concurrency, then ExhaustedError', async () => {
    const prefix = freshPrefix();
    const pools = ['node-a', 'node-b'].map((n) => new EtcdAddressPool(client, prefix, tiny, n));
    const results = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => pools[i % 2].acquire(owner(`t${i}`))));
    const got = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value.address] : []));
    expect(got.sort()).toEqual(['fd00:e6::b/64', 'fd00:e6::d/64']);
    const errors = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
    expect(errors).toHaveLength(4);
    for (const e of errors) {
      expect(e).toBeInstanceOf(ExhaustedError);
      expect(e.message).toBe('address range fd00:e6::a-fd00:e6::d of network net6 is exhausted');
    }
    const holders = results.flatMap((r, i) => (r.status === 'fulfilled' ? [`t${i}`] : []));
    const [freed] = await pools[0].release(owner(holders[0]));
    expect(await pools[1].acquire(owner('late'))).toMatchObject({ address: `${freed}/64` });
    await pools[0].release(owner(holders[1]));
    await pools[0].release(owner('late'));
    expect(await keys(prefix)).toEqual([]);
  });

  it('calls a probed range full after MAX_PROBES taken addresses, without listing it', async () => {
    const prefix = freshPrefix();
    // Just above the scan limit: 65537 addresses, probed. The addresses the pool will try are
    // taken beforehand by another owner, as a nearly full range would have them.
    const spec: EtcdIpamNetwork = { ...wide, gateway: undefined, rangeStart: 'fd00:e6::1:0', rangeEnd: 'fd00:e6::2:0' };
    const first = parseIp('fd00:e6::1:0').value;
    const size = 65537n;
    const tried = Array.from({ length: MAX_PROBES }, (_, t) =>
      formatIp({ family: 6, value: first + probeOffset(`node-a/full/eth1/${t}`, size) }),
    );
    const k = ipamKeys(prefix, 'net6');
    for (const a of tried) await client.put(k.ip(a), JSON.stringify({ ...owner('other'), node: 'x', since: 'x' }));
    const c = new EtcdClient({ endpoints: [etcd.url], timeoutMs: 5000 });
    const seen = watch(c);
    try {
      const pool = new EtcdAddressPool(c, prefix, spec, 'node-a');
      const err = await pool.acquire(owner('full')).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ExhaustedError);
      expect((err as Error).message).toBe(
        `address range fd00:e6::1:0-fd00:e6::2:0 of network net6: ${MAX_PROBES} addresses tried at random were all taken, so it is nearly full: widen the range`,
      );
      expect(pool.stats).toEqual({ attempts: MAX_PROBES, conflicts: MAX_PROBES });
      expect(seen.listed()).toBe(0);
      // One of them freed: the next try of the same owner takes it.
      await client.delete(k.ip(tried[5]));
      expect(await pool.acquire(owner('full'))).toMatchObject({ address: `${tried[5]}/64` });
    } finally {
      c.close();
    }
    await client.delete(`${prefix}/`, { prefix: true });
  });

  it('never probes the gateway, an excluded or a fixed address of a /64', async () => {
    const prefix = freshPrefix();
    const first = parseIp('fd00:e6::1').value; // the /64's first host address
    const at = (t: number) =>
      formatIp({ family: 6, value: first + probeOffset(`node-a/s1/eth1/${t}`, (1n << 64n) - 1n) });
    const spec: EtcdIpamNetwork = {
      ...wide,
      exclude: [at(0)],
      fixed: [{ namespace: 'ns', pod: 'db-0', address: at(1) }],
    };
    const pool = new EtcdAddressPool(client, prefix, spec, 'node-a');
    expect(await pool.acquire(owner('s1'))).toMatchObject({ address: `${at(2)}/64` });
    expect(pool.stats).toEqual({ attempts: 1, conflicts: 0 }); // the two were passed over without a try
    await pool.release(owner('s1'));
    expect(await keys(prefix)).toEqual([]);
  });

  it('gives a dual-stack owner one address per family, each freed by its own pool', async () => {
    const prefix = freshPrefix();
    const v4 = new EtcdAddressPool(
      client,
      prefix,
      { name: 'net6', subnet: '10.6.0.0/24', gateway: '10.6.0.1', exclude: [], routes: [] },
      'node-a',
    );
    const v6 = new EtcdAddressPool(client, prefix, wide, 'node-a');
    const [a4, a6] = [await v4.acquire(owner('d1')), await v6.acquire(owner('d1'))];
    expect(a4.address).toMatch(/^10\.6\.0\.\d+\/24$/);
    expect(a6.address).toMatch(/^fd00:e6:.*\/64$/);
    expect(await v4.acquire(owner('d1'))).toEqual(a4); // each retry finds its own family's
    expect(await v6.acquire(owner('d1'))).toEqual(a6);
    expect((await keys(prefix)).filter((x) => x.includes('/owner'))).toEqual([
      `${prefix}/ipam/net6/owner/d1/eth1`,
      `${prefix}/ipam/net6/owner6/d1/eth1`,
    ]);
    // Listed by network, IPv4 first, then IPv6.
    expect((await listAllocations(client, prefix)).map((x) => x.address)).toEqual([ip(a4.address), ip(a6.address)]);
    expect(await v6.release(owner('d1'))).toEqual([ip(a6.address)]);
    expect(await v6.release(owner('d1'))).toEqual([]);
    expect((await listAllocations(client, prefix)).map((x) => x.address)).toEqual([ip(a4.address)]);
    // From the keys alone (a network that left the config): both families at once.
    await v6.acquire(owner('d1'));
    expect((await releaseOwnerAddress(client, prefix, 'net6', owner('d1'))).sort()).toHaveLength(2);
    expect(await keys(prefix)).toEqual([]);
  });

  it('reserves fixed IPv6 addresses written any way, never hands them out dynamically, takes over for a newer container', async () => {
    const prefix = freshPrefix();
    const spec: EtcdIpamNetwork = { ...tiny, fixed: [{ namespace: 'ns', pod: 'db-0', address: 'FD00:E6:0::00B' }] };
    const pool = new EtcdAddressPool(client, prefix, spec, 'node-a');
    expect(await pool.acquire(owner('f1', 'db-0'))).toMatchObject({ address: 'fd00:e6::b/64' });
    expect(await pool.acquire(owner('x'))).toMatchObject({ address: 'fd00:e6::d/64' });
    await pool.release(owner('f1', 'db-0'));
    await expect(pool.acquire(owner('y'))).rejects.toThrow(ExhaustedError); // ::b is free but fixed
    const other = new EtcdAddressPool(client, prefix, spec, 'node-b');
    await pool.acquire(owner('f1', 'db-0'));
    expect(await other.acquire(owner('f2', 'db-0'))).toMatchObject({ address: 'fd00:e6::b/64' });
    expect(await pool.release(owner('f1', 'db-0'))).toEqual([]); // the old container's late teardown
    await expect(pool.reserve(owner('z'), 'fd00:e6::d')).rejects.toThrow(
      'address fd00:e6::d of network net6 is already held by ns/pod-x (container x on node node-a)',
    );
    await expect(pool.reserve(owner('z'), '10.0.0.1')).rejects.toThrow(InvalidInputError);
    await expect(pool.reserve(owner('z'), 'fd00:e7::1')).rejects.toThrow(InvalidInputError);
    await pool.release(owner('x'));
    await other.release(owner('f2', 'db-0'));
    expect(await keys(prefix)).toEqual([]);
  });

  it('takes a requested IPv6 address compared canonically, and refuses what the pool does not hand out', async () => {
    const prefix = freshPrefix();
    const pool = new EtcdAddressPool(client, prefix, tiny, 'node-a');
    expect(await pool.acquireRequested(owner('r1'), { address: 'FD00:E6::000D', prefixLength: 64 })).toMatchObject({
      address: 'fd00:e6::d/64',
    });
    await expect(pool.acquireRequested(owner('r2'), { address: 'fd00:e6::e' })).rejects.toThrow(
      'requested address fd00:e6::e is outside range fd00:e6::a-fd00:e6::d of network net6',
    );
    await expect(pool.acquireRequested(owner('r2'), { address: 'fd00:e6::c' })).rejects.toThrow(/excluded/);
    await expect(pool.acquireRequested(owner('r2'), { address: 'fd00:e6::b', prefixLength: 48 })).rejects.toThrow(
      InvalidInputError,
    );
    await expect(pool.acquireRequested(owner('r2'), { address: 'fd00:e6::d' })).rejects.toThrow(ConflictError);
    await pool.release(owner('r1'));
    expect(await keys(prefix)).toEqual([]);
  });

  it('lists and frees by hand in canonical form, skips keys and owner values podvlan did not write', async () => {
    const prefix = freshPrefix();
    const pool = new EtcdAddressPool(client, prefix, wide, 'node-a');
    const lease = await pool.acquire(owner('l1'));
    const k = ipamKeys(prefix, 'net6');
    const junk = JSON.stringify({ ...owner('j'), node: 'x', since: 'x' });
    for (const bad of ['FD00:E6::5', 'fd00:e6:0:0:0:0:0:5', 'fd00:e6::05', 'not-an-address'])
      await client.put(k.ip(bad), junk);
    expect((await listAllocations(client, prefix)).map((a) => a.address)).toEqual([ip(lease.address)]);
    // An owner key whose value is no IPv6 address is stale: dropped, and a fresh address taken.
    // Here it names the owner's own IPv4 address, whose record is the owner's: still no IPv6 lease.
    const v4 = new EtcdAddressPool(
      client,
      prefix,
      { name: 'net6', subnet: '10.6.0.0/24', exclude: [], routes: [] },
      'node-a',
    );
    const own4 = ip((await v4.acquire(owner('j2'))).address);
    await client.put(k.owner('j2', 'eth1', 6), own4);
    const fresh = await pool.acquire(owner('j2'));
    expect(fresh.address).toMatch(/^fd00:e6:.*\/64$/);
    expect((await client.get(k.owner('j2', 'eth1', 6)))!.value).toBe(ip(fresh.address));
    expect((await client.get(k.owner('j2', 'eth1', 4)))!.value).toBe(own4); // the IPv4 one untouched
    expect((await releaseOwnerAddress(client, prefix, 'net6', owner('j2'))).sort()).toEqual(
      [own4, ip(fresh.address)].sort(),
    );
    // A release acts only on canonical keys: an owner key naming a key podvlan never writes is
    // dropped alone, and that key is left as it is.
    await client.put(k.ip('FD00:E6::9'), JSON.stringify({ ...owner('j4'), node: 'x', since: 'x' }));
    await client.put(k.owner('j4', 'eth1', 6), 'FD00:E6::9');
    expect(await releaseOwnerAddress(client, prefix, 'net6', owner('j4'))).toEqual([]);
    expect(await client.get(k.owner('j4', 'eth1', 6))).toBeUndefined();
    expect(await client.get(k.ip('FD00:E6::9'))).toBeDefined();
    // By hand, the address written any way.
    const upper = ip(lease.address).toUpperCase().replace('::', ':0::');
    expect(await forceRelease(client, prefix, 'net6', upper)).toMatchObject({
      address: ip(lease.address),
      containerId: 'l1',
    });
    expect(await forceRelease(client, prefix, 'net6', upper)).toBeUndefined();
    await expect(forceRelease(client, prefix, 'net6', 'fd00::g')).rejects.toThrow(InvalidInputError);
    expect(await pool.release(owner('l1'))).toEqual([]);
    expect((await keys(prefix)).filter((x) => !x.includes('/ip/'))).toEqual([]);
    await client.delete(`${prefix}/`, { prefix: true });
  });

  it('never hands out one address twice to 3 OS processes x 40 at once, on a /64 and on a tiny range', async () => {
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
    // 100 addresses for 120 callers: the last ones get ExhaustedError, no address twice.
    const small: EtcdIpamNetwork = {
      ...wide,
      gateway: undefined,
      rangeStart: 'fd00:e6::100',
      rangeEnd: 'fd00:e6::163',
    };
    for (const [spec, expectHeld] of [
      [wide, 120],
      [small, 100],
    ] as const) {
      const prefix = freshPrefix();
      const workers: ChildProcess[] = ['node-x', 'node-y', 'node-z'].map((n) =>
        fork(
          join(here, 'fixtures', 'etcd-pool-worker.mjs'),
          [bundle, etcd.url, prefix, n, '40', JSON.stringify(spec), 'settle'],
          { stdio: 'inherit' },
        ),
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
        await Promise.all(workers.map(next));
        const replies = workers.map(next);
        workers.forEach((c) => c.send({ cmd: 'acquire' }));
        const results = await Promise.all(replies);
        for (const r of results) expect(r.error).toBeUndefined();
        const held = results.flatMap((r) => r.addresses as string[]);
        const failures = results.flatMap((r) => r.failures as string[]);
        expect(held).toHaveLength(expectHeld);
        expect(new Set(held).size).toBe(expectHeld);
        for (const f of failures) expect(f).toBe('ExhaustedError');
        expect(await listAllocations(client, prefix, 'net6')).toHaveLength(expectHeld);
        const released = workers.map(next);
        workers.forEach((c) => c.send({ cmd: 'release' }));
        const freed = (await Promise.all(released)).flatMap((r) => r.freed as string[]);
        expect(freed.sort()).toEqual(held.map(ip).sort());
      } finally {
        workers.forEach((c) => {
          if (c.connected) c.send({ cmd: 'exit' });
        });
      }
      expect(await keys(prefix)).toEqual([]);
    }
  }, 60000);
});
