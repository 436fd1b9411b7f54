// Dual-stack pods (issue 13) in exec mode, on real OVS and Docker (`--net=none` containers), the
// way a kubelet calls podvlan: a network whose `ipam` is an IPv4 and an IPv6 pool gives each pod
// both addresses (neither tentative), `ping -6` crosses the VLAN and not to another VLAN, `list`
// shows both, status gives the kubelet the IPv4 (the IPv6 on an IPv6-only primary network),
// teardown frees both leases, and a second family's pool that is exhausted rolls back the first
// family's lease: nothing is left of the failed setup.
import { execa } from 'execa';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DEBIAN_CNI_DIR, type LibcniCall, parseResult, runLibcni } from '../support/libcni';
import {
  BINARY,
  bridgePorts,
  ovsVsctl,
  hostVeths,
  parseKubeletStatus,
  portTag,
  runPlugin,
  stateFiles,
  teardownAll,
  writeConfig,
} from '../support/plugin';
import { docker, IMAGE, podExec } from '../support/sandbox';

const info = inject('sandbox');
const dir = join(info.dir, 'dual-stack');
const dir6 = join(info.dir, 'dual-stack-v6only');
const BRIDGE = 'ds_br';
const BRIDGE6 = 'ds6_br';

const config = writeConfig(info, dir, [
  {
    name: 'dual',
    bridge: BRIDGE,
    datapathType: 'netdev',
    primary: true,
    match: { namespace: '^ds$' },
    vlan: { fromPodName: '^(\\d+)-' },
    ipam: [
      { type: 'host-local', subnet: '10.196.0.0/24', gateway: '10.196.0.1' },
      { type: 'host-local', subnet: 'fd00:c6::/64', gateway: 'fd00:c6::1', routes: [{ dst: 'fd00:c600::/32' }] },
    ],
  },
  {
    // One IPv6 address in all: the second pod's IPv6 lease fails after its IPv4 one was taken.
    name: 'tiny',
    bridge: BRIDGE,
    datapathType: 'netdev',
    match: { namespace: '^tiny$' },
    vlan: { id: 60 },
    ipam: [
      { type: 'host-local', subnet: '10.197.0.0/24' },
      { type: 'host-local', subnet: 'fd00:c9::/64', rangeStart: 'fd00:c9::10', rangeEnd: 'fd00:c9::10' },
    ],
  },
]);
const config6 = writeConfig(info, dir6, [
  {
    name: 'only6',
    bridge: BRIDGE6,
    datapathType: 'netdev',
    primary: true,
    vlan: { id: 70 },
    ipam: { type: 'host-local', subnet: 'fd00:c7::/64', gateway: 'fd00:c7::1' },
  },
]);
const run = (...args: string[]) => runPlugin(info, args, { config });
/** What the docs quote, written under PODVLAN_DOC_OUT when it is set. */
const docOut = (name: string, text: string) => {
  if (process.env.PODVLAN_DOC_OUT) writeFileSync(join(process.env.PODVLAN_DOC_OUT, name), text);
};
// Docker 28 turns IPv6 off in a --net=none container's namespace (net.ipv6.conf.default.disable_ipv6
// = 1), and an interface made there inherits it: the pods here keep Docker's default, so podvlan must
// turn IPv6 on for its own pod end (and only it: the pod's lo stays as Docker left it).
async function startContainer(_info: typeof info): Promise<string> {
  return (await docker(info, ['run', '-d', '--net=none', IMAGE, 'sleep', '3600'])).stdout.trim();
}
const run6 = (...args: string[]) => runPlugin(info, args, { config: config6 });

/** The pod interface's global addresses, with their flags (tentative, dadfailed) if any. */
async function podAddresses(id: string, ifname: string): Promise<{ local: string; flags: string[] }[]> {
  const r = await podExec(info, id, ['ip', '-o', 'addr', 'show', 'dev', ifname, 'scope', 'global']);
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const m = /inet6? (\S+) (.*)$/.exec(l)!;
      return { local: m[1], flags: m[2].split(/\s+/).filter((w) => ['tentative', 'dadfailed'].includes(w)) };
    });
}
const ping6 = async (from: string, to: string) =>
  (await podExec(info, from, ['ping', '-6', '-c', '2', '-W', '1', to])).exitCode === 0;
const listJson = async (cfg = config) =>
  JSON.parse((await runPlugin(info, ['list', '-o', 'json'], { config: cfg })).stdout) as {
    pod: string;
    ips: string[];
    ip?: string;
    mac: string;
  }[];

describe('dual-stack pods in exec mode', () => {
  const pods: Record<string, string> = {};
  beforeAll(async () => {
    expect((await run('init')).exitCode).toBe(0);
    expect((await run6('init')).exitCode).toBe(0);
    for (const name of ['22-a', '22-b', '33-c', 'v6', 't1', 't2']) pods[name] = await startContainer(info);
  });
  afterAll(async () => {
    await teardownAll(info, config, [BRIDGE]);
    await teardownAll(info, config6, [BRIDGE6]);
  });

  it('gives each pod an IPv4 and an IPv6 address of its network, neither tentative, and routes of both', async () => {
    for (const pod of ['22-a', '22-b', '33-c']) {
      const r = await run('setup', 'ds', pod, pods[pod]);
      expect(r.exitCode, r.all).toBe(0);
      docOut(`setup-${pod}.txt`, r.all);
      expect(r.all).toMatch(/eth1 10\.196\.0\.\d+\/24,fd00:c6::[0-9a-f]+\/64 vlan \d+/);
    }
    const a = await podAddresses(pods['22-a'], 'eth1');
    expect(a.map((x) => x.local)).toEqual(['10.196.0.2/24', 'fd00:c6::2/64']);
    expect(a.flatMap((x) => x.flags)).toEqual([]);
    const routes = (await podExec(info, pods['22-a'], ['ip', '-6', 'route', 'show', 'dev', 'eth1'])).stdout;
    expect(routes).toMatch(/fd00:c600::\/32 via fd00:c6::1/);
    // Docker turned IPv6 off in the namespace; podvlan turned it on for its own eth1 only.
    const sysctl = async (key: string) =>
      (await podExec(info, pods['22-a'], ['cat', `/proc/sys/net/ipv6/conf/${key}/disable_ipv6`])).stdout.trim();
    expect([await sysctl('default'), await sysctl('lo'), await sysctl('eth1')]).toEqual(['1', '1', '0']);
    const ports = await bridgePorts(info, BRIDGE);
    expect(ports).toHaveLength(3);
    expect((await Promise.all(ports.map((p) => portTag(info, p)))).sort()).toEqual(['22', '22', '33']);
  });

  it('ping -6 crosses the VLAN and does not reach another VLAN', async () => {
    expect(await ping6(pods['22-a'], 'fd00:c6::3')).toBe(true); // 22-b
    expect(await ping6(pods['22-b'], 'fd00:c6::2')).toBe(true);
    expect(await ping6(pods['22-a'], 'fd00:c6::4')).toBe(false); // 33-c, VLAN 33
    expect(await ping6(pods['33-c'], 'fd00:c6::2')).toBe(false);
  });

  it('list shows both addresses; the MAC is still the IPv4 one', async () => {
    const rows = await listJson();
    const a = rows.find((x) => x.pod === '22-a')!;
    expect(a.ips).toEqual(['10.196.0.2/24', 'fd00:c6::2/64']);
    expect(a.ip).toBe('10.196.0.2/24');
    expect(a.mac).toBe('0a:58:0a:c4:00:02');
    const table = (await run('list')).stdout;
    expect(table).toMatch(/22-a .* 10\.196\.0\.2\/24,fd00:c6::2\/64 +ok/);
    docOut('list.txt', table);
  });

  it('status gives the kubelet the IPv4 address of the primary network', async () => {
    const r = await run('status', 'ds', '22-a', pods['22-a']);
    expect(r.exitCode).toBe(0);
    expect(parseKubeletStatus(r.all)).toEqual({ ip: '10.196.0.2' });
  });

  it('on an IPv6-only primary network, status gives its IPv6 address; the MAC comes from it', async () => {
    const r = await run6('setup', 'ds', 'v6', pods.v6);
    expect(r.exitCode, r.all).toBe(0);
    expect(parseKubeletStatus((await run6('status', 'ds', 'v6', pods.v6)).all)).toEqual({ ip: 'fd00:c7::2' });
    const row = (await listJson(config6)).find((x) => x.pod === 'v6')!;
    expect(row).toMatchObject({ ips: ['fd00:c7::2/64'], mac: '0a:5a:00:00:00:02' });
    expect((await podExec(info, pods.v6, ['cat', '/sys/class/net/eth1/address'])).stdout.trim()).toBe(row.mac);
    // Usable at once: not tentative. (Not pinged: a ping to its own address goes through lo, where
    // Docker left IPv6 off; podvlan changes only its own interface.)
    expect(await podAddresses(pods.v6, 'eth1')).toEqual([{ local: 'fd00:c7::2/64', flags: [] }]);
  });

  it('a failure of the second family (IPv6 pool exhausted) rolls back the first: nothing is left', async () => {
    const first = await run('setup', 'tiny', 't1', pods.t1);
    expect(first.exitCode, first.all).toBe(0);
    const before = stateFiles(join(dir, 'state'));
    const second = await run('setup', 'tiny', 't2', pods.t2);
    docOut('exhausted.txt', second.all);
    expect(second.exitCode, second.all).toBe(6);
    expect(second.all).toMatch(/tiny/);
    // No IPv4 lease, port, veth or record of t2: the state is what it was after t1.
    expect(stateFiles(join(dir, 'state'))).toEqual(before);
    expect((await listJson()).map((x) => x.pod)).not.toContain('t2');
    expect((await podExec(info, pods.t2, ['ip', 'link'])).stdout).not.toMatch(/eth1/);
    expect((await run('teardown', 'tiny', 't1', pods.t1)).exitCode).toBe(0);
    // The freed address goes to the next pod, its IPv4 lease with it.
    const again = await run('setup', 'tiny', 't2', pods.t2);
    expect(again.exitCode, again.all).toBe(0);
    expect(again.all).toMatch(/fd00:c9::10\/64/);
    expect((await run('teardown', 'tiny', 't2', pods.t2)).exitCode).toBe(0);
  });

  it('teardown frees both leases of every pod, twice is fine, and leaves nothing', async () => {
    for (const pod of ['22-a', '22-b', '33-c']) {
      const r = await run('teardown', 'ds', pod, pods[pod]);
      expect(r.exitCode, r.all).toBe(0);
      expect(r.all).toMatch(/released 2 address\(es\)/);
      expect((await run('teardown', 'ds', pod, pods[pod])).exitCode).toBe(0);
    }
    expect((await run6('teardown', 'ds', 'v6', pods.v6)).all).toMatch(/released 1 address\(es\)/);
    expect(await bridgePorts(info, BRIDGE)).toEqual([]);
    expect(await bridgePorts(info, BRIDGE6)).toEqual([]);
    expect(await hostVeths(info)).toEqual([]);
    expect(stateFiles(join(dir, 'state'))).toEqual([]);
    expect(stateFiles(join(dir6, 'state'))).toEqual([]);
  });
});

// The same through a real CNI caller: Debian's libcni runs podvlan as the main plugin of a
// conflist whose `ipam.pool` is the list of two pools.
describe('dual-stack pods through libcni', () => {
  const cdir = join(info.dir, 'dual-stack-cni');
  const stateDir = join(cdir, 'state');
  const cacheDir = join(cdir, 'cni-cache');
  const CNI_BRIDGE = 'dsc_br';
  const namespaces: string[] = [];
  const pool = (v6: Record<string, unknown> = {}) => [
    { type: 'host-local', subnet: '10.198.0.0/24', gateway: '10.198.0.1' },
    { type: 'host-local', subnet: 'fd00:c8::/64', gateway: 'fd00:c8::1', routes: [{ dst: 'fd00:c800::/32' }], ...v6 },
  ];
  const conflist = (name: string, cniVersion: string, vlan: number, ipamPool: unknown) => {
    const path = join(cdir, `${name}.conflist`);
    const plugin = {
      type: 'podvlan',
      bridge: CNI_BRIDGE,
      datapathType: 'netdev',
      vlan: { id: vlan },
      ipam: { type: 'podvlan', pool: ipamPool },
      ovsdb: info.ovsdb,
      stateDir,
      logFile: join(cdir, 'podvlan.log'),
      nodeConfig: '/dev/null',
    };
    writeFileSync(path, JSON.stringify({ cniVersion, name, plugins: [plugin] }));
    return path;
  };
  let v40 = '';
  let v41 = '';
  let tiny = '';
  const call = (list: string, pod: string, extra: Partial<LibcniCall> = {}): LibcniCall => ({
    conflist: list,
    containerId: `dsc-${pod}`,
    netns: `/run/netns/pvds-${pod}`,
    pluginDirs: [dirname(BINARY), DEBIAN_CNI_DIR],
    cacheDir,
    args: `IgnoreUnknown=1;K8S_POD_NAMESPACE=dsc;K8S_POD_NAME=${pod}`,
    ...extra,
  });
  const netnsPing6 = async (pod: string, to: string) =>
    (await execa('ip', ['netns', 'exec', `pvds-${pod}`, 'ping', '-6', '-c', '2', '-W', '1', to], { reject: false }))
      .exitCode === 0;
  const add = async (list: string, pod: string) => {
    await execa('ip', ['netns', 'add', `pvds-${pod}`]);
    namespaces.push(`pvds-${pod}`);
    return runLibcni(info, 'add', call(list, pod));
  };

  beforeAll(() => {
    mkdirSync(cdir, { recursive: true });
    v40 = conflist('ds40', '1.0.0', 40, pool());
    // Another network, so other lease files: a range of its own keeps its addresses apart from ds40's.
    v41 = conflist(
      'ds41',
      '0.4.0',
      41,
      pool({ rangeStart: 'fd00:c8::40' }).map((p, i) => (i === 0 ? { ...p, rangeStart: '10.198.0.40' } : p)),
    );
    tiny = conflist('dstiny', '1.0.0', 42, pool({ rangeStart: 'fd00:c8::ff', rangeEnd: 'fd00:c8::ff' }));
  });
  afterAll(async () => {
    for (const ns of namespaces) await execa('ip', ['netns', 'del', ns], { reject: false });
    await ovsVsctl(info, ['--if-exists', 'del-br', CNI_BRIDGE]);
  });

  it('ADD returns both addresses, each with its gateway, on the pod interface, and routes of both', async () => {
    const a1 = parseResult(await add(v40, 'a1'));
    expect(a1.ips).toEqual([
      { address: '10.198.0.2/24', gateway: '10.198.0.1', interface: 1 },
      { address: 'fd00:c8::2/64', gateway: 'fd00:c8::1', interface: 1 },
    ]);
    expect(a1.routes).toEqual([{ dst: 'fd00:c800::/32', gw: 'fd00:c8::1' }]);
    parseResult(await add(v40, 'a2'));
    const b1 = parseResult(await add(v41, 'b1')) as { ips: { version?: string; address: string }[] };
    expect(b1.ips.map((ip) => [ip.version, ip.address])).toEqual([
      ['4', '10.198.0.40/24'],
      ['6', 'fd00:c8::40/64'],
    ]);
  });

  it('ping -6 crosses VLAN 40 and does not reach VLAN 41; CHECK finds both addresses in place', async () => {
    expect(await netnsPing6('a1', 'fd00:c8::3')).toBe(true);
    expect(await netnsPing6('a2', 'fd00:c8::2')).toBe(true);
    expect(await netnsPing6('a1', 'fd00:c8::40')).toBe(false); // b1, VLAN 41
    const check = await runLibcni(info, 'check', call(v40, 'a1'));
    expect(check.exitCode, check.stdout + check.stderr).toBe(0);
    // An address gone from the interface by hand: CHECK names it.
    await execa('ip', ['-n', 'pvds-a2', 'addr', 'del', 'fd00:c8::3/64', 'dev', 'eth0']);
    const broken = await runLibcni(info, 'check', call(v40, 'a2'));
    expect(broken.exitCode).not.toBe(0);
    expect(broken.stdout + broken.stderr).toMatch(/address fd00:c8::3\/64 is missing from eth0/);
  });

  it('list shows both addresses of a CNI attachment', async () => {
    const rows = await listJson();
    expect(rows.find((r) => (r as { k8sPod?: string }).k8sPod === 'a1')?.ips).toEqual([
      '10.198.0.2/24',
      'fd00:c8::2/64',
    ]);
  });

  it('a failure of the second family (IPv6 range of one, taken) rolls back the IPv4 lease', async () => {
    parseResult(await add(tiny, 't1'));
    const before = stateFiles(stateDir);
    const t2 = await add(tiny, 't2');
    expect(t2.exitCode).not.toBe(0);
    expect(t2.stdout + t2.stderr).toMatch(/dstiny/);
    expect(stateFiles(stateDir)).toEqual(before);
    expect((await execa('ip', ['-n', 'pvds-t2', 'link'])).stdout).not.toMatch(/eth0/);
    for (const pod of ['t1', 't2']) expect((await runLibcni(info, 'del', call(tiny, pod))).exitCode).toBe(0);
  });

  it('DEL frees both leases, and a second DEL is fine', async () => {
    for (const [list, pod] of [
      [v40, 'a1'],
      [v40, 'a2'],
      [v41, 'b1'],
    ]) {
      for (let i = 0; i < 2; i++) {
        const r = await runLibcni(info, 'del', call(list, pod));
        expect(r.exitCode, r.stdout + r.stderr).toBe(0);
      }
    }
    expect(stateFiles(stateDir)).toEqual([]);
    expect(await bridgePorts(info, CNI_BRIDGE)).toEqual([]);
  });
});
