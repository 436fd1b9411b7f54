// What names one attachment, and what must never harm a running pod: a container given by a
// short id is the same attachment as by its full id; every valid namespace and pod name works
// end to end; and the kubelet's most common event, a new sandbox of the same pod followed by a
// late teardown of the old one, leaves the new pod as it was.
import { execa } from 'execa';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  bridgePorts,
  hostVeths,
  ovsVsctl,
  parseKubeletStatus,
  runPlugin,
  stateFiles,
  teardownAll,
  writeConfig,
} from '../support/plugin';
import { type EtcdServer, startEtcd } from '../integration/etcd-server';
import { docker, podExec, startContainer } from '../support/sandbox';

const info = inject('sandbox');
const BRIDGE = 'ids_br';
const dir = join(info.dir, 'pod-identity');
const stateDir = join(dir, 'state');
const config = writeConfig(info, dir, [
  {
    name: 'idnet',
    bridge: BRIDGE,
    datapathType: 'netdev',
    primary: true,
    vlan: { id: 71 },
    ipam: { type: 'host-local', subnet: '10.250.0.0/24', gateway: '10.250.0.1' },
  },
]);
const run = (...args: string[]) => runPlugin(info, args, { config });

async function podIp(id: string): Promise<string> {
  const r = await podExec(info, id, ['ip', '-4', 'addr', 'show', 'eth1']);
  return /inet (\d+\.\d+\.\d+\.\d+)\//.exec(r.stdout)?.[1] ?? '';
}

interface Row {
  namespace: string;
  pod: string;
  containerId: string;
  port: string;
  ip?: string;
}
const listed = async (...extra: string[]): Promise<Row[]> => {
  const r = await run('list', '-o', 'json', ...extra);
  expect(r.exitCode, r.all).toBe(0);
  return (JSON.parse(r.stdout) as Row[]).filter(
    (a) => a.port && (a as unknown as { bridge: string }).bridge === BRIDGE,
  );
};
const leases = () => {
  const d = join(stateDir, 'ipam', 'idnet');
  return readdirSync(d)
    .filter((n) => !n.startsWith('.'))
    .map((n) => JSON.parse(readFileSync(join(d, n), 'utf8')) as { address: string; containerId: string; pod: string });
};
const records = () =>
  readdirSync(join(stateDir, 'pods')).map(
    (n) => JSON.parse(readFileSync(join(stateDir, 'pods', n), 'utf8')) as { pod: string; containerId: string },
  );

beforeAll(async () => {
  expect((await run('init')).exitCode).toBe(0);
});
afterAll(() => teardownAll(info, config, [BRIDGE]));

describe('a container given by a short id', () => {
  let id = '';
  beforeAll(async () => {
    id = await startContainer(info);
  });

  it('is recorded under its full id everywhere, and status, list, ipam and a retried setup find it by either', async () => {
    const short = id.slice(0, 12);
    const first = await run('setup', 'ids', 'short-1', short);
    expect(first.exitCode, first.all).toBe(0);
    const ip = await podIp(id);
    expect(ip).not.toBe('');
    // The state of record, the lease and the pod record hold the 64-digit id.
    const [port] = await bridgePorts(info, BRIDGE);
    // ovs-vsctl quotes a string only when it could be read as something else (one that starts with a digit).
    expect((await ovsVsctl(info, ['get', 'Port', port, 'external_ids:podvlan/containerId'])).replace(/"/g, '')).toBe(
      id,
    );
    expect(
      leases()
        .filter((l) => l.pod === 'short-1')
        .map((l) => l.containerId),
    ).toEqual([id]);
    expect(
      records()
        .filter((r) => r.pod === 'short-1')
        .map((r) => r.containerId),
    ).toEqual([id]);
    for (const given of [id, short, id.slice(0, 30)]) {
      expect(parseKubeletStatus((await run('status', 'ids', 'short-1', given)).all)?.ip, given).toBe(ip);
    }
    expect((await listed('--container', short)).map((a) => a.containerId)).toEqual([id]);
    expect((await listed('--container', id)).map((a) => a.containerId)).toEqual([id]);
    const shown = await run('ipam', 'show', short, '-o', 'json');
    expect(shown.exitCode, shown.all).toBe(0);
    expect((JSON.parse(shown.stdout) as { addresses: { address: string; containerId: string }[] }).addresses).toEqual([
      expect.objectContaining({ address: ip, containerId: id }),
    ]);
    // Same attachment: the full id changes nothing, keeps the address.
    const again = await run('setup', 'ids', 'short-1', id);
    expect(again.exitCode, again.all).toBe(0);
    expect(again.all).toMatch(/\(unchanged\)/);
    expect(await podIp(id)).toBe(ip);
    expect(await bridgePorts(info, BRIDGE)).toEqual([port]);
  });

  it('a port an older podvlan recorded under the 12-digit prefix is the same attachment for a setup by the full id', async () => {
    const [port] = await bridgePorts(info, BRIDGE);
    const uuid = await ovsVsctl(info, ['get', 'Port', port, '_uuid']);
    await ovsVsctl(info, ['set', 'Port', port, `external_ids:podvlan/containerId=${id.slice(0, 12)}`]);
    const ip = await podIp(id);
    const again = await run('setup', 'ids', 'short-1', id);
    expect(again.exitCode, again.all).toBe(0);
    expect(again.all).toMatch(/\(unchanged\)/);
    expect(await ovsVsctl(info, ['get', 'Port', port, '_uuid'])).toBe(uuid);
    expect(await podIp(id)).toBe(ip);
    await ovsVsctl(info, ['set', 'Port', port, `external_ids:podvlan/containerId=${id}`]);
  });

  it('teardown by the full id removes what setup by the short id made', async () => {
    const r = await run('teardown', 'ids', 'short-1', id);
    expect(r.exitCode, r.all).toBe(0);
    expect(r.all).toMatch(/removed 1 port\(s\) .* released 1 address\(es\)/);
    expect(await bridgePorts(info, BRIDGE)).toEqual([]);
    expect(leases().filter((l) => l.pod === 'short-1')).toEqual([]);
    expect(await podIp(id)).toBe('');
  });

  it('teardown by a prefix works after the container is gone, from what was recorded', async () => {
    const other = await startContainer(info);
    expect((await run('setup', 'ids', 'short-2', other)).exitCode).toBe(0);
    await docker(info, ['rm', '-f', other]);
    const r = await run('teardown', 'ids', 'short-2', other.slice(0, 12));
    expect(r.exitCode, r.all).toBe(0);
    expect(r.all).toMatch(/removed 1 port\(s\) .* released 1 address\(es\)/);
    expect(await bridgePorts(info, BRIDGE)).toEqual([]);
    expect(stateFiles(stateDir)).toEqual([]);
  });

  it('teardown by a prefix frees a lease that only the lease file still records', async () => {
    const other = await startContainer(info);
    expect((await run('setup', 'ids', 'short-5', other)).exitCode).toBe(0);
    // What an operator's cleanup by hand (docs/operating.md) may leave: the port and the record gone.
    const [port] = await bridgePorts(info, BRIDGE);
    await ovsVsctl(info, ['del-port', BRIDGE, port]);
    for (const f of readdirSync(join(stateDir, 'pods'))) rmSync(join(stateDir, 'pods', f));
    expect(leases().filter((l) => l.pod === 'short-5')).toHaveLength(1);
    const r = await run('teardown', 'ids', 'short-5', other.slice(0, 12));
    expect(r.exitCode, r.all).toBe(0);
    expect(r.all).toMatch(/released 1 address\(es\)/);
    expect(stateFiles(stateDir)).toEqual([]);
    await docker(info, ['rm', '-f', other]);
  });

  it('a container name that looks like an id is not taken for one', async () => {
    const name = 'abcdef012345';
    await docker(info, ['run', '-d', '--net=none', '--name', name, 'podvlan-test/busybox:1', 'sleep', '3600']);
    const r = await run('setup', 'ids', 'short-4', name);
    expect(r.exitCode, r.all).toBe(4);
    expect(r.all.trim()).toMatch(/^podvlan: container id abcdef012345 is not the id of a Docker container/);
    expect(await bridgePorts(info, BRIDGE)).toEqual([]);
    await docker(info, ['rm', '-f', name]);
  });

  it('a prefix that names no container is refused by setup, and matches nothing elsewhere', async () => {
    const r = await run('setup', 'ids', 'short-3', 'f'.repeat(12));
    expect(r.exitCode, r.all).toBe(4);
    expect(r.all.trim().split('\n')).toHaveLength(1);
    expect(await listed('--container', 'f'.repeat(12))).toEqual([]);
    expect((await run('status', 'ids', 'short-3', 'f'.repeat(12))).all).toBe('');
  });
});

describe('the longest valid names', () => {
  const ns = `n${'s'.repeat(61)}1`; // 63, a DNS-1123 label's limit
  // 253, a DNS-1123 subdomain's limit; the two share their first 251 characters.
  const podA = `${'p'.repeat(62)}.${'o'.repeat(62)}.${'d'.repeat(62)}.${'x'.repeat(62)}-a`;
  const podB = `${podA.slice(0, -1)}b`;
  // Its record's name fits 255 bytes, but not with the temp file's suffix, unless that is reckoned with.
  const podC = 'c'.repeat(180);
  const ids = { a: '', b: '', c: '' };
  beforeAll(async () => {
    ids.a = await startContainer(info);
    ids.b = await startContainer(info);
    ids.c = await startContainer(info);
  });

  it('work for setup, status, list, ipam, gc and teardown', async () => {
    expect(ns).toHaveLength(63);
    expect(podA).toHaveLength(253);
    for (const [pod, id] of [
      [podA, ids.a],
      [podB, ids.b],
      [podC, ids.c],
    ]) {
      const r = await run('setup', ns, pod, id);
      expect(r.exitCode, r.all).toBe(0);
    }
    const ipA = await podIp(ids.a);
    const ipB = await podIp(ids.b);
    expect(ipA).not.toBe(ipB);
    expect(parseKubeletStatus((await run('status', ns, podA, ids.a)).all)?.ip).toBe(ipA);
    expect(parseKubeletStatus((await run('status', ns, podB, ids.b)).all)?.ip).toBe(ipB);
    expect(parseKubeletStatus((await run('status', ns, podC, ids.c)).all)?.ip).toBe(await podIp(ids.c));
    expect(
      (await listed())
        .filter((a) => a.namespace === ns)
        .map((a) => a.pod)
        .sort(),
    ).toEqual([podC, podA, podB]);
    const shown = await run('ipam', 'show', `${ns}/${podA}`, '-o', 'json');
    expect(shown.exitCode, shown.all).toBe(0);
    expect((JSON.parse(shown.stdout) as { addresses: { address: string }[] }).addresses.map((a) => a.address)).toEqual([
      ipA,
    ]);
    const gc = await run('gc', '-o', 'json');
    expect(gc.exitCode, gc.all).toBe(0);
    expect(JSON.parse(gc.stdout).actions).toEqual([]);
    // A repeated setup finds its own record: unchanged.
    expect((await run('setup', ns, podA, ids.a)).all).toMatch(/\(unchanged\)/);
    for (const [pod, id] of [
      [podA, ids.a],
      [podB, ids.b],
      [podC, ids.c],
    ]) {
      const r = await run('teardown', ns, pod, id);
      expect(r.exitCode, r.all).toBe(0);
      expect(r.all).toMatch(/removed 1 port\(s\)/);
    }
    expect(await bridgePorts(info, BRIDGE)).toEqual([]);
    expect(stateFiles(stateDir)).toEqual([]);
  });
});

describe('a new sandbox of the same pod, then a late teardown of the old one', () => {
  const POD = 'resandboxed';
  interface Seen {
    port: string;
    ip: string;
    status: string;
    veth: string;
    lease: string[];
  }
  const observe = async (id: string): Promise<Seen> => {
    const rows = (await listed()).filter((a) => a.pod === POD && a.containerId === id);
    const port = rows[0]?.port ?? '';
    const veth = port
      ? ((await execa('ip', ['-n', info.netns, '-o', 'link', 'show', port], { reject: false })).stdout
          .split(':')[1]
          ?.trim() ?? '')
      : '';
    return {
      port,
      ip: await podIp(id),
      status: parseKubeletStatus((await run('status', 'ids', POD, id)).all)?.ip ?? '',
      veth,
      lease: leases()
        .filter((l) => l.pod === POD && l.containerId === id)
        .map((l) => l.address),
    };
  };

  it.each([
    ['the old container is gone', true],
    ['the old container still runs', false],
  ])('the new pod keeps its port, veth, address, lease and status when %s', async (_label, removeOld) => {
    const old = await startContainer(info);
    expect((await run('setup', 'ids', POD, old)).exitCode).toBe(0);
    const fresh = await startContainer(info);
    const r = await run('setup', 'ids', POD, fresh);
    expect(r.exitCode, r.all).toBe(0);
    const before = await observe(fresh);
    expect(before.port).not.toBe('');
    expect(before.ip).not.toBe('');
    expect(before.status).toBe(before.ip);
    expect(before.veth).toMatch(new RegExp(`^${before.port}@`));
    expect(before.lease).toEqual([before.ip]);
    if (removeOld) await docker(info, ['rm', '-f', old]);

    const late = await run('teardown', 'ids', POD, old);
    expect(late.exitCode, late.all).toBe(0);
    expect(late.all).toMatch(/removed 0 port\(s\), released 0 address\(es\)/);
    expect(await observe(fresh)).toEqual(before);
    expect((await run('status', 'ids', POD, old)).all).toBe('');
    expect(await bridgePorts(info, BRIDGE)).toEqual([before.port]);

    expect((await run('teardown', 'ids', POD, fresh)).exitCode).toBe(0);
    expect(await bridgePorts(info, BRIDGE)).toEqual([]);
    expect(await hostVeths(info)).not.toContain(before.port);
    expect(stateFiles(stateDir)).toEqual([]);
    if (!removeOld) await docker(info, ['rm', '-f', old]);
  });
});

describe('a short id and the longest names with the cluster-wide pools in etcd', () => {
  const PREFIX = '/podvlan-ids';
  let etcd: EtcdServer;
  let clusterConfig = '';
  const ns = `e${'t'.repeat(61)}d`;
  const longPod = `${'l'.repeat(200)}.${'o'.repeat(52)}`;
  const keys = async () =>
    (
      await execa(
        'ip',
        ['netns', 'exec', info.netns, 'etcdctl', '--endpoints', etcd.url, 'get', '--prefix', '--keys-only', PREFIX],
        { env: { ETCDCTL_API: '3' } },
      )
    ).stdout
      .split('\n')
      .filter(Boolean);
  beforeAll(async () => {
    etcd = await startEtcd({ netns: info.netns });
    clusterConfig = writeConfig(
      info,
      join(dir, 'cluster'),
      [
        {
          name: 'idclu',
          bridge: 'ids_clu',
          datapathType: 'netdev',
          primary: true,
          vlan: { pool: '400-409', per: 'pod' },
          ipam: { type: 'etcd', subnet: '10.253.0.0/24', gateway: '10.253.0.1' },
        },
      ],
      { nodeName: 'node-ids', etcd: { endpoints: [etcd.url], prefix: PREFIX, timeoutMs: 2000 } },
    );
    expect((await runPlugin(info, ['init'], { config: clusterConfig })).exitCode).toBe(0);
  });
  afterAll(async () => {
    await teardownAll(info, clusterConfig, ['ids_clu']);
    await etcd?.destroy();
  });

  it('records the full id in etcd and frees it all by the full id', async () => {
    expect(longPod).toHaveLength(253);
    const id = await startContainer(info);
    const r = await runPlugin(info, ['setup', ns, longPod, id.slice(0, 12)], { config: clusterConfig });
    expect(r.exitCode, r.all).toBe(0);
    const held = await keys();
    // The address's owner key and the VLAN member key are named by the container id: the full one.
    expect(
      held.filter((k) => k.includes('/owner/') || k.includes('/member/')).map((k) => k.includes(`/${id}`)),
    ).toEqual([true, true]);
    expect(held.some((k) => k.includes(`/${id.slice(0, 12)}/`) || k.endsWith(`/${id.slice(0, 12)}`))).toBe(false);
    const ip = await podIp(id);
    expect(
      parseKubeletStatus((await runPlugin(info, ['status', ns, longPod, id], { config: clusterConfig })).all)?.ip,
    ).toBe(ip);
    const shown = JSON.parse(
      (await runPlugin(info, ['ipam', 'show', id.slice(0, 16), '-o', 'json'], { config: clusterConfig })).stdout,
    ) as { addresses: { address: string; containerId: string }[]; vlans: { members: { containerId: string }[] }[] };
    expect(shown.addresses).toEqual([expect.objectContaining({ address: ip, containerId: id })]);
    expect(shown.vlans.flatMap((v) => v.members.map((m) => m.containerId))).toEqual([id]);
    const gc = await runPlugin(info, ['gc', '-o', 'json'], { config: clusterConfig });
    expect(JSON.parse(gc.stdout).actions).toEqual([]);
    const down = await runPlugin(info, ['teardown', ns, longPod, id], { config: clusterConfig });
    expect(down.exitCode, down.all).toBe(0);
    expect(down.all).toMatch(/removed 1 port\(s\) .* released 1 address\(es\)/);
    expect(await keys()).toEqual([]);
    await docker(info, ['rm', '-f', id]);
  });
});
