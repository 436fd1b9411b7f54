// Dual-stack pods (issue 13) in exec mode, on real OVS and Docker (`--net=none` containers), the
// way a kubelet calls podvlan: a network whose `ipam` is an IPv4 and an IPv6 pool gives each pod
// both addresses (neither tentative), `ping -6` crosses the VLAN and not to another VLAN, `list`
// shows both, status gives the kubelet the IPv4 (the IPv6 on an IPv6-only primary network),
// teardown frees both leases, and a second family's pool that is exhausted rolls back the first
// family's lease: nothing is left of the failed setup.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  bridgePorts,
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
// Docker 28 turns IPv6 off in a --net=none container's namespace (net.ipv6.conf.default.disable_ipv6
// = 1), and an interface made there inherits it: the kernel refuses its IPv6 address. A pod meant for
// IPv6 has it on in its namespace, as a dual-stack runtime sets it; podvlan leaves the pod's sysctls alone.
async function startContainer(_info: typeof info): Promise<string> {
  const ipv6On = ['--sysctl', 'net.ipv6.conf.all.disable_ipv6=0', '--sysctl', 'net.ipv6.conf.default.disable_ipv6=0'];
  return (await docker(info, ['run', '-d', '--net=none', ...ipv6On, IMAGE, 'sleep', '3600'])).stdout.trim();
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
      expect(r.all).toMatch(/eth1 10\.196\.0\.\d+\/24,fd00:c6::[0-9a-f]+\/64 vlan \d+/);
    }
    const a = await podAddresses(pods['22-a'], 'eth1');
    expect(a.map((x) => x.local)).toEqual(['10.196.0.2/24', 'fd00:c6::2/64']);
    expect(a.flatMap((x) => x.flags)).toEqual([]);
    const routes = (await podExec(info, pods['22-a'], ['ip', '-6', 'route', 'show', 'dev', 'eth1'])).stdout;
    expect(routes).toMatch(/fd00:c600::\/32 via fd00:c6::1/);
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
    expect(await ping6(pods.v6, 'fd00:c7::2')).toBe(true); // its own address, usable at once
  });

  it('a failure of the second family (IPv6 pool exhausted) rolls back the first: nothing is left', async () => {
    const first = await run('setup', 'tiny', 't1', pods.t1);
    expect(first.exitCode, first.all).toBe(0);
    const before = stateFiles(join(dir, 'state'));
    const second = await run('setup', 'tiny', 't2', pods.t2);
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
