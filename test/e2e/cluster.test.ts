// Cluster-wide VLANs and addresses in a real etcd, across three simulated nodes: each node its own
// network namespace with its own ovsdb-server and ovs-vswitchd (test/support/node.ts), its own
// podvlan config (node name, bridge, state directory), the bridges joined by veth trunks between
// the namespaces, so pods on the same VLAN on different nodes reach each other. Docker is the
// sandbox's one dockerd; etcd runs in the sandbox's namespace, reached over each node's uplink.
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type EtcdServer, startEtcd } from '../integration/etcd-server';
import { audit } from '../support/consistency';
import { type NodeInfo, SERVICE_ADDRESS, startNodes, trunk } from '../support/node';
import { bridgePorts, runPlugin, teardownAll, writeConfig } from '../support/plugin';
import { canPing, podExec, startContainer } from '../support/sandbox';

const info = inject('sandbox');
const NODES = ['a', 'b', 'c'] as const;
type Node = (typeof NODES)[number];
const PREFIX = '/podvlan-e2e';
const bridgeOf = (n: Node) => `clu_${n}_br`;
let etcd: EtcdServer;
const configs = {} as Record<Node, string>;
const nodes = {} as Record<Node, NodeInfo>;
const trunks: Record<Node, string[]> = { a: [], b: [], c: [] };

const run = (node: Node, ...args: string[]) => runPlugin(nodes[node], args, { config: configs[node] });
const ipOf = async (id: string) =>
  /inet (\S+)\//.exec((await podExec(info, id, ['ip', '-4', 'addr', 'show', 'eth1'])).stdout)?.[1] ?? '';
async function etcdKeys(): Promise<string[]> {
  const { stdout } = await execa(
    'ip',
    ['netns', 'exec', info.netns, 'etcdctl', '--endpoints', etcd.url, 'get', '--prefix', '--keys-only', PREFIX],
    { env: { ETCDCTL_API: '3' } },
  );
  return stdout.split('\n').filter(Boolean);
}
async function attachments(node: Node) {
  const r = await run(node, 'list', '--output', 'json');
  expect(r.exitCode, r.all).toBe(0);
  type Row = {
    namespace: string;
    pod: string;
    containerId: string;
    tag: number;
    ip: string;
    bridge: string;
    port: string;
  };
  return (JSON.parse(r.stdout) as Row[]).filter((a) => a.bridge === bridgeOf(node));
}

describe('cluster-wide allocation across three nodes', () => {
  beforeAll(async () => {
    // etcd in the sandbox's namespace, at the address every node routes to over its uplink.
    const [started, list] = await Promise.all([
      startEtcd({ netns: info.netns, host: SERVICE_ADDRESS }),
      startNodes(info, [...NODES]),
    ]);
    etcd = started;
    for (const n of list) nodes[n.name as Node] = n;
    for (const n of NODES) {
      configs[n] = writeConfig(
        nodes[n],
        join(info.dir, 'cluster', n),
        [
          {
            name: 'tenant',
            bridge: bridgeOf(n),
            datapathType: 'netdev',
            primary: true,
            vlan: { pool: '100-199', per: 'namespace' },
            ipam: {
              type: 'etcd',
              subnet: '10.241.0.0/24',
              gateway: '10.241.0.1',
              fixed: [{ namespace: 'team-a', pod: 'fixed-1', address: '10.241.0.250' }],
            },
          },
        ],
        { nodeName: `node-${n}`, etcd: { endpoints: [etcd.url], prefix: PREFIX, timeoutMs: 2000 }, timeoutMs: 5000 },
      );
      expect((await run(n, 'init')).exitCode).toBe(0);
    }
    // Trunks a-b and b-c between the nodes' namespaces: untagged OVS ports carry every VLAN.
    for (const [x, y] of [
      ['a', 'b'],
      ['b', 'c'],
    ] as const) {
      const [px, py] = await trunk(nodes[x], bridgeOf(x), nodes[y], bridgeOf(y));
      trunks[x].push(px);
      trunks[y].push(py);
    }
  });
  afterAll(async () => {
    for (const n of NODES) if (nodes[n]) await teardownAll(nodes[n], configs[n], [bridgeOf(n)]);
    await Promise.all(NODES.map((n) => nodes[n]?.stop()));
    await etcd?.destroy();
  });

  const pods: Record<string, { node: Node; ns: string; id: string }> = {};
  const setup = async (node: Node, ns: string, pod: string) => {
    pods[pod] ??= { node, ns, id: await startContainer(info) };
    const r = await run(node, 'setup', ns, pod, pods[pod].id);
    expect(r.exitCode, r.all).toBe(0);
    return r;
  };

  it('gives one namespace one VLAN on every node, another namespace another, and traffic follows', async () => {
    await setup('a', 'team-a', 'web-1');
    await setup('b', 'team-a', 'web-2');
    await setup('c', 'team-b', 'db-1');
    const [a] = await attachments('a');
    const [b] = await attachments('b');
    const [c] = await attachments('c');
    expect(a.tag).toBe(b.tag);
    expect(c.tag).not.toBe(a.tag);
    for (const t of [a.tag, c.tag]) expect(t).toBeGreaterThanOrEqual(100);
    expect(new Set([a.ip, b.ip, c.ip]).size).toBe(3);
    expect(await canPing(info, pods['web-1'].id, await ipOf(pods['web-2'].id))).toBe(true);
    expect(await canPing(info, pods['web-1'].id, await ipOf(pods['db-1'].id))).toBe(false);
  });

  it('a retried setup gets the same VLAN and address back', async () => {
    const before = await attachments('a');
    const r = await setup('a', 'team-a', 'web-1');
    expect(r.all).toMatch(/unchanged/);
    expect(await attachments('a')).toEqual(before);
  });

  it('a fixed address is reserved for its pod, and ipam list/show name the owners and nodes', async () => {
    await setup('c', 'team-a', 'fixed-1');
    expect(await ipOf(pods['fixed-1'].id)).toBe('10.241.0.250');
    const r = await run('b', 'ipam', 'list', '-o', 'json');
    const view = JSON.parse(r.stdout) as {
      addresses: { address: string; pod: string; node: string }[];
      vlans: { tag: number; holder: string; members: unknown[] }[];
    };
    expect(view.addresses.find((x) => x.pod === 'fixed-1')).toMatchObject({ address: '10.241.0.250', node: 'node-c' });
    expect(view.vlans.find((v) => v.holder === 'team-a')?.members).toHaveLength(3);
    const show = JSON.parse((await run('a', 'ipam', 'show', 'team-b/db-1', '-o', 'json')).stdout);
    expect(show.addresses).toHaveLength(1);
  });

  it("a late teardown of a pod's old container on its old node frees only what that container held", async () => {
    const old = await setup('a', 'team-a', 'sts-0');
    const oldIp = await ipOf(pods['sts-0'].id);
    const [oldPort] = (await attachments('a')).filter((x) => x.pod === 'sts-0');
    // The pod moves to node b with a new container, before node a's teardown of the old one.
    const oldId = pods['sts-0'].id;
    pods['sts-0'] = { node: 'b', ns: 'team-a', id: await startContainer(info) };
    await setup('b', 'team-a', 'sts-0');
    const newIp = await ipOf(pods['sts-0'].id);
    expect(newIp).not.toBe(oldIp);
    // Node b's setup saw only its own OVSDB: node a's port of the old container is still there
    // (with a shared OVSDB, b's setup had removed it as an older container's leftover).
    expect((await attachments('a')).filter((x) => x.pod === 'sts-0')).toEqual([oldPort]);
    const [newPort] = (await attachments('b')).filter((x) => x.pod === 'sts-0');
    expect(newPort.containerId).toBe(pods['sts-0'].id);
    const down = await run('a', 'teardown', 'team-a', 'sts-0', oldId);
    expect(down.exitCode, down.all).toBe(0);
    expect(down.all).toMatch(/removed 1 port/);
    expect((await attachments('a')).filter((x) => x.pod === 'sts-0')).toEqual([]);
    // Node b's pod keeps its port, its address, its status and its traffic.
    expect((await attachments('b')).filter((x) => x.pod === 'sts-0')).toEqual([newPort]);
    const view = JSON.parse((await run('a', 'ipam', 'show', 'team-a/sts-0', '-o', 'json')).stdout);
    expect(view.addresses.map((x: { address: string }) => x.address)).toEqual([newIp]);
    expect(JSON.parse((await run('b', 'status', 'team-a', 'sts-0', pods['sts-0'].id)).stdout).ip).toBe(newIp);
    expect(await canPing(info, pods['web-1'].id, newIp)).toBe(true);
    // Addresses live in etcd here, not in lease files.
    for (const n of ['a', 'b'] as const) {
      const stateDir = join(info.dir, 'cluster', n, 'state');
      expect(await audit(nodes[n], stateDir, [bridgeOf(n)], { leases: false })).toEqual([]);
    }
    expect(old.exitCode).toBe(0);
  });

  it('3 nodes x 40 pods set up at once: every pod an address, none twice, one VLAN per namespace', async () => {
    const batch = NODES.flatMap((node) =>
      Array.from({ length: 40 }, (_, i) => ({ node, ns: `load-${i % 4}`, pod: `p-${node}-${i}`, id: '' })),
    );
    await Promise.all(
      Array.from({ length: 8 }, async (_, w) => {
        for (let i = w; i < batch.length; i += 8) batch[i].id = await startContainer(info);
      }),
    );
    const results = await Promise.all(batch.map((p) => run(p.node, 'setup', p.ns, p.pod, p.id)));
    for (const r of results) expect(r.exitCode, r.all).toBe(0);
    const all = (await Promise.all(NODES.map(attachments))).flat().filter((a) => a.namespace.startsWith('load-'));
    expect(all).toHaveLength(120);
    expect(new Set(all.map((a) => a.ip)).size).toBe(120);
    for (let k = 0; k < 4; k++)
      expect(new Set(all.filter((a) => a.namespace === `load-${k}`).map((a) => a.tag)).size).toBe(1);
    expect(new Set(all.map((a) => a.tag)).size).toBe(4);
    const down = await Promise.all(batch.map((p) => run(p.node, 'teardown', p.ns, p.pod, p.id)));
    for (const r of down) expect(r.exitCode, r.all).toBe(0);
    expect((await etcdKeys()).filter((k) => k.includes('load-'))).toEqual([]);
    // 240 setups and teardowns on 2 cores: 60-116 s here, so more than the e2e default of 120 s.
  }, 300_000);

  it('gc frees what a dead container held in etcd, even after its network left the config', async () => {
    await setup('a', 'team-d', 'gone-1');
    const id = pods['gone-1'].id;
    delete pods['gone-1'];
    await execa('docker', ['-H', `unix://${info.dockerSocket}`, 'rm', '-f', id]);
    // Node a's config now lists another network only (same bridge, so its ports stay in view).
    const changed = writeConfig(
      nodes.a,
      join(info.dir, 'cluster', 'a2'),
      [
        {
          name: 'other',
          bridge: bridgeOf('a'),
          datapathType: 'netdev',
          interface: 'eth9',
          match: { namespace: '^nobody$' },
          vlan: { id: 999 },
        },
      ],
      {
        nodeName: 'node-a',
        stateDir: join(info.dir, 'cluster', 'a', 'state'),
        etcd: { endpoints: [etcd.url], prefix: PREFIX, timeoutMs: 2000 },
      },
    );
    expect((await etcdKeys()).some((k) => k.includes('team-d'))).toBe(true);
    const r = await runPlugin(nodes.a, ['gc', '-o', 'json'], { config: changed });
    expect(r.exitCode, r.all).toBe(0);
    expect(JSON.parse(r.stdout).actions.map((x: { action: string }) => x.action)).toContain('remove-port');
    expect((await etcdKeys()).filter((k) => k.includes('team-d') || k.includes(id))).toEqual([]);
  });

  it('a node gone for good: another node takes its pod out of the VLAN by hand, refused for a pod it runs', async () => {
    await setup('c', 'team-e', 'lost-1');
    const [{ tag }] = (await attachments('c')).filter((x) => x.pod === 'lost-1');
    // Node c is gone: node a, which runs nothing of team-e/lost-1, releases what etcd holds for it.
    const r = await run('a', 'ipam', 'release-vlan', 'tenant', 'team-e/lost-1');
    expect(r.exitCode, r.all).toBe(0);
    expect(r.stdout).toBe(
      `left tenant vlan ${tag} (member team-e/lost-1, container ${pods['lost-1'].id.slice(0, 12)}, node node-c), tag freed`,
    );
    expect((await etcdKeys()).filter((k) => k.includes('/vlan/') && k.includes('team-e'))).toEqual([]);
    const again = await run('a', 'ipam', 'release-vlan', 'tenant', 'team-e/lost-1');
    expect([again.exitCode, again.stderr]).toEqual([
      4,
      'podvlan: team-e/lost-1 is no member of a VLAN of network tenant',
    ]);
    // A pod with a port on this very node: refused, and its VLAN stays.
    const refused = await run('a', 'ipam', 'release-vlan', 'tenant', 'team-a/web-1');
    expect(refused.exitCode).toBe(5);
    expect(refused.stderr).toMatch(
      /^podvlan: team-a\/web-1 uses network tenant through port pv[0-9a-f]{13} on this node: tear the pod down first, or pass --force$/,
    );
    expect((await etcdKeys()).some((k) => k.includes('/member/team-a/') && k.endsWith(pods['web-1'].id))).toBe(true);
  });

  it("a renamed node keeps its running pods' etcd holdings, and collects what its dead ones leaked", async () => {
    await setup('c', 'team-f', 'ren-1');
    await setup('c', 'team-f', 'leak-1');
    // leak-1's container dies and its port vanishes without a teardown (e.g. removed by hand):
    // what it holds in etcd, under the old node name, is now a leak no port points to.
    const leaked = pods['leak-1'].id;
    delete pods['leak-1'];
    const [leakPort] = (await attachments('c')).filter((x) => x.pod === 'leak-1');
    await execa('ovs-vsctl', [`--db=${nodes.c.ovsdb}`, 'del-port', leakPort.port]);
    await execa('docker', ['-H', `unix://${info.dockerSocket}`, 'rm', '-f', leaked]);
    const renamed = writeConfig(
      nodes.c,
      join(info.dir, 'cluster', 'c-renamed'),
      [
        {
          name: 'tenant',
          bridge: bridgeOf('c'),
          datapathType: 'netdev',
          primary: true,
          vlan: { pool: '100-199', per: 'namespace' },
          ipam: { type: 'etcd', subnet: '10.241.0.0/24', gateway: '10.241.0.1' },
        },
      ],
      {
        nodeName: 'node-c-renamed',
        stateDir: join(info.dir, 'cluster', 'c', 'state'),
        timeoutMs: 5000,
        etcd: { endpoints: [etcd.url], prefix: PREFIX, timeoutMs: 2000 },
      },
    );
    // Node b now takes c's old name (a reused host name): what it holds under that name is b's,
    // even though c's ports still carry the name.
    const bAsOldC = writeConfig(
      nodes.b,
      join(info.dir, 'cluster', 'b-as-old-c'),
      [
        {
          name: 'tenant',
          bridge: bridgeOf('b'),
          datapathType: 'netdev',
          primary: true,
          vlan: { pool: '100-199', per: 'namespace' },
          ipam: { type: 'etcd', subnet: '10.241.0.0/24', gateway: '10.241.0.1' },
        },
      ],
      {
        nodeName: 'node-c',
        stateDir: join(info.dir, 'cluster', 'b', 'state'),
        timeoutMs: 5000,
        etcd: { endpoints: [etcd.url], prefix: PREFIX, timeoutMs: 2000 },
      },
    );
    const reuse = await startContainer(info);
    const up = await runPlugin(nodes.b, ['setup', 'team-g', 'reuse-1', reuse], { config: bAsOldC });
    expect(up.exitCode, up.all).toBe(0);
    const before = (await attachments('c')).filter((x) => x.pod === 'ren-1');
    const r = await runPlugin(nodes.c, ['gc', '-o', 'json'], { config: renamed });
    expect(r.exitCode, r.all).toBe(0);
    const actions = JSON.parse(r.stdout).actions as {
      action: string;
      namespace: string;
      pod?: string;
      target: string;
    }[];
    expect(actions.filter((x) => `${x.namespace}/${x.pod}` !== 'team-f/leak-1')).toEqual([]);
    expect(actions.map((x) => x.action).sort()).toEqual(expect.arrayContaining(['leave-vlan', 'release-address']));
    expect((await etcdKeys()).filter((k) => k.includes(leaked))).toEqual([]);
    expect((await etcdKeys()).some((k) => k.includes(pods['ren-1'].id))).toBe(true);
    expect((await attachments('c')).filter((x) => x.pod === 'ren-1')).toEqual(before);
    expect(await ipOf(pods['ren-1'].id)).toBe(before[0].ip.split('/')[0]);
    expect((await etcdKeys()).filter((k) => k.includes(reuse)).length).toBeGreaterThan(0);
    const down = await runPlugin(nodes.b, ['teardown', 'team-g', 'reuse-1', reuse], { config: bAsOldC });
    expect(down.exitCode, down.all).toBe(0);
    expect((await etcdKeys()).filter((k) => k.includes(reuse))).toEqual([]);
  });

  it('etcd unreachable: setup fails with one line within the timeout and leaves nothing behind', async () => {
    await etcd.stop();
    try {
      const id = await startContainer(info);
      const r = await run('a', 'setup', 'team-c', 'lonely', id);
      expect(r.exitCode, r.all).toBe(7);
      expect(r.all.trim().split('\n')).toHaveLength(1);
      expect(r.all).toMatch(/etcd/);
      expect(r.ms).toBeLessThan(15000);
      expect((await attachments('a')).filter((x) => x.pod === 'lonely')).toEqual([]);
    } finally {
      await etcd.start();
    }
    expect((await etcdKeys()).filter((k) => k.includes('lonely') || k.includes('team-c'))).toEqual([]);
  });

  it('teardown of everything leaves etcd without allocations', async () => {
    for (const [pod, p] of Object.entries(pods))
      expect((await run(p.node, 'teardown', p.ns, pod, p.id)).exitCode).toBe(0);
    for (const n of NODES) expect(await bridgePorts(nodes[n], bridgeOf(n))).toEqual([...trunks[n]].sort());
    expect(await etcdKeys()).toEqual([]);
  });
});
