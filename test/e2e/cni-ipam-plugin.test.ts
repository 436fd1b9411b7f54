// podvlan as the IPAM plugin of Debian's `bridge` plugin, through Debian's libcni: the main
// plugin runs podvlan for its addresses with `"ipam": {"type": "podvlan", "pool": P}`. On two
// simulated nodes (test/support/node.ts) sharing one etcd, concurrent ADDs on both get
// cluster-unique addresses without a cluster-wide lock; on one node a host-local pool. The
// configs are docs/cni-ipam.md's examples; the verbs no runtime here sends to an IPAM plugin on
// its own (a repeated ADD, CHECK against prevResult, STATUS, GC) go through the spec caller.
import { execa } from 'execa';
import { randomBytes } from 'node:crypto';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type EtcdServer, startEtcd } from '../integration/etcd-server';
import { cni, delNetns, netnsAddress, netnsPing } from '../support/cni';
import { leaseFiles } from '../support/consistency';
import { docExample } from '../support/doc-example';
import { DEBIAN_CNI_DIR, type LibcniCall, parseResult, runLibcni } from '../support/libcni';
import { type NodeInfo, SERVICE_ADDRESS, startNodes } from '../support/node';
import { BINARY, runPlugin, writeConfig } from '../support/plugin';
import type { SandboxInfo } from '../support/sandbox';

const info = inject('sandbox');
const dir = join(info.dir, 'cni-ipam-plugin');
const binDir = join(dir, 'bin');
const cacheDir = (node: string) => join(dir, node, 'cni-cache');
const stateDirOf = (node: string) => join(dir, node, 'state');

const namespaces: string[] = [];
async function newNetns(tag: string): Promise<string> {
  const name = `pvip-${tag}-${randomBytes(3).toString('hex')}`;
  await execa('ip', ['netns', 'add', name]);
  await execa('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  namespaces.push(name);
  return name;
}

type Ipam = Record<string, unknown>;
type Conflist = { name: string; cniVersion: string; plugins: (Record<string, unknown> & { ipam: Ipam })[] };

/** A docs example with this machine's node-wide keys in its ipam object (and `extra` ones). */
function localized(example: string, node: string, extra: Ipam = {}): Conflist {
  const list = docExample('cni-ipam.md', example) as unknown as Conflist;
  const [p] = list.plugins;
  const ipam = {
    ...p.ipam,
    stateDir: stateDirOf(node),
    logFile: join(dir, node, 'podvlan.log'),
    nodeConfig: '/dev/null', // this machine's /etc/podvlan must not leak in
    ...extra,
  };
  return { ...list, plugins: [{ ...p, ipam }] };
}
function writeConflist(node: string, list: Conflist): string {
  mkdirSync(join(dir, node), { recursive: true });
  const path = join(dir, node, `${list.name}.conflist`);
  writeFileSync(path, JSON.stringify(list, null, 2));
  return path;
}
const call = (node: string, conflist: string, containerId: string, netns: string): LibcniCall => ({
  conflist,
  containerId,
  netns: netns && `/run/netns/${netns}`,
  pluginDirs: [binDir, DEBIAN_CNI_DIR],
  cacheDir: cacheDir(node),
});
/** podvlan alone, as the bridge plugin runs it: the network config with name and cniVersion, one plugin. */
const asIpamCall = (list: Conflist) => ({ cniVersion: list.cniVersion, name: list.name, ...list.plugins[0] });

interface AddressRow {
  scope: string;
  network: string;
  address: string;
  namespace: string;
  node?: string;
}
async function ipamList(node: SandboxInfo, config: string): Promise<AddressRow[]> {
  const r = await runPlugin(node, ['ipam', 'list', '--output', 'json'], { config });
  expect(r.exitCode, r.all).toBe(0);
  return (JSON.parse(r.stdout) as { addresses: AddressRow[] }).addresses;
}

/** Run `task` over `items`, `width` at a time. */
async function pool<T, R>(items: T[], width: number, task: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await task(items[i]);
      }
    }),
  );
  return out;
}

beforeAll(() => {
  mkdirSync(binDir, { recursive: true });
  symlinkSync(BINARY, join(binDir, 'podvlan'));
});
afterAll(async () => {
  for (const ns of namespaces) await delNetns(ns);
});

describe('bridge + podvlan IPAM (etcd) on two nodes sharing one etcd (docs "bridge-etcd")', () => {
  const NODES = ['ipa', 'ipb'] as const;
  const PER_NODE = 20;
  const PREFIX = '/podvlan-cni-ipam';
  let etcd: EtcdServer;
  const nodes = {} as Record<string, NodeInfo>;
  const conflists = {} as Record<string, string>;
  const configs = {} as Record<string, string>;
  const pods: { node: string; id: string; ns: string }[] = [];

  beforeAll(async () => {
    const [started, list] = await Promise.all([
      startEtcd({ netns: info.netns, host: SERVICE_ADDRESS }),
      startNodes(info, [...NODES]),
    ]);
    etcd = started;
    for (const n of list) nodes[n.name] = n;
    const etcdSection = { endpoints: [etcd.url], prefix: PREFIX };
    for (const n of NODES) {
      conflists[n] = writeConflist(n, localized('bridge-etcd', n, { etcd: etcdSection, nodeName: `node-${n}` }));
      // For `podvlan ipam list` on the node: the same etcd (its own networks are not the CNI ones).
      configs[n] = writeConfig(
        nodes[n],
        join(dir, n, 'cli'),
        [{ name: 'unused', bridge: 'unused_br', vlan: { id: 1 } }],
        { stateDir: stateDirOf(n), etcd: etcdSection, nodeName: `node-${n}` },
      );
    }
    for (const n of NODES)
      for (let i = 0; i < PER_NODE; i++) pods.push({ node: n, id: `${n}-pod-${i}`, ns: await newNetns(`${n}${i}`) });
  });
  afterAll(async () => {
    await Promise.all(NODES.map((n) => nodes[n]?.stop()));
    await etcd?.destroy();
  });

  it('2 x 20 concurrent ADDs get 40 distinct addresses of the pool; pods on one node reach each other', async () => {
    const started = performance.now();
    const runs = await pool(pods, pods.length, (p) =>
      runLibcni(nodes[p.node], 'add', call(p.node, conflists[p.node], p.id, p.ns)),
    );
    console.log(`40 concurrent ADDs (bridge + podvlan etcd IPAM) in ${Math.round(performance.now() - started)} ms`);
    const addresses = runs.map((r) => parseResult(r).ips![0].address);
    expect(new Set(addresses).size).toBe(40);
    for (const a of addresses) expect(a).toMatch(/^10\.226\.0\.\d+\/24$/);
    expect(addresses).not.toContain('10.226.0.1/24'); // the gateway, on each node's bridge
    const [r0] = runs.map(parseResult);
    expect(r0.ips![0].gateway).toBe('10.226.0.1');
    expect(await netnsAddress(pods[0].ns, 'eth0')).toBe(addresses[0]);
    expect(await netnsPing(pods[0].ns, addresses[1].split('/')[0])).toBe(true);
    expect(await netnsPing(pods[PER_NODE].ns, addresses[PER_NODE + 1].split('/')[0])).toBe(true);
    expect(await netnsPing(pods[0].ns, '10.226.0.1')).toBe(true);
  });

  it('podvlan ipam list on either node shows all 40, cluster-wide, with the node that took each', async () => {
    for (const n of NODES) {
      const rows = (await ipamList(nodes[n], configs[n])).filter((r) => r.network === 'tenant-a');
      expect(rows).toHaveLength(40);
      expect(rows.every((r) => r.scope === 'cluster' && r.namespace === 'cni')).toBe(true);
      expect(rows.filter((r) => r.node === `node-${n}`)).toHaveLength(PER_NODE);
    }
  });

  it('podvlan gc leaves them alone: an IPAM lease never has a port of its own', async () => {
    const r = await runPlugin(nodes.ipa, ['gc'], { config: configs.ipa });
    expect(r.exitCode, r.all).toBe(0);
    expect((await ipamList(nodes.ipa, configs.ipa)).filter((x) => x.network === 'tenant-a')).toHaveLength(40);
  });

  it('concurrent DELs free every address; a second DEL of each succeeds', async () => {
    for (let round = 0; round < 2; round++) {
      const runs = await pool(pods, pods.length, (p) =>
        runLibcni(nodes[p.node], 'del', call(p.node, conflists[p.node], p.id, p.ns)),
      );
      for (const r of runs) expect(r, r.stdout).toMatchObject({ exitCode: 0, stdout: '' });
    }
    expect((await ipamList(nodes.ipa, configs.ipa)).filter((r) => r.network === 'tenant-a')).toEqual([]);
    expect(await netnsAddress(pods[0].ns, 'eth0')).toBe('');
  });

  it('STATUS: 0 while etcd answers, 50 when it does not', async () => {
    const conf = asIpamCall(localized('bridge-etcd', 'ipa', { etcd: { endpoints: [etcd.url], prefix: PREFIX } }));
    const ok = await cni(nodes.ipa, 'STATUS', { ...conf, cniVersion: '1.1.0' });
    expect(ok, ok.stdout).toMatchObject({ exitCode: 0, stdout: '', stderr: '' });
    const down = { ...conf, cniVersion: '1.1.0' };
    down.ipam = { ...down.ipam, etcd: { endpoints: [`http://${SERVICE_ADDRESS}:1`] }, timeoutMs: 1000 };
    const r = await cni(nodes.ipa, 'STATUS', down);
    expect(r.json, r.stdout).toMatchObject({ code: 50, msg: expect.stringContaining('does not answer') });
    expect(r.stderr).toBe('');
  });
});

describe('bridge + podvlan IPAM (host-local) on one node (docs "bridge-host-local")', () => {
  const node = 'one';
  const stateDir = stateDirOf(node);
  let list: Conflist;
  let conflist: string;
  let a: string;
  let b: string;
  let ipA: string;
  let ipB: string;
  let resultA: ReturnType<typeof parseResult>;

  beforeAll(() => {
    list = localized('bridge-host-local', node);
    conflist = writeConflist(node, list);
  });
  afterAll(async () => {
    // The bridge plugin makes the Linux bridge on first ADD and never removes it.
    await execa('ip', ['-n', info.netns, 'link', 'del', 'cni-lab'], { reject: false });
  });

  it("ADD: bridge's pods get podvlan leases with the pool's gateway and routes, and reach each other", async () => {
    a = await newNetns('a');
    b = await newNetns('b');
    resultA = parseResult(await runLibcni(info, 'add', call(node, conflist, 'lab-a', a)));
    const resultB = parseResult(await runLibcni(info, 'add', call(node, conflist, 'lab-b', b)));
    ipA = resultA.ips![0].address.split('/')[0];
    ipB = resultB.ips![0].address.split('/')[0];
    expect(resultA.ips![0]).toMatchObject({
      address: expect.stringMatching(/^10\.226\.1\.\d+\/24$/),
      gateway: '10.226.1.1',
    });
    expect(Number(ipA.split('.')[3])).toBeGreaterThanOrEqual(10); // rangeStart
    expect(ipB).not.toBe(ipA);
    // The bridge plugin installed the pool's route (its gw defaulting to the pool's gateway).
    expect((await execa('ip', ['-n', a, 'route', 'show', '10.226.0.0/16'])).stdout).toContain('via 10.226.1.1');
    expect(await netnsPing(a, ipB)).toBe(true);
    // podvlan's own lease files, under the CNI owner (namespace cni).
    expect(
      leaseFiles(stateDir)
        .map((l) => [l.network, l.address, l.namespace])
        .sort(),
    ).toEqual(
      [
        ['lab', ipA, 'cni'],
        ['lab', ipB, 'cni'],
      ].sort(),
    );
    const config = writeConfig(
      info,
      join(dir, node, 'cli'),
      [{ name: 'unused', bridge: 'unused_br', vlan: { id: 1 } }],
      {
        stateDir,
      },
    );
    const rows = (await ipamList(info, config)).filter((r) => r.network === 'lab');
    expect(rows.map((r) => [r.scope, r.address]).sort()).toEqual(
      [
        ['node', ipA],
        ['node', ipB],
      ].sort(),
    );
  });

  it('podvlan gc leaves the leases alone', async () => {
    const config = join(dir, node, 'cli', 'podvlan.yaml');
    const r = await runPlugin(info, ['gc'], { config });
    expect(r.exitCode, r.all).toBe(0);
    expect(leaseFiles(stateDir)).toHaveLength(2);
  });

  it('a repeated ADD gives the same address; CHECK through bridge passes', async () => {
    const again = await cni(info, 'ADD', asIpamCall(list), { containerId: 'lab-a', netns: `/run/netns/${a}` });
    expect(again.exitCode, again.stdout).toBe(0);
    // An IPAM result: ips, routes, dns; no interfaces (the main plugin makes them).
    expect(again.json).toEqual({
      cniVersion: '1.0.0',
      ips: [{ address: `${ipA}/24`, gateway: '10.226.1.1' }],
      routes: [{ dst: '10.226.0.0/16', gw: '10.226.1.1' }],
      dns: {},
    });
    expect(leaseFiles(stateDir)).toHaveLength(2);
    const check = await runLibcni(info, 'check', call(node, conflist, 'lab-a', a));
    expect(check, check.stdout).toMatchObject({ exitCode: 0, stdout: '' });
  });

  it('CHECK: 100 when prevResult names another address, 3 when the owner holds none', async () => {
    const prevResult = { cniVersion: '1.0.0', ips: [{ address: '10.226.1.200/24' }] };
    const other = await cni(
      info,
      'CHECK',
      { ...asIpamCall(list), prevResult },
      {
        containerId: 'lab-a',
        netns: `/run/netns/${a}`,
      },
    );
    expect(other.json, other.stdout).toMatchObject({ code: 100, msg: expect.stringContaining(ipA) });
    const none = await cni(info, 'CHECK', asIpamCall(list), { containerId: 'lab-none', netns: `/run/netns/${a}` });
    expect(none.json, none.stdout).toMatchObject({ code: 3 });
  });

  it('the result has the 0.4.0 shape for a 0.4.0 config', async () => {
    const r = await cni(
      info,
      'ADD',
      { ...asIpamCall(list), cniVersion: '0.4.0' },
      {
        containerId: 'lab-a',
        netns: `/run/netns/${a}`,
      },
    );
    expect(r.json).toMatchObject({ cniVersion: '0.4.0', ips: [{ version: '4', address: `${ipA}/24` }] });
  });

  it('bad ipam config is code 7 and takes nothing', async () => {
    const before = leaseFiles(stateDir).length;
    const p = list.plugins[0];
    const cases: [string, Record<string, unknown>][] = [
      ['unknown key', { ...p.ipam, bogus: 1 }],
      ['no pool', { ...p.ipam, pool: undefined }],
      ['invalid pool', { ...p.ipam, pool: { type: 'host-local', subnet: '10.226.1.0/33' } }],
    ];
    for (const [what, ipam] of cases) {
      const r = await cni(
        info,
        'ADD',
        { ...asIpamCall(list), ipam },
        { containerId: 'lab-bad', netns: `/run/netns/${a}` },
      );
      expect(r.json?.code, `${what}: ${r.stdout}`).toBe(7);
      expect(r.stderr).toBe('');
    }
    expect(leaseFiles(stateDir)).toHaveLength(before);
  });

  it('GC (as a main plugin passes it on) releases the leases the list does not name, and only those', async () => {
    const stale = await cni(info, 'ADD', asIpamCall(list), { containerId: 'lab-gc', netns: `/run/netns/${a}` });
    expect(stale.exitCode, stale.stdout).toBe(0);
    expect(leaseFiles(stateDir)).toHaveLength(3);
    const gcStdin = (valid?: { containerID: string; ifname: string }[]) => ({
      ...asIpamCall(list),
      cniVersion: '1.1.0',
      ...(valid ? { 'cni.dev/valid-attachments': valid } : {}),
    });
    const noList = await cni(info, 'GC', gcStdin(), { omit: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'] });
    expect(noList, noList.stdout).toMatchObject({ exitCode: 0, stdout: '' });
    expect(leaseFiles(stateDir)).toHaveLength(3);
    const valid = ['lab-a', 'lab-b'].map((id) => ({ containerID: id, ifname: 'eth0' }));
    const gc = await cni(info, 'GC', gcStdin(valid), { omit: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'] });
    expect(gc, gc.stdout).toMatchObject({ exitCode: 0, stdout: '' });
    expect(
      leaseFiles(stateDir)
        .map((l) => l.address)
        .sort(),
    ).toEqual([ipA, ipB].sort());
  });

  it('DEL through bridge frees the leases; twice succeeds', async () => {
    for (const [id, ns] of [
      ['lab-a', a],
      ['lab-b', b],
      ['lab-a', a],
    ]) {
      const r = await runLibcni(info, 'del', call(node, conflist, id, ns));
      expect(r, r.stdout).toMatchObject({ exitCode: 0, stdout: '' });
    }
    expect(leaseFiles(stateDir)).toEqual([]);
    expect(await netnsAddress(a, 'eth0')).toBe('');
  });
});
