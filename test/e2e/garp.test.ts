// After attaching an address, the pod announces it with a gratuitous ARP request, so neighbours
// on the VLAN replace a stale entry at once. tcpdump runs in two listener pods from the start (one
// on VLAN 22, one on VLAN 33); each exec setup and CNI ADD on VLAN 22, through netlink and through
// iproute2, must show exactly one announce (sender IP = target IP = the pod's address, sender MAC
// = the pod's MAC) to the VLAN 22 listener and none to the VLAN 33 one, and the VLAN 22
// listener's stale ARP entry for the address (another MAC) must now hold the pod's. An announce
// that cannot be sent (sysctl replaced by /bin/false for the iproute2 path) is logged and fails
// nothing, and the stale entry stays.
import { type ResultPromise, execa } from 'execa';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { addNetns, cni, delNetns } from '../support/cni';
import { BINARY, runPlugin, teardownAll, writeConfig } from '../support/plugin';
import { docker, startContainer } from '../support/sandbox';

const info = inject('sandbox');
const BRIDGE = 'gp_br';
const dir = join(info.dir, 'garp');
const logFile = join(dir, 'podvlan.log');
const tag = dir.slice(-6).replace(/[^a-z0-9]/g, 'x');
const nsName = (n: string) => `gp-${tag}-${n}`;

const config = writeConfig(info, dir, [
  {
    name: 'garp',
    bridge: BRIDGE,
    datapathType: 'netdev',
    interface: 'net1',
    vlan: { fromPodName: '^(\\d+)-' },
    ipam: { type: 'host-local', subnet: '10.212.0.0/24' },
  },
]);
const netconf = (vlan: number, rangeStart: string) => ({
  cniVersion: '1.0.0',
  name: `gp${vlan}`,
  type: 'podvlan',
  bridge: BRIDGE,
  datapathType: 'netdev',
  vlan: { id: vlan },
  ipam: { type: 'podvlan', pool: { type: 'host-local', subnet: '10.212.1.0/24', rangeStart } },
  ovsdb: info.ovsdb,
  stateDir: join(dir, 'cni-state'),
  logFile,
  nodeConfig: '/dev/null',
});
const cni22 = netconf(22, '10.212.1.10');
const cni33 = netconf(33, '10.212.1.200');
const viaIp = { PODVLAN_VETH: 'ip' };
const STALE_MAC = '02:00:00:00:00:99';

/** tcpdump's ARP lines (`-t -e -n`) inside a listener netns, collected as they come. */
class Listener {
  readonly lines: string[] = [];
  private proc?: ResultPromise;
  constructor(readonly netns: string) {}

  async start(): Promise<void> {
    const args = ['netns', 'exec', this.netns, 'tcpdump', '-i', 'eth0', '-t', '-e', '-n', '-l', '-U', 'arp'];
    const proc = execa('ip', args, { reject: false, buffer: false });
    this.proc = proc;
    proc.stdout!.on('data', (c: Buffer) => this.lines.push(...c.toString().split('\n').filter(Boolean)));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`tcpdump in ${this.netns} did not start`)), 10000);
      proc.stderr!.on('data', (c: Buffer) => {
        if (c.toString().includes('listening on')) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  }

  /** The announce lines of `ip`: a broadcast request whose sender and target are both `ip`. */
  announces(ip: string): string[] {
    const re = new RegExp(`^(\\S+) > ff:ff:ff:ff:ff:ff, .*Request who-has ${ip.replace(/\./g, '\\.')} tell ${ip},`);
    return this.lines.filter((l) => re.test(l));
  }

  stop(): void {
    this.proc?.kill();
  }
}

const made: string[] = [];
async function netns(n: string): Promise<string> {
  made.push(nsName(n));
  return addNetns(nsName(n));
}
const add = (conf: object, id: string, path: string, env: Record<string, string> = {}) =>
  cni(info, 'ADD', conf, { containerId: id, netns: path, ifname: 'eth0', env });

/** The interface's MAC and IPv4 address, as the kernel inside the given namespace has them. */
async function linkOf(nsenterNet: string, ifname: string): Promise<{ mac: string; ip: string }> {
  const ip = (args: string[]) => execa('nsenter', [nsenterNet, 'ip', '-j', ...args]).then((r) => JSON.parse(r.stdout));
  const [link] = await ip(['link', 'show', ifname]);
  const [addr] = await ip(['-4', 'addr', 'show', ifname]);
  return { mac: link.address, ip: addr.addr_info[0].local };
}
const podLink = async (id: string) =>
  linkOf(`--net=/proc/${(await docker(info, ['inspect', '-f', '{{.State.Pid}}', id])).stdout.trim()}/ns/net`, 'net1');
const netnsLink = (n: string) => linkOf(`--net=/run/netns/${nsName(n)}`, 'eth0');

/** The MAC the namespace's ARP cache has for `ip`. */
async function neighbourMac(netns: string, ip: string): Promise<string | undefined> {
  const { stdout } = await execa('ip', ['-n', netns, '-j', 'neigh', 'show', ip, 'dev', 'eth0']);
  return (JSON.parse(stdout) as { lladdr?: string }[])[0]?.lladdr;
}

async function until(check: () => boolean, ms = 5000): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end && !check(); ) await new Promise((r) => setTimeout(r, 50));
}

const logged = (): { msg: string; error?: string; interfaces?: string[]; pod?: string }[] =>
  readFileSync(logFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));

describe('gratuitous ARP at attach', () => {
  const l22 = new Listener(nsName('l22'));
  const l33 = new Listener(nsName('l33'));
  const cniAdded: [object, string, string][] = [];

  beforeAll(async () => {
    expect((await runPlugin(info, ['init'], { config })).exitCode).toBe(0);
    for (const [conf, n, id] of [
      [cni22, 'l22', 'aa000000000022'],
      [cni33, 'l33', 'aa000000000033'],
    ] as const) {
      const r = await add(conf, id, await netns(n));
      expect(r.exitCode, r.stderr).toBe(0);
      cniAdded.push([conf, id, nsName(n)]);
    }
    await Promise.all([l22.start(), l33.start()]);
    // The VLAN 22 listener remembers every address the tests will hand out under a stale MAC, as
    // if another pod had had it: the announce must replace it. After a second, the kernel's
    // locktime, within which an entry ignores a new MAC.
    for (const ip of [...['1', '2', '3'].map((x) => `10.212.0.${x}`), '10.212.1.11', '10.212.1.12'])
      await execa('ip', ['-n', l22.netns, 'neigh', 'replace', ip, 'lladdr', STALE_MAC, 'dev', 'eth0', 'nud', 'stale']);
    await new Promise((r) => setTimeout(r, 1100));
  });

  afterAll(async () => {
    l22.stop();
    l33.stop();
    await teardownAll(info, config, [BRIDGE]);
    for (const [conf, id, n] of cniAdded)
      await cni(info, 'DEL', conf, { containerId: id, netns: `/run/netns/${n}`, ifname: 'eth0' });
    for (const n of made) await delNetns(n);
  });

  /** Exactly one announce of the pod's address with its MAC on VLAN 22, none on VLAN 33, and the
   * VLAN 22 listener's stale entry for the address now has the pod's MAC. */
  async function expectAnnounced(pod: { mac: string; ip: string }): Promise<void> {
    await until(() => l22.announces(pod.ip).length > 0);
    await new Promise((r) => setTimeout(r, 500)); // a duplicate, or a leak to VLAN 33, has time to show
    const seen = l22.announces(pod.ip);
    expect(seen, l22.lines.join('\n')).toHaveLength(1);
    expect(seen[0].split(' ')[0]).toBe(pod.mac);
    expect(l33.lines.filter((l) => l.includes(pod.ip))).toEqual([]);
    expect(await neighbourMac(l22.netns, pod.ip)).toBe(pod.mac);
  }

  it.each([
    ['netlink', {}],
    ['iproute2', viaIp],
  ])('exec setup announces the new address (%s)', async (_, env) => {
    const id = await startContainer(info);
    const pod = `22-${env === viaIp ? 'ip' : 'nl'}`;
    const r = await runPlugin(info, ['setup', 'default', pod, id], { config, env });
    expect(r.exitCode, r.all).toBe(0);
    await expectAnnounced(await podLink(id));
    expect(logged().filter((l) => l.msg === 'gratuitous ARP not sent')).toEqual([]);
  });

  it.each([
    ['netlink', {}],
    ['iproute2', viaIp],
  ])('CNI ADD announces the new address (%s)', async (how, env) => {
    const n = `c-${how.slice(0, 2)}`;
    const id = `bb0000000000${how === 'netlink' ? '01' : '02'}`;
    const r = await add(cni22, id, await netns(n), env);
    expect(r.exitCode, r.stderr).toBe(0);
    cniAdded.push([cni22, id, nsName(n)]);
    await expectAnnounced(await netnsLink(n));
  });

  it('an announce that cannot be sent is logged and fails nothing', async () => {
    // A mount namespace of our own where sysctl is /bin/false: arp_notify cannot be set.
    const holder = execa('unshare', ['--mount', '--propagation', 'private', 'sleep', '600'], { reject: false });
    try {
      await until(() => holder.pid !== undefined);
      const inMnt = ['-t', String(holder.pid), '-m'];
      await until(() => readFileSync(`/proc/${holder.pid}/cmdline`, 'utf8').startsWith('sleep'));
      await execa('nsenter', [...inMnt, 'mount', '--bind', '/bin/false', '/usr/sbin/sysctl']);
      const id = await startContainer(info);
      const r = await execa(
        'nsenter',
        [...inMnt, 'ip', 'netns', 'exec', info.netns, BINARY, 'setup', 'default', '22-nosysctl', id],
        {
          all: true,
          reject: false,
          env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', PODVLAN_CONFIG: config, ...viaIp },
          extendEnv: false,
        },
      );
      expect(r.exitCode, r.all).toBe(0);
      const pod = await podLink(id);
      const warn = logged().find((l) => l.msg === 'gratuitous ARP not sent');
      expect(warn).toMatchObject({ level: 'warn', cmd: 'setup', pod: '22-nosysctl', interfaces: ['net1'] });
      expect(warn?.error).toMatch(/sysctl failed/);
      await new Promise((r) => setTimeout(r, 500));
      expect(l22.announces(pod.ip)).toEqual([]);
      expect(await neighbourMac(l22.netns, pod.ip)).toBe(STALE_MAC); // what the announce is for
    } finally {
      holder.kill();
    }
  });
});
