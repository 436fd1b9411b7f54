// podvlan in CNI chains, run by Debian's real libcni (test/support/libcni.ts) with Debian's reference
// plugins: podvlan first, then tuning, portmap and bandwidth, which each take podvlan's result as
// their prevResult and act on its interfaces; and podvlan after another plugin (loopback), whose
// result podvlan must carry on. ADD, CHECK (which gets libcni's cached final result) and DEL all
// succeed, traffic crosses the VLAN, and a hand-made fault makes CHECK fail with podvlan's error.
import { execa, execaSync } from 'execa';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { audit } from '../support/consistency';
import { DEBIAN_CNI_DIR, type LibcniCall, parseResult, runLibcni } from '../support/libcni';
import { BINARY, ovsVsctl } from '../support/plugin';

const info = inject('sandbox');
const dir = join(info.dir, 'cni-chain');
const stateDir = join(dir, 'state');
const cacheDir = join(dir, 'cni-cache');
const BRIDGE = 'chain_br';
const SUBNET = '10.252.0';
const HOST_PORT = 18080;

const namespaces: string[] = [];
async function newNetns(tag: string): Promise<string> {
  const name = `pvch-${tag}-${randomBytes(3).toString('hex')}`;
  await execa('ip', ['netns', 'add', name]);
  await execa('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  namespaces.push(name);
  return name;
}

/** podvlan's plugin entry of a conflist: VLAN 22 on chain_br, its own range of one subnet. */
const podvlan = (network: string, rangeStart: string) => ({
  type: 'podvlan',
  bridge: BRIDGE,
  datapathType: 'netdev',
  mtu: 1400,
  vlan: { id: 22 },
  ipam: {
    type: 'podvlan',
    pool: { type: 'host-local', subnet: `${SUBNET}.0/24`, rangeStart, gateway: `${SUBNET}.1` },
  },
  ovsdb: info.ovsdb,
  stateDir,
  logFile: join(dir, `${network}.log`),
  nodeConfig: '/dev/null',
});

function writeConflist(name: string, cniVersion: string, plugins: object[]): string {
  const path = join(dir, `${name}.conflist`);
  writeFileSync(path, JSON.stringify({ cniVersion, name, plugins }, null, 2));
  return path;
}

interface Result {
  cniVersion: string;
  interfaces: { name: string; mac?: string; sandbox?: string }[];
  ips: { address: string; gateway?: string; interface?: number; version?: string }[];
  routes?: { dst: string; gw?: string }[];
}

const node = (args: string[]) => execa('ip', ['netns', 'exec', info.netns, ...args], { reject: false });
const ping = (ns: string, ip: string) =>
  execa('ip', ['netns', 'exec', ns, 'ping', '-c', '1', '-W', '2', ip], { reject: false });
const natRules = async () => (await node(['iptables', '-t', 'nat', '-S'])).stdout;
const ifbLinks = async () =>
  (await node(['ip', '-o', 'link', 'show', 'type', 'ifb'])).stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(':')[1].trim());
const sysctl = async (ns: string, key: string) =>
  (await execa('ip', ['netns', 'exec', ns, 'sysctl', '-n', key])).stdout.trim();

let first: string; // podvlan + tuning + portmap + bandwidth
let second: string; // loopback + podvlan + tuning, in 0.4.0
const pluginDirs = [dirname(BINARY), DEBIAN_CNI_DIR];
const call = (conflist: string, containerId: string, ns: string, extra: Partial<LibcniCall> = {}): LibcniCall => ({
  conflist,
  containerId,
  netns: ns && `/run/netns/${ns}`,
  pluginDirs,
  cacheDir,
  args: `IgnoreUnknown=1;K8S_POD_NAMESPACE=chain;K8S_POD_NAME=${containerId}`,
  ...extra,
});
// Debian's portmap 1.1.1 CHECKs its IPv6 chain whenever ip6tables works, though its ADD makes that
// chain only for IPv6 addresses: every CHECK of an IPv4-only pod fails. The plugins run here with a
// PATH that has iptables and no ip6tables, so portmap handles IPv4 only (its documented fallback).
const toolDir = join(dir, 'bin');
const chainEnv = { PATH: toolDir };
const macOf = (n: number) => `02:00:0a:fc:00:${n.toString(16).padStart(2, '0')}`;
const firstCall = (id: string, ns: string, n: number) =>
  call(first, id, ns, {
    capabilityArgs: { mac: macOf(n), portMappings: [{ hostPort: HOST_PORT + n, containerPort: 80, protocol: 'tcp' }] },
    env: chainEnv,
  });

beforeAll(() => {
  mkdirSync(toolDir, { recursive: true });
  for (const tool of ['ip', 'iptables', 'iptables-save', 'iptables-restore', 'nsenter', 'sysctl', 'tc'])
    symlinkSync(execaSync('which', [tool]).stdout.trim(), join(toolDir, tool));
  first = writeConflist('chaina', '1.0.0', [
    podvlan('chaina', `${SUBNET}.10`),
    // tuning changes what podvlan made (MAC from runtimeConfig, MTU, a sysctl) and says so in the result.
    { type: 'tuning', mtu: 1300, capabilities: { mac: true }, sysctl: { 'net.ipv4.conf.eth0.arp_notify': '1' } },
    { type: 'portmap', capabilities: { portMappings: true }, snat: true },
    // bandwidth finds the host end among the result's interfaces by the pod end's veth peer.
    { type: 'bandwidth', ingressRate: 100000000, ingressBurst: 1000000, egressRate: 100000000, egressBurst: 1000000 },
  ]);
  second = writeConflist('chainb', '0.4.0', [
    { type: 'loopback' },
    podvlan('chainb', `${SUBNET}.100`),
    { type: 'tuning', sysctl: { 'net.ipv4.conf.eth0.arp_notify': '1' } },
  ]);
});

afterAll(async () => {
  for (const ns of namespaces) await execa('ip', ['netns', 'del', ns], { reject: false });
  await ovsVsctl(info, ['--if-exists', 'del-br', BRIDGE]);
});

describe('podvlan first: podvlan + tuning + portmap + bandwidth through libcni', () => {
  const pods: Record<string, { ns: string; result: Result; ip: string; host: string }> = {};

  it('ADD: each plugin acts on podvlan interfaces, the VLAN carries traffic', async () => {
    for (const [n, name] of ['a', 'b'].entries()) {
      const ns = await newNetns(name);
      const run = await runLibcni(info, 'add', firstCall(`chain-${name}`, ns, n + 1));
      const result = parseResult(run) as Result;
      const host = result.interfaces.find((i) => !i.sandbox)!.name;
      pods[name] = { ns, result, ip: result.ips[0].address.split('/')[0], host };
      expect(result.cniVersion).toBe('1.0.0');
      expect(result.interfaces).toEqual([
        { name: expect.stringMatching(/^pv[0-9a-f]{13}$/), mac: expect.any(String) },
        { name: 'eth0', mac: macOf(n + 1), sandbox: `/run/netns/${ns}` }, // tuning's MAC, in the result
        { name: expect.stringMatching(/^bwp/), mac: expect.any(String) }, // bandwidth's ifb, appended
      ]);
      expect(result.ips).toEqual([
        { address: expect.stringMatching(`^${SUBNET}\\.`), gateway: `${SUBNET}.1`, interface: 1 },
      ]);
      const eth0 = (await execa('ip', ['-n', ns, '-o', 'link', 'show', 'eth0'])).stdout;
      expect(eth0).toContain('mtu 1300');
      expect(eth0).toContain(`link/ether ${macOf(n + 1)}`);
      expect(await sysctl(ns, 'net.ipv4.conf.eth0.arp_notify')).toBe('1');
      expect((await node(['tc', 'qdisc', 'show', 'dev', host])).stdout).toContain('tbf');
    }
    expect(await natRules()).toContain(`--dport ${HOST_PORT + 1}`);
    expect(await natRules()).toContain(`${pods.a.ip}:80`);
    expect((await ifbLinks()).length).toBe(2);
    expect((await ping(pods.a.ns, pods.b.ip)).exitCode).toBe(0);
    expect((await ping(pods.b.ns, pods.a.ip)).exitCode).toBe(0);
  });

  it('CHECK passes for the whole chain (podvlan reads tuning MAC from the cached result)', async () => {
    for (const [n, name] of ['a', 'b'].entries()) {
      const run = await runLibcni(info, 'check', firstCall(`chain-${name}`, pods[name].ns, n + 1));
      expect(run, run.stdout).toMatchObject({ exitCode: 0, stdout: '' });
    }
  });

  it.each([
    ['the tag changed with ovs-vsctl', 'c', (host: string) => `port ${host} of eth0 has VLAN tag 33`],
    ['the address removed in the netns', 'd', () => 'is missing from eth0'],
    ['the veth deleted', 'e', (host: string) => host],
  ])('CHECK fails with podvlan error after a fault: %s', async (_what, name, message) => {
    const n = name.charCodeAt(0) - 96;
    const ns = await newNetns(name);
    const result = parseResult(await runLibcni(info, 'add', firstCall(`chain-${name}`, ns, n))) as Result;
    const host = result.interfaces[0].name;
    pods[name] = { ns, result, ip: result.ips[0].address.split('/')[0], host };
    expect((await runLibcni(info, 'check', firstCall(`chain-${name}`, ns, n))).exitCode).toBe(0);
    if (name === 'c') await ovsVsctl(info, ['set', 'Port', host, 'tag=33']);
    if (name === 'd') await execa('ip', ['-n', ns, 'addr', 'del', result.ips[0].address, 'dev', 'eth0']);
    if (name === 'e') await node(['ip', 'link', 'del', host]);
    const run = await runLibcni(info, 'check', firstCall(`chain-${name}`, ns, n));
    expect(run.exitCode, run.stdout).toBe(1);
    const err = JSON.parse(run.stdout) as { code: number; msg: string };
    expect(err.code, run.stdout).toBe(100);
    expect(err.msg).toContain(message(host));
  });

  it('DEL (twice) leaves nothing: no port, veth, lease, NAT rule, ifb, cached result', async () => {
    expect(Object.keys(pods).sort()).toEqual(['a', 'b', 'c', 'd', 'e']);
    for (const [i, name] of ['a', 'b', 'c', 'd', 'e'].entries()) {
      const ns = pods[name].ns;
      for (let k = 0; k < 2; k++) {
        const run = await runLibcni(info, 'del', firstCall(`chain-${name}`, ns, i + 1));
        expect(run, `${name}: ${run.stdout}`).toMatchObject({ exitCode: 0, stdout: '' });
      }
      const left = (await execa('ip', ['-n', ns, '-o', 'link', 'show'])).stdout;
      expect(left, readFileSync(join(dir, 'chaina.log'), 'utf8')).not.toContain('eth0');
    }
    expect(await audit(info, stateDir, [BRIDGE])).toEqual([]);
    expect(await natRules()).not.toContain('chain-');
    expect(await ifbLinks()).toEqual([]);
    expect(existsSync(join(cacheDir, 'results')) ? readdirSync(join(cacheDir, 'results')) : []).toEqual([]);
  });
});

describe('podvlan after another plugin: loopback + podvlan + tuning, cniVersion 0.4.0', () => {
  let ns: string;
  let result: Result;

  it('ADD: podvlan carries loopback result and adds its own after it, in 0.4.0 form', async () => {
    ns = await newNetns('f');
    result = parseResult(await runLibcni(info, 'add', call(second, 'chain-f', ns))) as Result;
    expect(result.cniVersion).toBe('0.4.0');
    expect(result.interfaces).toEqual([
      { name: 'lo', mac: '00:00:00:00:00:00', sandbox: `/run/netns/${ns}` },
      { name: expect.stringMatching(/^pv[0-9a-f]{13}$/), mac: expect.any(String) },
      { name: 'eth0', mac: expect.any(String), sandbox: `/run/netns/${ns}` },
    ]);
    expect(result.ips).toEqual([
      { version: '4', address: '127.0.0.1/8', interface: 0 },
      { version: '6', address: '::1/128', interface: 0 },
      {
        version: '4',
        address: expect.stringMatching(`^${SUBNET}\\.1\\d\\d/24$`),
        gateway: `${SUBNET}.1`,
        interface: 2,
      },
    ]);
    expect(await sysctl(ns, 'net.ipv4.conf.eth0.arp_notify')).toBe('1');
    // The same VLAN as the first chain's pods: a fresh pod of it answers.
    const peerNs = await newNetns('g');
    const peer = parseResult(await runLibcni(info, 'add', firstCall('chain-g', peerNs, 7))) as Result;
    expect((await ping(ns, peer.ips[0].address.split('/')[0])).exitCode).toBe(0);
    expect((await runLibcni(info, 'del', firstCall('chain-g', peerNs, 7))).exitCode).toBe(0);
  });

  it('CHECK finds podvlan interface at index 2 of the cached result; a changed MAC fails it', async () => {
    const ok = await runLibcni(info, 'check', call(second, 'chain-f', ns));
    expect(ok, ok.stdout).toMatchObject({ exitCode: 0, stdout: '' });
    await execa('ip', ['-n', ns, 'link', 'set', 'eth0', 'address', '02:00:0a:fc:00:99']);
    const bad = await runLibcni(info, 'check', call(second, 'chain-f', ns));
    expect(bad.exitCode, bad.stdout).toBe(1);
    expect(JSON.parse(bad.stdout)).toMatchObject({
      code: 100,
      msg: expect.stringContaining('eth0 has MAC 02:00:0a:fc:00:99'),
    });
  });

  it('DEL leaves nothing', async () => {
    const run = await runLibcni(info, 'del', call(second, 'chain-f', ns));
    expect(run, run.stdout).toMatchObject({ exitCode: 0, stdout: '' });
    expect(await audit(info, stateDir, [BRIDGE])).toEqual([]);
    expect(readdirSync(join(cacheDir, 'results'))).toEqual([]);
  });
});
