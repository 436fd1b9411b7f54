// The etcd IPv6 pool across two simulated nodes sharing one real etcd (issue 13): 3 waves of 40
// concurrent pod setups, 20 on each node per wave, every pod kept, so the last wave races over
// a pool that already holds 80. Each setup is a real CNI ADD through Debian's libcni: the
// reference `bridge` plugin makes the pod's eth0 and runs the built podvlan as its IPAM plugin
// (`"ipam": {"type": "podvlan", "pool": {"type": "etcd", "subnet": "fd00:e6::/64"}}`), so the
// IPv6 address on each pod is one podvlan took from etcd. (An exec `setup` on an OVS port
// needs the IPv6 pod side of the core and veth work, h-core6/h-veth6, not on this branch: the
// exec path is then the same pool call.) Then `podvlan ipam list` on either node, a CNI GC
// freeing what one node's list leaves out, a tiny IPv6 range exhausted through the executable,
// and DEL everywhere leaving etcd empty.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type EtcdServer, startEtcd } from '../integration/etcd-server';
import { cni, cniGc, delNetns } from '../support/cni';
import { DEBIAN_CNI_DIR, type LibcniCall, parseResult, runLibcni } from '../support/libcni';
import { type NodeInfo, SERVICE_ADDRESS, startNodes } from '../support/node';
import { BINARY, runPlugin, writeConfig } from '../support/plugin';

const info = inject('sandbox');
const dir = join(info.dir, 'cluster6');
const binDir = join(dir, 'bin');
const NODES = ['e6a', 'e6b'] as const;
type Node = (typeof NODES)[number];
const PREFIX = '/podvlan-e2e-etcd6';
const SUBNET = 'fd00:e6::/64';
const WAVES = 3;
const PER_WAVE = 40;

let etcd: EtcdServer;
const nodes = {} as Record<Node, NodeInfo>;
const conflists = {} as Record<Node, string>;
const configs = {} as Record<Node, string>;
const stateDirOf = (n: Node) => join(dir, n, 'state');
const namespaces: string[] = [];

function conflist(n: Node, pool: object, name = 'tenant6'): string {
  const list = {
    cniVersion: '1.0.0',
    name,
    plugins: [
      {
        type: 'bridge',
        bridge: `br-${n}`,
        isGateway: false,
        ipam: {
          type: 'podvlan',
          pool,
          etcd: { endpoints: [etcd.url], prefix: PREFIX },
          nodeName: `node-${n}`,
          stateDir: stateDirOf(n),
          logFile: join(dir, n, 'podvlan.log'),
          nodeConfig: '/dev/null', // this machine's /etc/podvlan must not leak in
        },
      },
    ],
  };
  mkdirSync(join(dir, n), { recursive: true });
  const path = join(dir, n, `${name}.conflist`);
  writeFileSync(path, JSON.stringify(list, null, 2));
  return path;
}
const call = (n: Node, list: string, containerId: string, netns: string): LibcniCall => ({
  conflist: list,
  containerId,
  netns: `/run/netns/${netns}`,
  pluginDirs: [binDir, DEBIAN_CNI_DIR],
  cacheDir: join(dir, n, 'cni-cache'),
});
async function newNetns(tag: string): Promise<string> {
  const name = `pv6-${tag}-${randomBytes(3).toString('hex')}`;
  await execa('ip', ['netns', 'add', name]);
  await execa('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  namespaces.push(name);
  return name;
}
/** The global IPv6 addresses of eth0 in a pod, with their flags (tentative, dadfailed). */
async function podAddresses(netns: string): Promise<string[]> {
  const r = await execa('ip', ['-n', netns, '-6', '-o', 'addr', 'show', 'dev', 'eth0', 'scope', 'global'], {
    reject: false, // no eth0 (after DEL): no address
  });
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => /inet6 (\S+)(.*)$/.exec(l)!)
    .map((m) => `${m[1]}${/tentative|dadfailed/.test(m[2]) ? ' (not usable)' : ''}`);
}
interface Row {
  scope: string;
  network: string;
  address: string;
  namespace: string;
  node?: string;
}
async function ipamList(n: Node): Promise<Row[]> {
  const r = await runPlugin(nodes[n], ['ipam', 'list', '--output', 'json'], { config: configs[n] });
  expect(r.exitCode, r.all).toBe(0);
  return (JSON.parse(r.stdout) as { addresses: Row[] }).addresses;
}
async function etcdKeys(): Promise<string[]> {
  const { stdout } = await execa(
    'ip',
    ['netns', 'exec', info.netns, 'etcdctl', '--endpoints', etcd.url, 'get', '--prefix', '--keys-only', PREFIX],
    { env: { ETCDCTL_API: '3' } },
  );
  return stdout.split('\n').filter(Boolean);
}

describe('an etcd IPv6 pool on two nodes: 3 waves of 40 concurrent setups', () => {
  const pods: { node: Node; id: string; ns: string; address?: string }[] = [];

  beforeAll(async () => {
    mkdirSync(binDir, { recursive: true });
    symlinkSync(BINARY, join(binDir, 'podvlan'));
    const [started, list] = await Promise.all([
      startEtcd({ netns: info.netns, host: SERVICE_ADDRESS }),
      startNodes(info, [...NODES]),
    ]);
    etcd = started;
    for (const n of list) nodes[n.name as Node] = n;
    for (const n of NODES) {
      conflists[n] = conflist(n, { type: 'etcd', subnet: SUBNET, gateway: 'fd00:e6::1' });
      // For `podvlan ipam list` on the node: the same etcd (its own networks are not the CNI ones).
      configs[n] = writeConfig(
        nodes[n],
        join(dir, n, 'cli'),
        [{ name: 'unused', bridge: 'unused_br', vlan: { id: 1 } }],
        {
          stateDir: stateDirOf(n),
          etcd: { endpoints: [etcd.url], prefix: PREFIX },
          nodeName: `node-${n}`,
        },
      );
    }
    for (let i = 0; i < WAVES * PER_WAVE; i++) {
      const node = NODES[i % 2];
      pods.push({ node, id: `${node}-pod-${i}`, ns: await newNetns(`${i}`) });
    }
  });
  afterAll(async () => {
    for (const ns of namespaces) await delNetns(ns);
    await Promise.all(NODES.map((n) => nodes[n]?.stop()));
    await etcd?.destroy();
  });

  it('every pod an IPv6 address of the /64, none twice, each on the pod and usable', async () => {
    for (let w = 0; w < WAVES; w++) {
      const wave = pods.slice(w * PER_WAVE, (w + 1) * PER_WAVE);
      const started = performance.now();
      const runs = await Promise.all(
        wave.map((p) => runLibcni(nodes[p.node], 'add', call(p.node, conflists[p.node], p.id, p.ns))),
      );
      console.log(
        `wave ${w + 1}: ${PER_WAVE} concurrent ADDs on 2 nodes in ${Math.round(performance.now() - started)} ms`,
      );
      runs.forEach((r, i) => {
        const [ip] = parseResult(r).ips!;
        expect(ip.gateway).toBe('fd00:e6::1');
        wave[i].address = ip.address;
      });
    }
    const addresses = pods.map((p) => p.address!);
    expect(new Set(addresses).size).toBe(WAVES * PER_WAVE);
    for (const a of addresses) expect(a).toMatch(/^fd00:e6::[0-9a-f:]+\/64$/);
    expect(addresses).not.toContain('fd00:e6::1/64');
    // What etcd holds is what the pods have: one ip key and one owner6 key per pod.
    const keys = await etcdKeys();
    expect(keys.filter((k) => k.includes('/ip/')).sort()).toEqual(
      addresses.map((a) => `${PREFIX}/ipam/tenant6/ip/${a.split('/')[0]}`).sort(),
    );
    expect(keys.filter((k) => k.includes('/owner6/'))).toHaveLength(WAVES * PER_WAVE);
    expect(keys.filter((k) => k.includes('/owner/'))).toEqual([]);
    for (const p of [pods[0], pods[1], pods[pods.length - 1]]) expect(await podAddresses(p.ns)).toEqual([p.address]);
    const ping = await execa(
      'ip',
      ['netns', 'exec', pods[0].ns, 'ping', '-6', '-c', '2', '-W', '2', pods[2].address!.split('/')[0]],
      {
        reject: false,
      },
    );
    expect(ping.exitCode, ping.stdout).toBe(0); // two pods of node e6a, over its bridge
  });

  it('podvlan ipam list on either node shows all 120, with the node that took each', async () => {
    for (const n of NODES) {
      const rows = (await ipamList(n)).filter((r) => r.network === 'tenant6');
      expect(rows).toHaveLength(WAVES * PER_WAVE);
      expect(rows.every((r) => r.scope === 'cluster')).toBe(true);
      expect(rows.filter((r) => r.node === `node-${n}`)).toHaveLength((WAVES * PER_WAVE) / 2);
      expect(new Set(rows.map((r) => r.address)).size).toBe(WAVES * PER_WAVE);
    }
  });

  it("CNI GC on one node frees that node's IPv6 addresses its list does not name, and only those", async () => {
    const mine = pods.filter((p) => p.node === 'e6a');
    const [gone1, gone2] = mine;
    const valid = mine.slice(2).map((p) => ({ containerID: p.id, ifname: 'eth0' }));
    const conf = {
      cniVersion: '1.1.0',
      name: 'tenant6',
      ...JSON.parse(readFileSync(conflists.e6a, 'utf8')).plugins[0],
    };
    const r = await cniGc(nodes.e6a, conf, valid);
    expect(r, r.stdout).toMatchObject({ exitCode: 0, stdout: '' });
    const held = (await etcdKeys()).filter((k) => k.includes('/ip/')).map((k) => k.split('/ip/')[1]);
    expect(held).toHaveLength(WAVES * PER_WAVE - 2);
    for (const p of [gone1, gone2]) expect(held).not.toContain(p.address!.split('/')[0]);
    expect((await ipamList('e6b')).filter((x) => x.node === 'node-e6b')).toHaveLength((WAVES * PER_WAVE) / 2);
  });

  it('a tiny IPv6 range hands out its last free address, then refuses in one line', async () => {
    const tiny = conflist(
      'e6a',
      { type: 'etcd', subnet: 'fd00:e6:1::/64', rangeStart: 'fd00:e6:1::10', rangeEnd: 'fd00:e6:1::12' },
      'tiny6',
    );
    const conf = { cniVersion: '1.0.0', name: 'tiny6', ...JSON.parse(readFileSync(tiny, 'utf8')).plugins[0] };
    const netns = `/run/netns/${await newNetns('tiny')}`; // the IPAM plugin takes no action in it
    const runs = await Promise.all(
      ['t1', 't2', 't3', 't4', 't5'].map((id) => cni(nodes.e6a, 'ADD', conf, { containerId: id, netns })),
    );
    const got = runs.filter((r) => r.exitCode === 0).map((r) => (r.json!.ips as { address: string }[])[0].address);
    expect(got.sort()).toEqual(['fd00:e6:1::10/64', 'fd00:e6:1::11/64', 'fd00:e6:1::12/64']);
    const refused = runs.filter((r) => r.exitCode !== 0);
    expect(refused).toHaveLength(2);
    for (const r of refused)
      expect(r.json).toMatchObject({ msg: 'address range fd00:e6:1::10-fd00:e6:1::12 of network tiny6 is exhausted' });
    for (const id of ['t1', 't2', 't3', 't4', 't5'])
      expect((await cni(nodes.e6a, 'DEL', conf, { containerId: id, netns })).exitCode).toBe(0);
    expect((await etcdKeys()).filter((k) => k.includes('/tiny6/'))).toEqual([]);
  });

  it('concurrent DELs on both nodes free every address and leave etcd empty', async () => {
    const runs = await Promise.all(
      pods.map((p) => runLibcni(nodes[p.node], 'del', call(p.node, conflists[p.node], p.id, p.ns))),
    );
    for (const r of runs) expect(r, r.stderr).toMatchObject({ exitCode: 0 });
    expect(await etcdKeys()).toEqual([]);
    expect(await podAddresses(pods[0].ns)).toEqual([]);
  });
});
