// The compiled executable configures veths in-process over rtnetlink (bun:ffi); PODVLAN_VETH=ip
// forces the iproute2 fallback. Both must leave the same interfaces, addresses and routes in the
// pod and the same host end, fail a bad route the same way (each with its own message), and roll
// back to nothing.
import { execa } from 'execa';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { hostVeths, runPlugin, stateFiles, teardownAll, writeConfig } from '../support/plugin';
import { docker, startContainer } from '../support/sandbox';

const info = inject('sandbox');
const dir = join(info.dir, 'veth-paths');
const networks = (routes: { dst: string; via?: string }[]) => [
  {
    name: 'front',
    bridge: 'vp_front',
    datapathType: 'netdev',
    interface: 'net1',
    primary: true,
    mtu: 1400,
    vlan: { fromPodName: '^(\\d+)-' },
    ipam: { type: 'host-local', subnet: '10.234.0.0/24', routes },
  }, // no gateway: a route without via stays so
  { name: 'back', bridge: 'vp_back', datapathType: 'netdev', interface: 'net2', mtu: 9000, vlan: { id: 100 } },
];
const config = writeConfig(
  info,
  dir,
  networks([{ dst: '10.241.0.0/16' }, { dst: '10.242.0.0/16', via: '10.234.0.254' }]),
);
const badConfig = writeConfig(info, join(dir, 'bad'), networks([{ dst: '10.99.0.0/16', via: '192.168.77.1' }]), {
  stateDir: join(dir, 'bad-state'),
});
const viaIp = { PODVLAN_VETH: 'ip' };
const run = (args: string[], env: Record<string, string> = {}, cfg = config) =>
  runPlugin(info, args, { config: cfg, env });

async function podPid(id: string): Promise<string> {
  return (await docker(info, ['inspect', '-f', '{{.State.Pid}}', id])).stdout.trim();
}

/** The pod's links, addresses and routes as the host's iproute2 sees them, without what differs
 * between any two pods (indexes, IPv6 link-local addresses and their timers, carrier timing). */
async function podView(id: string, port: (iface: string) => Promise<string>): Promise<unknown> {
  const pid = await podPid(id);
  const ip = async (args: string[]) =>
    JSON.parse((await execa('nsenter', [`--net=/proc/${pid}/ns/net`, 'ip', '-j', '-d', ...args])).stdout);
  const links = (await ip(['link', 'show'])).filter((l: { ifname: string }) => l.ifname !== 'lo');
  const addrs = (await ip(['-4', 'addr', 'show'])).filter((l: { ifname: string }) => l.ifname !== 'lo');
  const routes = await ip(['route', 'show']);
  const host: unknown[] = [];
  for (const l of links) {
    const [h] = JSON.parse(
      (await execa('ip', ['-n', info.netns, '-j', '-d', 'link', 'show', await port(l.ifname)])).stdout,
    );
    host.push(clean({ ...h, ifname: 'HOST', address: 'HOST' }));
  }
  return { links: links.map(clean), addrs: addrs.map(clean), routes, host };
}

const VOLATILE = new Set([
  'ifindex',
  'link_index',
  'link_netnsid',
  'operstate',
  'flags',
  'preferred_life_time',
  'valid_life_time',
]);
function clean(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(o)
      .filter(([k]) => !VOLATILE.has(k))
      .map(([k, v]) => [
        k,
        Array.isArray(v) ? v.map((x) => (typeof x === 'object' && x ? clean(x as Record<string, unknown>) : x)) : v,
      ]),
  );
}

describe('veth through netlink and through ip', () => {
  afterAll(() => teardownAll(info, config, ['vp_front', 'vp_back']));
  let a = '';
  let b = '';
  beforeAll(async () => {
    expect((await run(['init'])).exitCode).toBe(0);
    [a, b] = await Promise.all([startContainer(info), startContainer(info)]);
  });

  it('gives the pod and the host the same interfaces, addresses, MTUs, MACs and routes', async () => {
    const viaNetlink = await run(['setup', 'default', '5-a', a]);
    expect(viaNetlink.exitCode, viaNetlink.all).toBe(0);
    const viaIpRun = await run(['setup', 'default', '5-b', b], viaIp);
    expect(viaIpRun.exitCode, viaIpRun.all).toBe(0);
    const list = JSON.parse((await run(['list', '--output', 'json'])).stdout) as {
      pod: string;
      interface: string;
      port: string;
    }[];
    const portOf = (pod: string) => async (iface: string) =>
      list.find((x) => x.pod === pod && x.interface === iface)!.port;
    const [va, vb] = [await podView(a, portOf('5-a')), await podView(b, portOf('5-b'))] as {
      links: { address: string; ifname: string; mtu: number }[];
      addrs: { addr_info: { local: string }[] }[];
      routes: unknown[];
      host: { mtu: number }[];
    }[];
    // The MAC and the address differ by design (the MAC derives from the address): compare the rest.
    expect(va.links.map((l) => [l.ifname, l.mtu])).toEqual([
      ['net1', 1400],
      ['net2', 9000],
    ]);
    expect(va.addrs[0].addr_info[0].local).toBe('10.234.0.1');
    expect(vb.addrs[0].addr_info[0].local).toBe('10.234.0.2');
    expect(va.links[0].address).toBe('0a:58:0a:ea:00:01');
    expect(vb.links[0].address).toBe('0a:58:0a:ea:00:02');
    const same = (v: typeof va) =>
      JSON.parse(
        JSON.stringify(v)
          .replace(/10\.234\.0\.[12]"/g, '10.234.0.X"')
          .replace(/0a:5[89](:[0-9a-f]{2}){4}/g, 'MAC'),
      );
    expect(same(va)).toEqual(same(vb));
    expect(va.routes).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ dst: '10.241.0.0/16', dev: 'net1', scope: 'link', protocol: 'boot' }),
        expect.objectContaining({
          dst: '10.242.0.0/16',
          gateway: '10.234.0.254',
          dev: 'net1',
          scope: 'global',
          protocol: 'boot',
        }),
      ]),
    );
    expect(va.host.map((h) => h.mtu)).toEqual([1400, 9000]);
  });

  it('tears down either way, leaving no host veth', async () => {
    const list = JSON.parse((await run(['list', '--output', 'json'])).stdout) as { pod: string; port: string }[];
    const ports = list.filter((x) => x.pod === '5-a' || x.pod === '5-b').map((x) => x.port);
    expect(ports).toHaveLength(4);
    expect(await hostVeths(info)).toEqual(expect.arrayContaining(ports));
    expect((await run(['teardown', 'default', '5-a', a])).exitCode).toBe(0);
    expect((await run(['teardown', 'default', '5-b', b], viaIp)).exitCode).toBe(0);
    expect((await hostVeths(info)).filter((v) => ports.includes(v))).toEqual([]);
  });

  it('a bad route fails in the pod with one line naming the request, and rolls back, on both paths', async () => {
    for (const [env, pattern] of [
      [
        {},
        /^podvlan: in the pod: netlink route add 10\.99\.0\.0\/16 via 192\.168\.77\.1 dev net1 failed: Network is unreachable \(ENETUNREACH\)/,
      ],
      [viaIp, /^podvlan: in the pod: ip failed at "ip route add 10\.99\.0\.0\/16 via 192\.168\.77\.1 dev net1"/],
    ] as const) {
      const before = await hostVeths(info);
      const r = await run(['setup', 'default', '5-a', a], env, badConfig);
      expect(r.exitCode, r.all).toBe(8);
      expect(r.all.trim().split('\n')).toHaveLength(1);
      expect(r.all.trim()).toMatch(pattern);
      expect(await hostVeths(info)).toEqual(before);
      expect(stateFiles(join(dir, 'bad-state'))).toEqual([]);
      const links = await docker(info, ['exec', a, 'ip', 'link'], false);
      expect(links.stdout).not.toMatch(/net1|net2/);
    }
  });
});
