// CNI CHECK through the spec-following caller (test/support/cni.ts): the attachment compared with
// its ADD's result (prevResult, in any version podvlan reads) and with the node. Each fault is made
// by hand on a fresh attachment, as an operator or a bug would make it (ovs-vsctl, ip in the
// netns, a lease file removed), and CHECK must name what differs and where, with the spec's code.
import { execa } from 'execa';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cniOwner } from '../../src/cni/owner';
import { addNetns, cni, delNetns } from '../support/cni';
import { audit } from '../support/consistency';
import { ovsVsctl } from '../support/plugin';

const info = inject('sandbox');
const BRIDGE = 'chk_br';
const OTHER_BRIDGE = 'chk_br2';
const dir = join(info.dir, 'cni-check');
const stateDir = join(dir, 'state');
const made: string[] = [];
let serial = 0;

const netconf = (extra: Record<string, unknown> = {}) => ({
  cniVersion: '1.0.0',
  name: 'chk22',
  type: 'podvlan',
  bridge: BRIDGE,
  datapathType: 'netdev',
  mtu: 1400,
  vlan: { id: 22 },
  ipam: {
    type: 'podvlan',
    pool: {
      type: 'host-local',
      subnet: '10.251.0.0/24',
      rangeStart: '10.251.0.10',
      gateway: '10.251.0.1',
      routes: [{ dst: '10.250.0.0/16' }],
    },
  },
  ovsdb: info.ovsdb,
  stateDir,
  logFile: join(dir, 'podvlan.log'),
  nodeConfig: '/dev/null',
  ...extra,
});

interface Result {
  cniVersion: string;
  interfaces: { name: string; mac?: string; sandbox?: string }[];
  ips: { address: string; gateway?: string; interface?: number; version?: string }[];
  routes: { dst: string; gw?: string }[];
  dns: Record<string, unknown>;
}

interface Added {
  ns: string; // netns name
  path: string; // CNI_NETNS
  id: string; // CNI_CONTAINERID
  port: string;
  result: Result;
  address: string; // a.b.c.d/len
}

/** A fresh netns ADDed to chk22 (one per fault, so no fault leaks into the next case). */
async function fresh(config = netconf()): Promise<Added> {
  const n = `chk-${process.pid % 10000}-${serial++}`;
  made.push(n);
  const path = await addNetns(n);
  const id = `cnitool-chk${serial}`;
  const r = await cni(info, 'ADD', config, { containerId: id, netns: path, ifname: 'eth0' });
  expect(r.exitCode, r.stdout).toBe(0);
  const result = r.json as unknown as Result;
  return { ns: n, path, id, port: cniOwner(id, 'chk22', 'eth0').port, result, address: result.ips[0].address };
}

const NONE = Symbol('no prevResult');
const check = (a: Added, prevResult: unknown = a.result, config: Record<string, unknown> = netconf(), path = a.path) =>
  cni(
    info,
    'CHECK',
    { ...config, ...(prevResult === NONE ? {} : { prevResult }) },
    {
      containerId: a.id,
      netns: path,
      ifname: 'eth0',
    },
  );

/** CHECK fails with `code` and a message containing every given piece; nothing on stderr. */
async function expectCheckFails(run: ReturnType<typeof check>, code: number, ...pieces: string[]) {
  const r = await run;
  expect(r.exitCode, r.stdout).toBe(1);
  expect(r.stderr).toBe('');
  expect(r.json).toMatchObject({ cniVersion: expect.any(String), code });
  for (const p of pieces) expect(r.json?.msg, r.stdout).toContain(p);
}

const inNetns = (ns: string, args: string[]) => execa('ip', ['-n', ns, ...args]);

describe('CNI CHECK', () => {
  beforeAll(() => mkdirSync(dir, { recursive: true }));
  afterAll(async () => {
    for (const n of made) await delNetns(n);
    await ovsVsctl(info, ['--if-exists', 'del-br', BRIDGE]);
    await ovsVsctl(info, ['--if-exists', 'del-br', OTHER_BRIDGE]);
  });

  it('passes right after ADD with its result, and with that result in 0.4.0 form or under a 0.4.0 config', async () => {
    const a = await fresh();
    const ok = await check(a);
    expect(ok.exitCode, ok.stdout).toBe(0);
    expect(ok.stdout).toBe('');
    expect(ok.stderr).toBe('');
    // The same result as a 0.4.0 runtime would cache it: "version" in each IP, cniVersion 0.4.0.
    const as040 = { ...a.result, cniVersion: '0.4.0', ips: a.result.ips.map((ip) => ({ version: '4', ...ip })) };
    expect((await check(a, as040)).exitCode).toBe(0);
    expect((await check(a, as040, netconf({ cniVersion: '0.4.0' }))).exitCode).toBe(0);
    // No cniVersion in the prevResult: read in the config's (libcni's rule).
    const { cniVersion: _v, ...unversioned } = a.result;
    expect((await check(a, unversioned)).exitCode).toBe(0);
  });

  it('a 0.3.x config: CHECK is not defined before 0.4.0, code 1', async () => {
    const a = await fresh(netconf({ cniVersion: '0.3.1' }));
    await expectCheckFails(check(a, a.result, netconf({ cniVersion: '0.3.1' })), 1, '0.3.1', '0.4.0');
  });

  it('without prevResult: code 7; a prevResult it cannot read: 1 (old version) or 7 (malformed)', async () => {
    const a = await fresh();
    await expectCheckFails(check(a, NONE), 7, 'CHECK needs prevResult');
    await expectCheckFails(check(a, { cniVersion: '0.2.0', ip4: { ip: a.address } }), 1, 'prevResult', '0.2.0');
    await expectCheckFails(check(a, { ...a.result, ips: [{ address: '10.251.0.99' }] }), 7, 'prevResult.ips[0]');
    await expectCheckFails(check(a, { ...a.result, ips: [{ address: a.address, interface: 7 }] }), 7, 'interface 7');
  });

  it('no attachment of this owner: code 3', async () => {
    const a = await fresh();
    await expectCheckFails(check({ ...a, id: 'cnitool-nobody' }), 3, 'cnitool-nobody', 'eth0');
  });

  it('the VLAN tag changed with ovs-vsctl: 100 naming the tag and the interface', async () => {
    const a = await fresh();
    await ovsVsctl(info, ['set', 'Port', a.port, 'tag=99']);
    await expectCheckFails(check(a), 100, `port ${a.port} of eth0`, 'VLAN tag 99', 'says 22');
  });

  it('the port moved to another bridge: 100', async () => {
    const a = await fresh();
    await ovsVsctl(info, [
      '--may-exist',
      'add-br',
      OTHER_BRIDGE,
      '--',
      'set',
      'Bridge',
      OTHER_BRIDGE,
      'datapath_type=netdev',
    ]);
    const uuid = await ovsVsctl(info, ['get', 'Port', a.port, '_uuid']);
    // One transaction, so the row stays referenced (and keeps its external_ids).
    await ovsVsctl(info, [
      'remove',
      'Bridge',
      BRIDGE,
      'ports',
      uuid,
      '--',
      'add',
      'Bridge',
      OTHER_BRIDGE,
      'ports',
      uuid,
    ]);
    await expectCheckFails(check(a), 100, `port ${a.port} of eth0`, `not on bridge ${BRIDGE}`);
  });

  it('ovs-vswitchd cannot attach the interface (Interface.error set, no ofport): 100', async () => {
    const a = await fresh();
    // An internal port of the veth's name cannot be made while the veth exists: vswitchd says so.
    await ovsVsctl(info, ['set', 'Interface', a.port, 'type=internal']);
    for (let i = 0; i < 50; i++) {
      if ((await ovsVsctl(info, ['get', 'Interface', a.port, 'error'])) !== '[]') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await expectCheckFails(check(a), 100, `ovs-vswitchd did not attach port ${a.port} of eth0 (ofport -1)`);
  });

  it('CHECK in another netns than the ADD: 100', async () => {
    const a = await fresh();
    const other = await fresh();
    await expectCheckFails(check(a, a.result, netconf(), other.path), 100, 'another network namespace');
  });

  it('the pod end moved out of CNI_NETNS: 100 naming the interface', async () => {
    const a = await fresh();
    const away = `chk-away-${serial++}`;
    made.push(away);
    await addNetns(away);
    await inNetns(a.ns, ['link', 'set', 'eth0', 'netns', away]);
    await expectCheckFails(check(a), 100, 'interface eth0 is missing from CNI_NETNS', a.path);
  });

  it('an eth0 in CNI_NETNS that is not the host veth peer: 100', async () => {
    const a = await fresh();
    const away = `chk-away-${serial++}`;
    made.push(away);
    await addNetns(away);
    await inNetns(a.ns, ['link', 'set', 'eth0', 'netns', away]);
    await inNetns(a.ns, ['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'imposter']);
    await expectCheckFails(check(a), 100, `not the veth peer of host veth ${a.port}`);
  });

  it('the host veth deleted: 100', async () => {
    const a = await fresh();
    await execa('ip', ['netns', 'exec', info.netns, 'ip', 'link', 'del', a.port]);
    await expectCheckFails(check(a), 100, a.port);
  });

  it('the MAC changed in the netns: 100 naming both MACs', async () => {
    const a = await fresh();
    await inNetns(a.ns, ['link', 'set', 'eth0', 'address', '02:00:00:00:be:ef']);
    await expectCheckFails(check(a), 100, 'eth0 has MAC 02:00:00:00:be:ef', a.result.interfaces[1].mac!);
  });

  it('the address removed in the netns: 100 naming the address and the interface', async () => {
    const a = await fresh();
    await inNetns(a.ns, ['addr', 'del', a.address, 'dev', 'eth0']);
    await expectCheckFails(check(a), 100, `address ${a.address} is missing from eth0`);
  });

  it('a route of the pool removed in the netns: 100 naming the route', async () => {
    const a = await fresh();
    expect(a.result.routes).toEqual([{ dst: '10.250.0.0/16', gw: '10.251.0.1' }]);
    await inNetns(a.ns, ['route', 'del', '10.250.0.0/16']);
    await expectCheckFails(check(a), 100, 'route to 10.250.0.0/16 via 10.251.0.1 is missing from eth0');
    // A later plugin of the chain may drop it from the result: then it is not podvlan's to demand.
    expect((await check(a, { ...a.result, routes: [] })).exitCode).toBe(0);
  });

  it('the lease gone from the pool: 100', async () => {
    const a = await fresh();
    rmSync(join(stateDir, 'ipam', 'chk22', a.address.split('/')[0]));
    await expectCheckFails(check(a), 100, `address ${a.address} of eth0 is no longer leased`);
  });

  it('a prevResult that does not match: missing interface, other address, other MACs', async () => {
    const a = await fresh();
    const r = a.result;
    await expectCheckFails(check(a, { ...r, interfaces: [r.interfaces[0]], ips: [] }), 100, 'no interface eth0');
    const otherIp = { ...r, ips: [{ ...r.ips[0], address: '10.251.0.250/24' }] };
    await expectCheckFails(check(a, otherIp), 100, 'prevResult lists 10.251.0.250/24 on eth0', a.address);
    const otherMac = { ...r, interfaces: [r.interfaces[0], { ...r.interfaces[1], mac: '02:00:00:00:00:01' }] };
    await expectCheckFails(check(a, otherMac), 100, 'prevResult says 02:00:00:00:00:01');
    const otherHostMac = { ...r, interfaces: [{ ...r.interfaces[0], mac: '02:00:00:00:00:02' }, r.interfaces[1]] };
    await expectCheckFails(check(a, otherHostMac), 100, `host veth ${a.port}`, '02:00:00:00:00:02');
  });

  it('ADD with a prevResult podvlan cannot carry on fails before anything is made', async () => {
    const n = `chk-bad-${serial++}`;
    made.push(n);
    const path = await addNetns(n);
    const before = await ovsVsctl(info, ['list-ports', BRIDGE]);
    const leases = () => readdirSync(join(stateDir, 'ipam', 'chk22')).sort();
    const leasesBefore = leases();
    const bad = { interfaces: [{ name: 'lo', sandbox: path }], ips: [{ address: '127.0.0.1/8', interface: 3 }] };
    const r = await cni(info, 'ADD', { ...netconf(), prevResult: bad }, { containerId: 'cnitool-bad', netns: path });
    expect(r.exitCode, r.stdout).toBe(1);
    expect(r.json).toMatchObject({ code: 7, msg: expect.stringContaining('prevResult.ips[0].interface 3') });
    expect(await ovsVsctl(info, ['list-ports', BRIDGE])).toBe(before);
    expect((await execa('ip', ['-n', n, '-o', 'link', 'show'])).stdout).not.toContain('eth0');
    expect(leases()).toEqual(leasesBefore);
  });

  it('no CHECK changed anything: DEL of every attachment leaves nothing', async () => {
    for (let i = 0; i < serial; i++) {
      const id = `cnitool-chk${i + 1}`;
      const r = await cni(info, 'DEL', netconf(), { containerId: id, netns: '', ifname: 'eth0' });
      expect(r.exitCode, r.stdout).toBe(0);
    }
    expect(await audit(info, stateDir, [BRIDGE, OTHER_BRIDGE])).toEqual([]);
  });
});
