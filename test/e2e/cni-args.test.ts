// What a CNI call asks for beyond the network config, through the spec-following caller on the
// sandbox's real OVS (and a real etcd for the VLAN pool): the VLAN from a pod annotation (CRI's
// runtimeConfig), a VLAN per Kubernetes namespace from the etcd pool and its release at DEL, a
// requested MAC and address (runtimeConfig, podman's CNI_ARGS, CRI's Go spellings) read back in the
// netns, refusals that leave nothing behind, match, and the Kubernetes names in `podvlan list`.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { cniOwner } from '../../src/cni/owner';
import { type EtcdServer, startEtcd } from '../integration/etcd-server';
import { addNetns, cni, cniGc, delNetns, netnsAddress, netnsPing } from '../support/cni';
import { audit } from '../support/consistency';
import { bridgePorts, hostVeths, ovsVsctl, portTag, runPlugin, stateFiles, writeConfig } from '../support/plugin';

const info = inject('sandbox');
const BRIDGE = 'args_br';
const dir = join(info.dir, 'cni-args');
const stateDir = join(dir, 'state');
const tag = dir.slice(-6).replace(/[^a-z0-9]/g, 'x');
const nsName = (n: string) => `cargs-${tag}-${n}`;
const made: string[] = [];
const ANN = 'io.kubernetes.cri.pod-annotations';
const PREFIX = '/cni-args';
let etcd: EtcdServer;

const pool = (extra: Record<string, unknown> = {}) => ({
  type: 'podvlan',
  pool: {
    type: 'host-local',
    subnet: '10.233.0.0/24',
    rangeStart: '10.233.0.10',
    rangeEnd: '10.233.0.99',
    gateway: '10.233.0.1',
    exclude: ['10.233.0.60'],
    ...extra,
  },
});
function netconf(name: string, extra: Record<string, unknown> = {}) {
  return {
    cniVersion: '1.0.0',
    name,
    type: 'podvlan',
    bridge: BRIDGE,
    datapathType: 'netdev',
    vlan: { id: 70 },
    ipam: pool(),
    ovsdb: info.ovsdb,
    stateDir,
    logFile: join(dir, 'podvlan.log'),
    nodeConfig: '/dev/null',
    ...extra,
  };
}
const byAnnotation = (annotations?: Record<string, string>, extra: Record<string, unknown> = {}) =>
  netconf('byann', {
    vlan: { fromAnnotation: 'podvlan.io/vlan', range: '20-40' },
    capabilities: { [ANN]: true },
    ...(annotations ? { runtimeConfig: { [ANN]: annotations } } : {}),
    ...extra,
  });
const criArgs = (ns: string, pod: string) =>
  `K8S_POD_NAMESPACE=${ns};K8S_POD_NAME=${pod};K8S_POD_INFRA_CONTAINER_ID=abc;K8S_POD_UID=u-${pod};IgnoreUnknown=1`;

async function netns(n: string): Promise<string> {
  made.push(nsName(n));
  return addNetns(nsName(n));
}
const add = (config: object, id: string, path: string, extra = {}) =>
  cni(info, 'ADD', config, { containerId: id, netns: path, ifname: 'eth0', ...extra });
const del = (config: object, id: string, path: string, extra = {}) =>
  cni(info, 'DEL', config, { containerId: id, netns: path, ifname: 'eth0', ...extra });
const check = (config: object, id: string, path: string, extra = {}) =>
  cni(info, 'CHECK', config, { containerId: id, netns: path, ifname: 'eth0', ...extra });
const ipOf = (r: { json?: Record<string, unknown> }) =>
  (r.json as { ips: { address: string }[] }).ips[0].address.split('/')[0];
const hostOf = (r: { json?: Record<string, unknown> }) =>
  (r.json as { interfaces: { name: string }[] }).interfaces[0].name;
const podMacOf = (r: { json?: Record<string, unknown> }) =>
  (r.json as { interfaces: { mac: string }[] }).interfaces[1].mac;

async function netnsMac(name: string, ifname: string): Promise<string> {
  const r = await execa('ip', ['-n', name, '-o', 'link', 'show', 'dev', ifname], { reject: false });
  return /link\/ether (\S+)/.exec(r.stdout)?.[1] ?? '';
}
async function etcdKeys(): Promise<string[]> {
  const { stdout } = await execa(
    'ip',
    ['netns', 'exec', info.netns, 'etcdctl', '--endpoints', etcd.url, 'get', '--prefix', '--keys-only', PREFIX],
    { env: { ETCDCTL_API: '3' } },
  );
  return stdout.split('\n').filter(Boolean);
}
/** What a refused ADD must not change: ports, veths, lease files. */
async function snapshot() {
  return { ports: await bridgePorts(info, BRIDGE), veths: await hostVeths(info), files: stateFiles(stateDir) };
}
const refused = (r: { exitCode: number; stderr: string; json?: Record<string, unknown> }, code: number) => {
  expect(r.exitCode, JSON.stringify(r.json)).toBe(1);
  expect(r.stderr).toBe('');
  expect(r.json?.code, JSON.stringify(r.json)).toBe(code);
};

describe('CNI calls: VLAN sources, requests, match, Kubernetes names', () => {
  beforeAll(async () => {
    mkdirSync(dir, { recursive: true });
    etcd = await startEtcd({ netns: info.netns });
  });
  afterAll(async () => {
    for (const n of made) await delNetns(n);
    await ovsVsctl(info, ['--if-exists', 'del-br', BRIDGE]);
    await etcd?.destroy();
  });

  it('vlan fromAnnotation: annotation 22 reaches another on 22, not one on 33', async () => {
    const [a, b, c] = [await netns('a'), await netns('b'), await netns('c')];
    const ra = await add(byAnnotation({ 'podvlan.io/vlan': '22', other: 'x' }), 'ann-a', a);
    expect(ra.exitCode, ra.stdout).toBe(0);
    const rb = await add(byAnnotation({ 'podvlan.io/vlan': '22' }), 'ann-b', b);
    expect(rb.exitCode, rb.stdout).toBe(0);
    const rc = await add(byAnnotation({ 'podvlan.io/vlan': '33' }), 'ann-c', c);
    expect(rc.exitCode, rc.stdout).toBe(0);
    expect(await portTag(info, hostOf(ra))).toBe('22');
    expect(await portTag(info, hostOf(rc))).toBe('33');
    expect(await netnsPing(nsName('a'), ipOf(rb))).toBe(true);
    expect(await netnsPing(nsName('c'), ipOf(ra))).toBe(false);
    // A repeated ADD with the same annotation changes nothing; DEL needs no annotations.
    const again = await add(byAnnotation({ 'podvlan.io/vlan': '22', other: 'x' }), 'ann-a', a);
    expect(again.json).toEqual(ra.json);
    // CHECK reads the tag from the call's annotations, as ADD did.
    const checked = await check({ ...byAnnotation({ 'podvlan.io/vlan': '22' }), prevResult: ra.json }, 'ann-a', a);
    expect(checked.exitCode, checked.stdout).toBe(0);
  });

  it('an annotation outside the range, missing, garbage, or not declared: 7, nothing left', async () => {
    const path = await netns('bad-ann');
    const before = await snapshot();
    const cases: (Record<string, string> | undefined)[] = [
      { 'podvlan.io/vlan': '41' },
      { other: '22' },
      { 'podvlan.io/vlan': 'twenty' },
      { 'podvlan.io/vlan': '0x16' }, // 22 to JavaScript's Number(): garbage all the same
      undefined,
    ];
    for (const annotations of cases) refused(await add(byAnnotation(annotations), 'ann-bad', path), 7);
    refused(await add(byAnnotation({ 'podvlan.io/vlan': '22' }, { capabilities: {} }), 'ann-bad', path), 7);
    expect(await snapshot()).toEqual(before);
    expect(await netnsAddress(nsName('bad-ann'), 'eth0')).toBe('');
  });

  it('vlan {pool, per: namespace}: one etcd tag per K8S_POD_NAMESPACE, released at the last DEL', async () => {
    const etcdConf = { endpoints: [etcd.url], prefix: PREFIX, timeoutMs: 2000 };
    // Addresses from etcd too: a request there is checked and taken by the etcd pool.
    const tenant = netconf('tenant', {
      vlan: { pool: '100-109', per: 'namespace' },
      ipam: {
        type: 'podvlan',
        pool: { type: 'etcd', subnet: '10.233.0.0/24', rangeStart: '10.233.0.100', exclude: ['10.233.0.120'] },
      },
      etcd: etcdConf,
      nodeName: 'n1',
    });
    const [p1, p2, p3] = [await netns('p1'), await netns('p2'), await netns('p3')];
    const r1 = await add(tenant, 'pool-1', p1, { args: criArgs('team-a', 'web-1') });
    expect(r1.exitCode, r1.stdout).toBe(0);
    const r2 = await add(tenant, 'pool-2', p2, { args: criArgs('team-a', 'web-2') });
    expect(r2.exitCode, r2.stdout).toBe(0);
    const r3 = await add(tenant, 'pool-3', p3, { args: criArgs('team-b', 'web-3') });
    expect(r3.exitCode, r3.stdout).toBe(0);
    const [t1, t2, t3] = [
      await portTag(info, hostOf(r1)),
      await portTag(info, hostOf(r2)),
      await portTag(info, hostOf(r3)),
    ];
    expect(t1).toBe(t2);
    expect(t3).not.toBe(t1);
    for (const t of [t1, t3]) expect(Number(t)).toBeGreaterThanOrEqual(100);
    expect(await netnsPing(nsName('p1'), ipOf(r2))).toBe(true);
    expect(await netnsPing(nsName('p3'), ipOf(r1))).toBe(false);
    // CHECK of a pool VLAN: the tag is etcd's to give, the rest of the attachment is compared.
    const checked = await check({ ...tenant, prevResult: r1.json }, 'pool-1', p1, { args: criArgs('team-a', 'web-1') });
    expect(checked.exitCode, checked.stdout).toBe(0);
    // A repeated ADD keeps the tag and the port row.
    const again = await add(tenant, 'pool-1', p1, { args: criArgs('team-a', 'web-1') });
    expect(again.json).toEqual(r1.json);
    // An ADD that fails after taking a new namespace's tag gives it back (the address is taken).
    const keysBeforeFail = await etcdKeys();
    const taken = { ...tenant, capabilities: { ips: true }, runtimeConfig: { ips: [ipOf(r1)] } };
    refused(await add(taken, 'pool-5', await netns('p5'), { args: criArgs('team-c', 'web-5') }), 101);
    for (const ask of ['10.233.0.50', '10.233.0.120'])
      refused(
        await add({ ...taken, runtimeConfig: { ips: [ask] } }, 'pool-5', `/var/run/netns/${nsName('p5')}`, {
          args: criArgs('team-c', 'web-5'),
        }),
        7,
      );
    expect(await etcdKeys()).toEqual(keysBeforeFail);
    // The member record names the CNI owner (as the port and lease do), under the namespace's holder.
    const keys = await etcdKeys();
    const o1 = cniOwner('pool-1', 'tenant', 'eth0');
    expect(keys).toContain(`${PREFIX}/vlan/tenant/member/team-a/${o1.ref.containerId}`);
    expect(keys).toContain(`${PREFIX}/vlan/tenant/by/team-a`);
    // No namespace: 4, nothing taken.
    const keysBefore = await etcdKeys();
    refused(await add(tenant, 'pool-4', await netns('p4'), { args: 'K8S_POD_NAME=web-4;IgnoreUnknown=1' }), 4);
    refused(await add(tenant, 'pool-4', `/var/run/netns/${nsName('p4')}`, { args: criArgs('Team_A', 'web-4') }), 4);
    expect(await etcdKeys()).toEqual(keysBefore);
    // DEL of one member keeps team-a's tag for the other; containerd's second DEL is blind (the
    // holder comes from the port's recorded names).
    expect((await del(tenant, 'pool-1', p1, { args: criArgs('team-a', 'web-1') })).exitCode).toBe(0);
    expect(await etcdKeys()).toContain(`${PREFIX}/vlan/tenant/by/team-a`);
    expect((await del(tenant, 'pool-2', '')).exitCode).toBe(0);
    expect((await etcdKeys()).filter((k) => k.includes('/team-a'))).toEqual([]);
    // An interrupted ADD (no port, so no recorded names) and a DEL with no CNI_ARGS: found by scan.
    await ovsVsctl(info, ['del-port', BRIDGE, hostOf(r3)]);
    expect((await del(tenant, 'pool-3', '')).exitCode).toBe(0);
    expect(await etcdKeys()).toEqual([]);
  });

  it('a repeated ADD that fails keeps the pooled VLAN its live port carries', async () => {
    const etcdConf = { endpoints: [etcd.url], prefix: PREFIX, timeoutMs: 2000 };
    const tenant = netconf('tenant', {
      vlan: { pool: '100-109', per: 'namespace' },
      etcd: etcdConf,
      nodeName: 'n1',
      capabilities: { ips: true },
    });
    const path = await netns('keep');
    const first = await add({ ...tenant, runtimeConfig: { ips: ['10.233.0.70'] } }, 'keep-1', path, {
      args: criArgs('team-k', 'web-1'),
    });
    expect(first.exitCode, first.stdout).toBe(0);
    const before = await etcdKeys();
    expect(before).toContain(`${PREFIX}/vlan/tenant/by/team-k`);
    // Another address asked of the working attachment: refused, and team-k's tag stays its port's.
    refused(
      await add({ ...tenant, runtimeConfig: { ips: ['10.233.0.71'] } }, 'keep-1', path, {
        args: criArgs('team-k', 'web-1'),
      }),
      101,
    );
    expect(await etcdKeys()).toEqual(before);
    expect((await del(tenant, 'keep-1', path, { args: criArgs('team-k', 'web-1') })).exitCode).toBe(0);
    expect((await etcdKeys()).filter((k) => k.includes('/team-k'))).toEqual([]);
  });

  it("a pooled VLAN leaves etcd with its attachment when GC or podvlan gc removes it (the holder is the pod's namespace)", async () => {
    const etcdConf = { endpoints: [etcd.url], prefix: PREFIX, timeoutMs: 2000 };
    const tenant = netconf('tenant', { vlan: { pool: '100-109', per: 'namespace' }, etcd: etcdConf, nodeName: 'n1' });
    const [g1, g2] = [await netns('g1'), await netns('g2')];
    expect((await add(tenant, 'gcv-1', g1, { args: criArgs('team-g', 'web-1') })).exitCode).toBe(0);
    expect((await add(tenant, 'gcv-2', g2, { args: criArgs('team-h', 'web-2') })).exitCode).toBe(0);
    expect(await etcdKeys()).toContain(`${PREFIX}/vlan/tenant/by/team-g`);
    // CNI GC listing only gcv-2: gcv-1 goes, and with it team-g's tag.
    const gc = await cniGc(info, tenant, [{ containerID: 'gcv-2', ifname: 'eth0' }]);
    expect(gc.exitCode, gc.stdout).toBe(0);
    expect((await etcdKeys()).filter((k) => k.includes('/team-g'))).toEqual([]);
    // podvlan gc, with the same etcd, once gcv-2's netns is gone: team-h's tag goes with its port.
    await delNetns(nsName('g2'));
    const config = writeConfig(info, join(dir, 'gcv'), [{ name: 'other', bridge: BRIDGE, vlan: { id: 9 } }], {
      stateDir,
      etcd: etcdConf,
      nodeName: 'n1',
    });
    let left: string[] = [];
    // The kernel frees a namespace asynchronously: gc keeps the port until nothing holds it.
    for (let i = 0; i < 50; i++) {
      const r = await runPlugin(info, ['gc'], { config });
      expect(r.exitCode, r.all).toBe(0);
      left = (await etcdKeys()).filter((k) => k.includes('/team-h'));
      if (left.length === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(left).toEqual([]);
    expect(await etcdKeys()).toEqual([]);
  });

  it('runtimeConfig mac and ips (declared): the pod interface has that MAC and exactly that address', async () => {
    const path = await netns('req');
    const conf = netconf('req', {
      capabilities: { mac: true, ips: true },
      runtimeConfig: { mac: '02:aa:bb:cc:dd:01', ips: ['10.233.0.42/24'] },
    });
    const r = await add(conf, 'req-1', path);
    expect(r.exitCode, r.stdout).toBe(0);
    expect(await netnsMac(nsName('req'), 'eth0')).toBe('02:aa:bb:cc:dd:01');
    expect(await netnsAddress(nsName('req'), 'eth0')).toBe('10.233.0.42/24');
    expect(podMacOf(r)).toBe('02:aa:bb:cc:dd:01');
    expect(ipOf(r)).toBe('10.233.0.42');
    // Not declared: the same runtimeConfig is not the plugin's to read (CONVENTIONS.md).
    const plain = await netns('req-plain');
    const rp = await add(
      netconf('req', { runtimeConfig: { mac: '02:aa:bb:cc:dd:02', ips: ['10.233.0.43'] } }),
      'req-plain',
      plain,
    );
    expect(rp.exitCode, rp.stdout).toBe(0);
    expect(ipOf(rp)).not.toBe('10.233.0.43');
    expect(await netnsMac(nsName('req-plain'), 'eth0')).not.toBe('02:aa:bb:cc:dd:02');
    // The same owner asking for another MAC: a repeated ADD that re-attaches, not the old answer.
    const conf2 = { ...conf, runtimeConfig: { mac: '02:aa:bb:cc:dd:05', ips: ['10.233.0.42'] } };
    const r2 = await add(conf2, 'req-1', path);
    expect(r2.exitCode, r2.stdout).toBe(0);
    expect(await netnsMac(nsName('req'), 'eth0')).toBe('02:aa:bb:cc:dd:05');
    expect(await netnsAddress(nsName('req'), 'eth0')).toBe('10.233.0.42/24');
    // Another address asked of the working attachment: 101, and the attachment stays as it was.
    refused(await add({ ...conf, runtimeConfig: { ips: ['10.233.0.44'] } }, 'req-1', path), 101);
    expect(await netnsAddress(nsName('req'), 'eth0')).toBe('10.233.0.42/24');
    expect(await hostVeths(info)).toContain(hostOf(r2));
  });

  it('a requested address outside the pool, the gateway, or taken by another: refused, nothing left', async () => {
    const path = await netns('req-bad');
    const before = await snapshot();
    const ask = (ips: string[], mac?: string) =>
      netconf('req', { capabilities: { mac: true, ips: true }, runtimeConfig: { ips, ...(mac ? { mac } : {}) } });
    refused(await add(ask(['10.233.0.150']), 'req-bad', path), 7); // outside rangeEnd
    refused(await add(ask(['10.99.0.5']), 'req-bad', path), 7); // another subnet
    refused(await add(ask(['10.233.0.1']), 'req-bad', path), 7); // the gateway
    refused(await add(ask(['10.233.0.60']), 'req-bad', path), 7); // excluded
    refused(await add(ask(['10.233.0.42/16']), 'req-bad', path), 7);
    refused(await add(ask(['10.233.0.42']), 'req-bad', path), 101); // req-1 holds it
    refused(await add(ask(['10.233.0.44'], '01:00:5e:00:00:01'), 'req-bad', path), 7); // multicast MAC
    const noIpam = { ...netconf('req'), ipam: undefined };
    refused(await add(noIpam, 'req-bad', path, { args: 'IP=10.233.0.44' }), 7); // no pool to take it from
    expect(await snapshot()).toEqual(before);
    expect(await netnsAddress(nsName('req-bad'), 'eth0')).toBe('');
  });

  it("podman's CNI_ARGS MAC= and IP=, and CRI's Go spellings Mac and IPs", async () => {
    const pm = await netns('podman');
    const args = 'IgnoreUnknown=1;K8S_POD_NAME=web;MAC=02:aa:bb:cc:dd:03;IP=10.233.0.50';
    const r = await add(netconf('req'), 'podman-1', pm, { args });
    expect(r.exitCode, r.stdout).toBe(0);
    expect(await netnsMac(nsName('podman'), 'eth0')).toBe('02:aa:bb:cc:dd:03');
    expect(await netnsAddress(nsName('podman'), 'eth0')).toBe('10.233.0.50/24');
    // podman network reload: DEL, then ADD with MAC=<previous> and runtimeConfig.ips.
    expect((await del(netconf('req'), 'podman-1', pm, { args })).exitCode).toBe(0);
    const reload = netconf('req', { capabilities: { ips: true }, runtimeConfig: { ips: ['10.233.0.50'] } });
    const r2 = await add(reload, 'podman-1', pm, { args: 'IgnoreUnknown=1;K8S_POD_NAME=web;MAC=02:aa:bb:cc:dd:03' });
    expect(r2.exitCode, r2.stdout).toBe(0);
    expect(await netnsMac(nsName('podman'), 'eth0')).toBe('02:aa:bb:cc:dd:03');
    expect(await netnsAddress(nsName('podman'), 'eth0')).toBe('10.233.0.50/24');
    // A bad MAC= is the environment's fault: 4.
    refused(await add(netconf('req'), 'podman-2', await netns('podman-2'), { args: 'MAC=02:aa' }), 4);
    const cri = await netns('cri');
    const rc = await add(
      netconf('req', {
        capabilities: { mac: true, ips: true },
        runtimeConfig: { Mac: '02:aa:bb:cc:dd:04', IPs: ['10.233.0.51'] },
      }),
      'cri-1',
      cri,
    );
    expect(rc.exitCode, rc.stdout).toBe(0);
    expect(await netnsMac(nsName('cri'), 'eth0')).toBe('02:aa:bb:cc:dd:04');
    expect(await netnsAddress(nsName('cri'), 'eth0')).toBe('10.233.0.51/24');
  });

  it('match selects pods by K8S_POD_NAMESPACE and K8S_POD_NAME; any other ADD is refused with 7', async () => {
    const path = await netns('match');
    const conf = netconf('matched', { vlan: { id: 71 }, match: { namespace: '^team-', podName: '^web-' } });
    const before = await snapshot();
    refused(await add(conf, 'match-1', path, { args: criArgs('prod', 'web-1') }), 7);
    refused(await add(conf, 'match-1', path, { args: criArgs('team-a', 'db-1') }), 7);
    refused(await add(conf, 'match-1', path), 4);
    expect(await snapshot()).toEqual(before);
    const ok = await add(conf, 'match-1', path, { args: criArgs('team-a', 'web-9') });
    expect(ok.exitCode, ok.stdout).toBe(0);
  });

  it('podvlan list shows the Kubernetes names of CNI attachments (table and JSON)', async () => {
    const config = writeConfig(info, join(dir, 'list'), [{ name: 'matched', bridge: BRIDGE, vlan: { id: 71 } }], {
      stateDir,
    });
    const port = cniOwner('match-1', 'matched', 'eth0').port;
    const ids = await ovsVsctl(info, ['get', 'Port', port, 'external_ids']);
    expect(ids).toContain('"podvlan/k8sNamespace"=team-a');
    expect(ids).toContain('"podvlan/k8sPod"=web-9');
    const json = await runPlugin(info, ['list', '--output', 'json'], { config });
    expect(json.exitCode, json.all).toBe(0);
    const rows = JSON.parse(json.stdout) as { port: string; k8sNamespace?: string; k8sPod?: string }[];
    expect(rows.find((r) => r.port === port)).toMatchObject({ k8sNamespace: 'team-a', k8sPod: 'web-9' });
    // No names given (ctr, cnitool): none shown.
    expect(rows.find((r) => r.port === cniOwner('req-1', 'req', 'eth0').port)?.k8sNamespace).toBeUndefined();
    const table = await runPlugin(info, ['list'], { config });
    const line = table.stdout.split('\n').find((l) => l.includes(port)) ?? '';
    expect(line).toMatch(/^team-a\s+web-9\s+cni:match-1\s/);
  });

  it('a network that takes nothing from etcd adds and deletes while the etcd of the node config is down', async () => {
    const path = await netns('noetcd');
    const down = { endpoints: ['http://127.0.0.1:9'], prefix: PREFIX, timeoutMs: 500 };
    const conf = netconf('noetcd', { ipam: undefined, etcd: down, nodeName: 'n1' });
    const added = await add(conf, 'noetcd-1', path);
    expect(added.exitCode, added.stdout).toBe(0);
    for (const netns of [path, '']) {
      const r = await del(conf, 'noetcd-1', netns);
      expect(r.exitCode, r.stdout).toBe(0);
    }
    expect(await hostVeths(info)).not.toContain(hostOf(added));
  });

  it('DEL of everything leaves nothing behind', async () => {
    const calls: [object, string][] = [
      [byAnnotation(), 'ann-a'],
      [byAnnotation(), 'ann-b'],
      [byAnnotation(), 'ann-c'],
      [netconf('req'), 'req-1'],
      [netconf('req'), 'req-plain'],
      [netconf('req'), 'podman-1'],
      [netconf('req'), 'cri-1'],
      [netconf('matched', { vlan: { id: 71 } }), 'match-1'],
    ];
    for (const [conf, id] of calls) expect((await del(conf, id, '')).exitCode, id).toBe(0);
    expect(await bridgePorts(info, BRIDGE)).toEqual([]);
    expect(stateFiles(stateDir)).toEqual([]);
    expect(await audit(info, stateDir, [BRIDGE])).toEqual([]);
  });
});
