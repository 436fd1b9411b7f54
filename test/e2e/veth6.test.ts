// IPv6 on the pod end, on both veth paths (netlink in process, PODVLAN_VETH=ip), driven through
// createPairs and announceAddresses under bun as attach drives them (veth6-under-bun.ts), pods in
// network namespaces on access ports of a real OVS bridge. Two listener namespaces run tcpdump
// from the start: one on the pods' VLAN 22 (also the IPv6 and IPv4 gateways of the pods' routes),
// one on VLAN 33. A dual-stack pod end must have both addresses and neither tentative when setup
// returns, reach the VLAN 22 listener and through its gateway routes at once (ping), not the
// VLAN 33 one, and announce itself once: one unsolicited neighbour advertisement and one
// gratuitous ARP seen on VLAN 22 (replacing the listener's stale entries), none on VLAN 33. Both
// paths leave the same addresses, routes and sysctls. And why nodad: without it, the address is
// tentative for a second or two and a route via a gateway carries nothing meanwhile.
import { type ResultPromise, execa } from 'execa';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ovsVsctl } from '../support/plugin';

const info = inject('sandbox');
const BUN = join(__dirname, '../../node_modules/.bin/bun');
const BRIDGE = 'v6_br';
const tag = info.dir.slice(-6).replace(/[^a-z0-9]/g, 'x');
const nsName = (n: string) => `v6-${tag}-${n}`;
const STALE_MAC = '02:00:00:00:00:99';
const paths = [
  ['netlink', {}, 1],
  ['ip', { PODVLAN_VETH: 'ip' }, 2],
] as const;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const made: string[] = [];
const hostEnds: string[] = [];

async function netns(n: string): Promise<string> {
  await execa('ip', ['netns', 'add', nsName(n)]);
  made.push(nsName(n));
  return `/run/netns/${nsName(n)}`;
}
const inNs = (n: string, args: string[]) => execa('ip', ['-n', nsName(n), ...args]);
const sysctl = async (n: string, key: string) =>
  (await execa('ip', ['netns', 'exec', nsName(n), 'sysctl', '-n', key])).stdout.trim();

/** A listener: a namespace whose eth0 is an access port of VLAN `vlan`, with these addresses (nodad). */
async function listener(n: string, vlan: number, addresses: string[]): Promise<void> {
  await netns(n);
  const host = `v6${n}`;
  await execa('ip', [
    '-n',
    info.netns,
    'link',
    'add',
    host,
    'type',
    'veth',
    'peer',
    'name',
    'eth0',
    'netns',
    nsName(n),
  ]);
  hostEnds.push(host);
  await execa('ip', ['-n', info.netns, 'link', 'set', host, 'up']);
  for (const a of addresses) await inNs(n, ['addr', 'add', a, 'dev', 'eth0', ...(a.includes(':') ? ['nodad'] : [])]);
  await inNs(n, ['link', 'set', 'eth0', 'up']);
  await ovsVsctl(info, ['add-port', BRIDGE, host, `tag=${vlan}`]);
}

/** tcpdump's ARP and ICMPv6 lines (`-t -e -n`) on a listener's eth0, collected as they come. */
class Capture {
  readonly lines: string[] = [];
  private proc?: ResultPromise;
  constructor(readonly n: string) {}

  async start(): Promise<void> {
    const args = [
      'netns',
      'exec',
      nsName(this.n),
      'tcpdump',
      '-i',
      'eth0',
      '-t',
      '-e',
      '-n',
      '-l',
      '-U',
      'arp or icmp6',
    ];
    const proc = execa('ip', args, { reject: false, buffer: false });
    this.proc = proc;
    proc.stdout!.on('data', (c: Buffer) => this.lines.push(...c.toString().split('\n').filter(Boolean)));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`tcpdump in ${this.n} did not start`)), 10000);
      proc.stderr!.on('data', (c: Buffer) => {
        if (c.toString().includes('listening on')) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  }

  /** Unsolicited neighbour advertisements of `ip`: to all nodes, target `ip`. */
  advertisements(ip: string): string[] {
    return this.lines.filter((l) => l.includes(`> ff02::1: ICMP6, neighbor advertisement, tgt is ${ip},`));
  }

  /** Gratuitous ARP requests of `ip`: sender and target both `ip`. */
  announces(ip: string): string[] {
    return this.lines.filter((l) => l.includes(`Request who-has ${ip} tell ${ip},`));
  }

  stop(): void {
    this.proc?.kill();
  }
}

interface AttachOut {
  ok: boolean;
  message?: string;
  unannounced: string[];
  addrs: Record<string, { address: string; tentative?: true; dadFailed?: true }[]>;
  readAt: number;
  portAt?: number;
  pings?: { to: string; ok: boolean; at: number; why?: string }[];
}

async function attach(env: Record<string, string>, args: object): Promise<AttachOut> {
  const cmd = [BUN, join(__dirname, 'veth6-under-bun.ts'), JSON.stringify({ ovsdb: info.ovsdb, ...args })];
  const r = await execa('ip', ['netns', 'exec', info.netns, ...cmd], { env, reject: false });
  const out = JSON.parse(r.stdout.split('\n').pop() || '{}') as AttachOut;
  expect(out.ok, `${out.message ?? ''}${r.stderr}`).toBe(true);
  return out;
}

const macOf = (n: number) => `0a:58:0a:d8:00:${n.toString(16).padStart(2, '0')}`;
const plan = (n: number, podName: string, addresses: string[], routes: { dst: string; via?: string }[] = []) => {
  const hostName = `pv6e${n.toString(16).padStart(11, '0')}`;
  hostEnds.push(hostName);
  return { hostName, podName, mac: macOf(n), mtu: 1400, addresses, routes };
};
const ROUTES = [
  { dst: 'fd00:b7::/64', via: 'fd00:b6::fe' },
  { dst: '10.217.0.0/16', via: '10.216.0.254' },
];

describe('IPv6 on the pod end', () => {
  const l22 = new Capture('l22');
  const l33 = new Capture('l33');

  beforeAll(async () => {
    await ovsVsctl(info, ['add-br', BRIDGE, '--', 'set', 'bridge', BRIDGE, 'datapath_type=netdev']);
    await execa('ip', ['-n', info.netns, 'link', 'set', BRIDGE, 'up']);
    // The pods' gateways are the VLAN 22 listener: fd00:b7::1 and 10.217.0.1 are its own addresses.
    await listener('l22', 22, ['10.216.0.254/24', '10.217.0.1/32', 'fd00:b6::fe/64', 'fd00:b7::1/128']);
    await listener('l33', 33, ['10.216.0.253/24', 'fd00:b6::fd/64']);
    await Promise.all([l22.start(), l33.start()]);
    // Stale entries for the pods' addresses under another MAC, as if another pod had had them: the
    // announcements must replace them. After a second, ARP's locktime.
    for (const [, , n] of paths) {
      await inNs('l22', ['neigh', 'replace', `fd00:b6::1${n}`, 'lladdr', STALE_MAC, 'dev', 'eth0', 'nud', 'stale']);
      await inNs('l22', ['neigh', 'replace', `10.216.0.1${n}`, 'lladdr', STALE_MAC, 'dev', 'eth0', 'nud', 'stale']);
    }
    await sleep(1100);
  });

  afterAll(async () => {
    l22.stop();
    l33.stop();
    await ovsVsctl(info, ['--if-exists', 'del-br', BRIDGE]).catch(() => undefined);
    for (const h of hostEnds) await execa('ip', ['-n', info.netns, 'link', 'del', h], { reject: false });
    for (const n of made) await execa('ip', ['netns', 'del', n], { reject: false });
  });

  it.each(paths)(
    'a dual-stack pod end (%s): both addresses, none tentative, routes usable at once, announced once',
    async (how, env, n) => {
      const v6 = `fd00:b6::1${n}`;
      const v4 = `10.216.0.1${n}`;
      const out = await attach(env, {
        netns: await netns(`p${n}`),
        plans: [plan(n, 'net1', [`${v4}/24`, `${v6}/64`], ROUTES)],
        bridge: BRIDGE,
        tag: 22,
        pings: ['fd00:b6::fe', 'fd00:b7::1', '10.216.0.254', '10.217.0.1', 'fd00:b6::fd', '10.216.0.253'],
      });
      expect(out.unannounced).toEqual([]);
      // Read right after createPairs returned: the link-local address (the kernel's own) may still
      // be in DAD, ours are not.
      const own = out.addrs.net1.filter((a) => !a.address.startsWith('fe80:'));
      expect(own).toEqual([
        { index: expect.any(Number), address: `${v4}/24` },
        { index: expect.any(Number), address: `${v6}/64` },
      ]);
      expect(out.pings!.map((p) => [p.to, p.ok])).toEqual([
        ['fd00:b6::fe', true],
        ['fd00:b7::1', true], // through the IPv6 gateway
        ['10.216.0.254', true],
        ['10.217.0.1', true],
        ['fd00:b6::fd', false], // VLAN 33
        ['10.216.0.253', false],
      ]);
      // The addresses were read well within the second or more that DAD would keep them
      // tentative (at least RetransTimer, 1 s); the pings come within it unless the machine crawls.
      expect(out.readAt, JSON.stringify(out)).toBeLessThan(500);
      console.log(
        `${how}: read ${out.readAt} ms, port ${out.portAt} ms, pinged through the gateway ${out.pings![1].at} ms after createPairs returned`,
      );

      const mac = macOf(n);
      await sleep(500); // a duplicate, or a leak to VLAN 33, has time to show
      const na = l22.advertisements(v6);
      expect(na, l22.lines.join('\n')).toHaveLength(1);
      expect(na[0].startsWith(`${mac} > 33:33:00:00:00:01,`)).toBe(true);
      expect(l22.announces(v4), l22.lines.join('\n')).toHaveLength(1);
      console.log([...na, ...l22.announces(v4)].join('\n'));
      expect(l33.lines.filter((l) => l.includes(v6) || l.includes(v4) || l.includes(mac))).toEqual([]);
      const neigh = async (ip: string) =>
        (JSON.parse((await inNs('l22', ['-j', 'neigh', 'show', ip, 'dev', 'eth0'])).stdout) as { lladdr?: string }[])[0]
          ?.lladdr;
      expect(await neigh(v6)).toBe(mac);
      expect(await neigh(v4)).toBe(mac);
    },
  );

  it('both paths leave the same addresses, routes and notify sysctls', async () => {
    const view = async (n: number) => {
      const j = async (args: string[]) => JSON.parse((await inNs(`p${n}`, ['-j', ...args])).stdout);
      const addrs = (await j(['addr', 'show', 'dev', 'net1']))[0].addr_info.filter(
        (a: { scope: string }) => a.scope !== 'link',
      );
      for (const a of addrs) for (const k of ['valid_life_time', 'preferred_life_time']) delete a[k];
      const routes = [...(await j(['-4', 'route', 'show'])), ...(await j(['-6', 'route', 'show']))];
      const notify = [
        await sysctl(`p${n}`, 'net.ipv4.conf.net1.arp_notify'),
        await sysctl(`p${n}`, 'net.ipv6.conf.net1.ndisc_notify'),
      ];
      return JSON.parse(JSON.stringify({ addrs, routes, notify }).replace(/(fd00:b6::|10\.216\.0\.)1[12]"/g, '$1X"'));
    };
    const [nl, ip] = [await view(1), await view(2)];
    expect(nl).toEqual(ip);
    expect(nl.notify).toEqual(['1', '1']);
    expect(nl.addrs.map((a: { local: string; nodad?: boolean }) => [a.local, a.nodad ?? false])).toEqual([
      ['10.216.0.X', false],
      ['fd00:b6::X', true],
    ]);
    expect(nl.routes).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ dst: 'fd00:b7::/64', gateway: 'fd00:b6::fe', dev: 'net1' }),
        expect.objectContaining({ dst: '10.217.0.0/16', gateway: '10.216.0.254', dev: 'net1' }),
      ]),
    );
  });

  it.each(paths)(
    'ndisc_notify only where there is an IPv6 address, arp_notify only where IPv4 (%s)',
    async (_, env, n) => {
      const pod = `s${n}`;
      await attach(env, {
        netns: await netns(pod),
        plans: [
          plan(n + 2, 'net1', [`10.218.${n}.1/24`, `fd00:b8:${n}::1/64`]),
          plan(n + 4, 'net2', [`fd00:b9:${n}::1/64`], [{ dst: '::/0', via: `fd00:b9:${n}::fe` }]),
          plan(n + 6, 'net3', [`10.219.${n}.1/24`]),
          plan(n + 8, 'net4', []),
        ],
      });
      const of = async (i: string) => [
        await sysctl(pod, `net.ipv4.conf.${i}.arp_notify`),
        await sysctl(pod, `net.ipv6.conf.${i}.ndisc_notify`),
      ];
      expect([await of('net1'), await of('net2'), await of('net3'), await of('net4')]).toEqual([
        ['1', '1'],
        ['0', '1'],
        ['1', '0'],
        ['0', '0'],
      ]);
      const dflt = JSON.parse((await inNs(pod, ['-j', '-6', 'route', 'show', 'default'])).stdout);
      expect(dflt).toEqual([expect.objectContaining({ gateway: `fd00:b9:${n}::fe`, dev: 'net2' })]);
    },
  );

  it('why nodad: without it the address is tentative for a second or more, and its gateway route carries nothing', async () => {
    // A pair of its own: d (the pod, DAD on) and g (the gateway, which also has fd00:b7::1).
    await netns('d');
    await netns('g');
    await inNs('d', ['link', 'add', 'net1', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', nsName('g')]);
    for (const a of ['fd00:ba::fe/64', 'fd00:b7::1/128']) await inNs('g', ['addr', 'add', a, 'dev', 'eth0', 'nodad']);
    await inNs('g', ['link', 'set', 'eth0', 'up']);
    await inNs('d', ['addr', 'add', 'fd00:ba::2/64', 'dev', 'net1']);
    await inNs('d', ['link', 'set', 'net1', 'up']);
    const started = Date.now();
    await inNs('d', ['route', 'add', 'fd00:b7::/64', 'via', 'fd00:ba::fe', 'dev', 'net1']); // accepted meanwhile
    const tentative = async () =>
      (
        JSON.parse((await inNs('d', ['-j', 'addr', 'show', 'dev', 'net1'])).stdout)[0].addr_info as {
          local: string;
          tentative?: boolean;
        }[]
      ).find((a) => a.local === 'fd00:ba::2')?.tentative === true;
    const ping = () =>
      execa('ip', ['netns', 'exec', nsName('d'), 'ping', '-c1', '-W1', 'fd00:b7::1'], { reject: false });
    expect(await tentative()).toBe(true);
    const early = await ping();
    expect(early.exitCode).not.toBe(0);
    expect(`${early.stdout}${early.stderr}`).toMatch(/Cannot assign requested address/);
    while (await tentative()) await sleep(10);
    const waited = Date.now() - started;
    console.log(`DAD kept fd00:ba::2 tentative for ${waited} ms`);
    expect(waited).toBeGreaterThanOrEqual(900);
    expect((await ping()).exitCode).toBe(0); // the same route, once DAD is done
  });
});
