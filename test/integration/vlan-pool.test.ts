import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EtcdClient, type KeyValue } from '../../src/etcd/client';
import { ConflictError, ExhaustedError, UnavailableError } from '../../src/errors';
import { EtcdVlanPool, listVlans, type VlanOwner } from '../../src/ipam/vlan-pool';
import { type EtcdServer, startEtcd } from './etcd-server';

let prefixes = 0;
const freshPrefix = () => `/v${++prefixes}-${process.pid}`;
const who = (namespace: string, pod: string, containerId: string): VlanOwner => ({ namespace, pod, containerId });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The invariant, checked on one consistent snapshot (a single range read): every member has its
 * holder's by key, whose tag key names the holder back; tag and by keys pair up one to one.
 */
function checkInvariant(prefix: string, network: string, kvs: KeyValue[]): string[] {
  const base = `${prefix}/vlan/${network}/`;
  const tags = new Map<string, string>(); // tag -> holder
  const by = new Map<string, string>(); // holder -> tag
  const members: [string, string][] = []; // [holder, containerId]
  const problems: string[] = [];
  for (const kv of kvs) {
    const rest = kv.key.slice(base.length);
    const tag = /^tag\/(\d+)$/.exec(rest);
    const holder = /^by\/(.+)$/.exec(rest);
    const member = /^member\/(.+)\/([^/]+)$/.exec(rest);
    if (tag) tags.set(tag[1], kv.value);
    else if (holder) by.set(holder[1], kv.value);
    else if (member) members.push([member[1], member[2]]);
    else problems.push(`unexpected key ${kv.key}`);
  }
  for (const [holder, c] of members) {
    const t = by.get(holder);
    if (t === undefined) problems.push(`member ${holder}/${c} without by/${holder}`);
    else if (tags.get(t) !== holder) problems.push(`member ${holder}/${c}: tag/${t} names ${tags.get(t)}`);
  }
  for (const [holder, t] of by)
    if (tags.get(t) !== holder) problems.push(`by/${holder}=${t} but tag/${t}=${tags.get(t)}`);
  for (const [t, holder] of tags)
    if (by.get(holder) !== t) problems.push(`tag/${t}=${holder} but by/${holder}=${by.get(holder)}`);
  return problems;
}

describe('EtcdVlanPool against a real etcd', () => {
  let etcd: EtcdServer;
  let client: EtcdClient;
  const keys = async (prefix: string) => (await client.getPrefix(`${prefix}/`)).map((kv) => kv.key);

  beforeAll(async () => {
    etcd = await startEtcd();
    client = new EtcdClient({ endpoints: [etcd.url], timeoutMs: 5000 });
  });
  afterAll(async () => {
    client?.close();
    await etcd?.destroy();
  });

  it('per namespace: one tag for every pod of a namespace on every node, freed after the last member leaves', async () => {
    const prefix = freshPrefix();
    const [a, b, c] = ['node-a', 'node-b', 'node-c'].map(
      (n) => new EtcdVlanPool(client, prefix, 'tenant', { pool: '100-199', per: 'namespace' }, n),
    );
    const t1 = await a.acquire(who('shop', 'web', 'c1'));
    expect(t1).toBeGreaterThanOrEqual(100);
    expect(t1).toBeLessThanOrEqual(199);
    expect(await b.acquire(who('shop', 'api', 'c2'))).toBe(t1);
    expect(await c.acquire(who('shop', 'db', 'c3'))).toBe(t1);
    expect(await a.acquire(who('shop', 'web', 'c1'))).toBe(t1); // retry
    const other = await b.acquire(who('blog', 'web', 'c4'));
    expect(other).not.toBe(t1);
    expect(await keys(prefix)).toEqual([
      `${prefix}/vlan/tenant/by/blog`,
      `${prefix}/vlan/tenant/by/shop`,
      `${prefix}/vlan/tenant/member/blog/c4`,
      `${prefix}/vlan/tenant/member/shop/c1`,
      `${prefix}/vlan/tenant/member/shop/c2`,
      `${prefix}/vlan/tenant/member/shop/c3`,
      `${prefix}/vlan/tenant/tag/${Math.min(t1, other)}`,
      `${prefix}/vlan/tenant/tag/${Math.max(t1, other)}`,
    ]);
    expect(JSON.parse((await client.get(`${prefix}/vlan/tenant/member/shop/c2`))!.value)).toEqual({
      network: 'tenant',
      namespace: 'shop',
      pod: 'api',
      containerId: 'c2',
      node: 'node-b',
      since: expect.any(String),
    });
    const listed = await a.list();
    expect(listed.map((v) => [v.tag, v.holder, v.members.map((m) => m.containerId).sort()])).toEqual(
      [
        [t1, 'shop', ['c1', 'c2', 'c3']],
        [other, 'blog', ['c4']],
      ].sort((x, y) => (x[0] as number) - (y[0] as number)),
    );

    expect(await c.release(who('shop', 'db', 'c3'))).toEqual({ tag: t1, freed: false });
    expect(await a.release(who('shop', 'web', 'c1'))).toEqual({ tag: t1, freed: false });
    expect(await b.release(who('shop', 'api', 'c2'))).toEqual({ tag: t1, freed: true });
    expect(await b.release(who('shop', 'api', 'c2'))).toEqual({ freed: false }); // repeated teardown
    expect(await b.release(who('blog', 'web', 'c4'))).toEqual({ tag: other, freed: true });
    expect(await keys(prefix)).toEqual([]);
  });

  it('per pod: each pod its own tag, shared by the containers of that pod', async () => {
    const prefix = freshPrefix();
    const [a, b] = ['node-a', 'node-b'].map(
      (n) => new EtcdVlanPool(client, prefix, 'p', { pool: '10-20', per: 'pod' }, n),
    );
    const web = await a.acquire(who('shop', 'web', 'c1'));
    const api = await b.acquire(who('shop', 'api', 'c2'));
    expect(api).not.toBe(web);
    expect(await b.acquire(who('shop', 'web', 'c9'))).toBe(web); // the pod's next sandbox, while the old one lingers
    expect(await client.get(`${prefix}/vlan/p/by/shop/web`)).toMatchObject({ value: String(web) });
    expect(await a.release(who('shop', 'web', 'c1'))).toEqual({ tag: web, freed: false });
    expect(await b.release(who('shop', 'web', 'c9'))).toEqual({ tag: web, freed: true });
    expect(await b.release(who('shop', 'api', 'c2'))).toEqual({ tag: api, freed: true });
    expect(await keys(prefix)).toEqual([]);
  });

  it('3 nodes x 40 concurrent pods in 6 namespaces: one tag per namespace, distinct, all freed at the end', async () => {
    const prefix = freshPrefix();
    const clients = [0, 1, 2].map(() => new EtcdClient({ endpoints: [etcd.url], timeoutMs: 5000 }));
    const pools = clients.map(
      (c, n) => new EtcdVlanPool(c, prefix, 'tenant', { pool: '100-199', per: 'namespace' }, `node-${n}`),
    );
    const owners = pools.map((_, n) =>
      Array.from({ length: 40 }, (_, i) => who(`ns${i % 6}`, `pod-${n}-${i}`, `c${n}x${i}`)),
    );
    try {
      const t0 = performance.now();
      const tags = await Promise.all(pools.flatMap((p, n) => owners[n].map((o) => p.acquire(o))));
      const ms = performance.now() - t0;
      console.log(
        `etcd VLAN: 120 acquisitions (3 nodes x 40 concurrent, 6 namespaces) in ${ms.toFixed(0)} ms = ${(120 / (ms / 1000)).toFixed(0)}/s`,
      );
      const byNs = new Map<string, Set<number>>();
      owners.flat().forEach((o, i) => byNs.set(o.namespace, (byNs.get(o.namespace) ?? new Set()).add(tags[i])));
      for (const set of byNs.values()) expect(set.size).toBe(1);
      expect(new Set([...byNs.values()].map((s) => [...s][0])).size).toBe(6);
      expect(checkInvariant(prefix, 'tenant', await client.getPrefix(`${prefix}/`))).toEqual([]);
      const released = await Promise.all(pools.flatMap((p, n) => owners[n].map((o) => p.release(o))));
      expect(released.filter((r) => r.freed)).toHaveLength(6);
      expect(await keys(prefix)).toEqual([]);
    } finally {
      clients.forEach((c) => c.close());
    }
  });

  it('join while the last member leaves, 300 times in parallel batches: the joiner always ends up with a consistent tag', async () => {
    const prefix = freshPrefix();
    const clients = [0, 1].map(() => new EtcdClient({ endpoints: [etcd.url], timeoutMs: 5000 }));
    const [a, b] = clients.map(
      (c, n) => new EtcdVlanPool(c, prefix, 'tenant', { pool: '100-400', per: 'namespace' }, `node-${n}`),
    );
    let joined = 0;
    let reallocated = 0;
    try {
      for (let batch = 0; batch < 10; batch++) {
        await Promise.all(
          Array.from({ length: 30 }, async (_, k) => {
            const ns = `r${batch}-${k}`;
            const first = await a.acquire(who(ns, 'old', `a${k}`));
            const before = (await client.get(`${prefix}/vlan/tenant/tag/${first}`))!;
            const [left, tag] = await Promise.all([
              (async () => {
                await sleep(Math.random() * 4);
                return a.release(who(ns, 'old', `a${k}`));
              })(),
              (async () => {
                await sleep(Math.random() * 4);
                return b.acquire(who(ns, 'new', `b${k}`));
              })(),
            ]);
            // The joiner is a member, of the tag its holder maps to, and the tag maps back.
            const [by, tagKv, member] = await Promise.all([
              client.get(`${prefix}/vlan/tenant/by/${ns}`),
              client.get(`${prefix}/vlan/tenant/tag/${tag}`),
              client.get(`${prefix}/vlan/tenant/member/${ns}/b${k}`),
            ]);
            expect(by?.value).toBe(String(tag));
            expect(tagKv?.value).toBe(ns);
            expect(member).toBeDefined();
            if (left.freed) {
              reallocated++;
              expect(tagKv!.createRevision).toBeGreaterThan(before.createRevision);
            } else {
              joined++;
              expect(tagKv!.createRevision).toBe(before.createRevision);
            }
            expect(await b.release(who(ns, 'new', `b${k}`))).toEqual({ tag, freed: true });
          }),
        );
        expect(await keys(prefix)).toEqual([]);
      }
      console.log(
        `etcd VLAN race: the joiner came first ${joined} times, the leaver freed the tag first ${reallocated} times`,
      );
      expect(joined + reallocated).toBe(300);
    } finally {
      clients.forEach((c) => c.close());
    }
  });

  it('keeps the invariant in every snapshot while 30 containers on 3 nodes join and leave 3 namespaces', async () => {
    const prefix = freshPrefix();
    const clients = [0, 1, 2].map(() => new EtcdClient({ endpoints: [etcd.url], timeoutMs: 5000 }));
    const pools = clients.map(
      (c, n) => new EtcdVlanPool(c, prefix, 'tenant', { pool: '100-102', per: 'namespace' }, `node-${n}`),
    );
    let running = true;
    let snapshots = 0;
    const problems: string[] = [];
    const checker = (async () => {
      while (running) {
        problems.push(...checkInvariant(prefix, 'tenant', await client.getPrefix(`${prefix}/`)));
        snapshots++;
      }
    })();
    try {
      await Promise.all(
        Array.from({ length: 30 }, async (_, w) => {
          const pool = pools[w % 3];
          for (let i = 0; i < 15; i++) {
            const o = who(`ns${(w + i) % 3}`, `p${w}`, `w${w}i${i}`);
            const tag = await pool.acquire(o);
            // While a member, its holder's tag is the one it got.
            expect((await client.get(`${prefix}/vlan/tenant/by/${o.namespace}`))?.value).toBe(String(tag));
            await sleep(Math.random() * 3);
            expect((await pool.release(o)).tag).toBe(tag);
          }
        }),
      );
    } finally {
      running = false;
      await checker;
      clients.forEach((c) => c.close());
    }
    console.log(`etcd VLAN churn: 450 join/leave cycles, ${snapshots} snapshots checked`);
    expect(problems).toEqual([]);
    expect(snapshots).toBeGreaterThan(10);
    expect(await keys(prefix)).toEqual([]);
  });

  it('throws ExhaustedError when every tag of the pool is held, and hands a freed one out again', async () => {
    const prefix = freshPrefix();
    const pool = new EtcdVlanPool(client, prefix, 'n', { pool: '10-11', per: 'namespace' }, 'node-a');
    const ta = await pool.acquire(who('a', 'p', 'c1'));
    const tb = await pool.acquire(who('b', 'p', 'c2'));
    expect([ta, tb].sort()).toEqual([10, 11]);
    const err = await pool.acquire(who('c', 'p', 'c3')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExhaustedError);
    expect((err as Error).message).toBe('VLAN pool 10-11 of network n is exhausted');
    expect(await pool.acquire(who('a', 'q', 'c4'))).toBe(ta); // joining a held tag still works
    await pool.release(who('a', 'p', 'c1'));
    await pool.release(who('a', 'q', 'c4'));
    expect(await pool.acquire(who('c', 'p', 'c3'))).toBe(ta);
    await pool.release(who('b', 'p', 'c2'));
    await pool.release(who('c', 'p', 'c3'));
    expect(await keys(prefix)).toEqual([]);
  });

  it('refuses the same container id under another pod name, and does not let it release', async () => {
    const prefix = freshPrefix();
    const pool = new EtcdVlanPool(client, prefix, 'n', { pool: '10-20', per: 'namespace' }, 'node-a');
    const tag = await pool.acquire(who('shop', 'web', 'c1'));
    await expect(pool.acquire(who('shop', 'typo', 'c1'))).rejects.toThrow(ConflictError);
    expect(await pool.release(who('shop', 'typo', 'c1'))).toEqual({ freed: false });
    expect(await pool.release(who('shop', 'web', 'c1'))).toEqual({ tag, freed: true });
    expect(await keys(prefix)).toEqual([]);
  });

  it('frees a tag that an interrupted release left without members, when the release is repeated', async () => {
    const prefix = freshPrefix();
    const pool = new EtcdVlanPool(client, prefix, 'n', { pool: '10-20', per: 'namespace' }, 'node-a');
    const tag = await pool.acquire(who('shop', 'web', 'c1'));
    await client.delete(`${prefix}/vlan/n/member/shop/c1`); // as if the release died after its first step
    expect(await keys(prefix)).toHaveLength(2);
    expect(await pool.release(who('shop', 'web', 'c1'))).toEqual({ tag, freed: true });
    expect(await keys(prefix)).toEqual([]);
  });

  it('lists tags of every network', async () => {
    const prefix = freshPrefix();
    const a = new EtcdVlanPool(client, prefix, 'a', { pool: '10-20', per: 'namespace' }, 'node-a');
    const b = new EtcdVlanPool(client, prefix, 'b', { pool: '30-40', per: 'pod' }, 'node-b');
    const ta = await a.acquire(who('shop', 'web', 'c1'));
    const tb = await b.acquire(who('shop', 'web', 'c1'));
    expect(await listVlans(client, prefix)).toEqual([
      {
        network: 'a',
        tag: ta,
        holder: 'shop',
        members: [
          { network: 'a', namespace: 'shop', pod: 'web', containerId: 'c1', node: 'node-a', since: expect.any(String) },
        ],
      },
      {
        network: 'b',
        tag: tb,
        holder: 'shop/web',
        members: [
          { network: 'b', namespace: 'shop', pod: 'web', containerId: 'c1', node: 'node-b', since: expect.any(String) },
        ],
      },
    ]);
    await a.release(who('shop', 'web', 'c1'));
    await b.release(who('shop', 'web', 'c1'));
    expect(await keys(prefix)).toEqual([]);
  });

  it('fails with UnavailableError within timeoutMs while etcd is down', async () => {
    const prefix = freshPrefix();
    const quick = new EtcdClient({ endpoints: [etcd.url], timeoutMs: 1000 });
    const pool = new EtcdVlanPool(quick, prefix, 'n', { pool: '10-20', per: 'namespace' }, 'node-a');
    try {
      await etcd.stop();
      const t0 = Date.now();
      await expect(pool.acquire(who('shop', 'web', 'c1'))).rejects.toThrow(UnavailableError);
      await expect(pool.release(who('shop', 'web', 'c1'))).rejects.toThrow(
        `etcd ${etcd.url} unreachable: connection refused`,
      );
      expect(Date.now() - t0).toBeLessThan(1000);
    } finally {
      await etcd.start();
      quick.close();
    }
    expect(await keys(prefix)).toEqual([]);
  });
});
