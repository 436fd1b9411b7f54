// IPv6 node-local pools on the real state directory, through the built executable (issue 13):
// podvlan as a CNI IPAM plugin takes IPv6 and IPv4 leases for one owner in one lease directory
// (what a dual-stack network's two pools do), `podvlan ipam` and `podvlan networks` show them, and
// the bad pools of the issue are refused with one line, a non-zero exit and nothing written.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { addNetns, cni, delNetns } from '../support/cni';
import { ovsVsctl, runPlugin, stateFiles, writeConfig } from '../support/plugin';

const info = inject('sandbox');
const dir = join(info.dir, 'ipam-v6');
const stateDir = join(dir, 'state');
const BRIDGE = 'p6_br';
const BAD_BRIDGE = 'p6_bad';
const V4 = { type: 'host-local', subnet: '10.146.0.0/24', gateway: '10.146.0.1' };
const V6 = { type: 'host-local', subnet: 'fd00:46::/64', gateway: 'FD00:46::1', routes: [{ dst: '::/0' }] };
const HOST_POOL = { type: 'host-local', subnet: 'fd00:46:1::/64', gateway: 'fd00:46:1::1' };

// The operator's config: the host-local IPv6 network `p6host` (its leases come from the IPAM calls).
const config = writeConfig(info, dir, [{ name: 'p6host', bridge: BRIDGE, vlan: { id: 46 }, ipam: HOST_POOL }]);
const run = (...args: string[]) => runPlugin(info, args, { config });

/** The config a main plugin (here Debian's bridge) hands its IPAM plugin: podvlan with `pool`. */
const ipamConf = (name: string, pool: object, state = stateDir) => ({
  cniVersion: '1.0.0',
  name,
  type: 'bridge',
  ipam: { type: 'podvlan', pool, stateDir: state, logFile: join(dir, 'podvlan.log'), nodeConfig: '/dev/null' },
});
let netnsName = '';
let netns = '';
const ipamCall = (verb: string, name: string, pool: object, containerId: string, state = stateDir) =>
  cni(info, verb, ipamConf(name, pool, state), { containerId, netns, ifname: 'eth0' });
const leaseNames = (network: string) =>
  readdirSync(join(stateDir, 'ipam', network))
    .filter((n) => !n.startsWith('.'))
    .sort();

describe('IPv6 pools on the real state directory', () => {
  beforeAll(async () => {
    netnsName = `pv6-${randomBytes(3).toString('hex')}`;
    netns = await addNetns(netnsName);
  });
  afterAll(async () => delNetns(netnsName));

  it("keeps a dual-stack owner's two leases in one directory apart: each pool gives and frees its own", async () => {
    const four = await ipamCall('ADD', 'p6dual', V4, 'p6c1');
    expect(four.exitCode, four.stdout + four.stderr).toBe(0);
    const six = await ipamCall('ADD', 'p6dual', V6, 'p6c1');
    expect(six.exitCode, six.stdout + six.stderr).toBe(0);
    expect(six.json).toMatchObject({
      ips: [{ address: 'fd00:46::2/64', gateway: 'fd00:46::1' }],
      routes: [{ dst: '::/0', gw: 'fd00:46::1' }],
    });
    expect(leaseNames('p6dual')).toEqual(['10.146.0.2', 'fd00:46::2']);
    // A repeated ADD finds the owner's own-family lease, not the other one.
    expect((await ipamCall('ADD', 'p6dual', V6, 'p6c1')).json).toMatchObject({ ips: [{ address: 'fd00:46::2/64' }] });
    expect((await ipamCall('ADD', 'p6dual', V4, 'p6c1')).json).toMatchObject({ ips: [{ address: '10.146.0.2/24' }] });
    // DEL through the IPv6 pool frees the IPv6 lease only.
    expect((await ipamCall('DEL', 'p6dual', V6, 'p6c1')).exitCode).toBe(0);
    expect(leaseNames('p6dual')).toEqual(['10.146.0.2']);
    // The last reserved address is remembered per family: the next IPv6 owner gets ::3, not ::2 again.
    expect((await ipamCall('ADD', 'p6dual', V6, 'p6c2')).json).toMatchObject({ ips: [{ address: 'fd00:46::3/64' }] });
    expect(
      readdirSync(join(stateDir, 'ipam', 'p6dual'))
        .filter((n) => n.startsWith('.last'))
        .sort(),
    ).toEqual(['.last', '.last6']);
  });

  it('lists, shows and releases IPv6 leases by hand, in any spelling', async () => {
    const list = await run('ipam', 'list', '-o', 'json');
    expect(list.exitCode, list.all).toBe(0);
    const rows = (JSON.parse(list.stdout) as { addresses: { network: string; address: string }[] }).addresses;
    expect(rows.filter((r) => r.network === 'p6dual').map((r) => r.address)).toEqual(['10.146.0.2', 'fd00:46::3']);
    const table = await run('ipam', 'list');
    docs('ipam-list-v6.txt', table.stdout);
    expect(table.stdout).toMatch(/node\s+p6dual\s+fd00:46::3\s+/);
    const shown = await run('ipam', 'show', 'FD00:46:0::0003', '-o', 'json');
    expect(shown.exitCode, shown.all).toBe(0);
    expect(JSON.parse(shown.stdout).addresses).toMatchObject([{ network: 'p6dual', address: 'fd00:46::3' }]);
    const released = await run('ipam', 'release', 'p6dual', 'FD00:46::3');
    expect(released.exitCode, released.all).toBe(0);
    expect(released.stdout.trim()).toMatch(/^released p6dual\/fd00:46::3 \(held by /);
    expect(leaseNames('p6dual')).toEqual(['10.146.0.2']);
    const gone = await run('ipam', 'show', 'fd00:46::3');
    expect(gone.exitCode).toBe(1);
    expect(gone.stdout.trim()).toBe('nothing is allocated to fd00:46::3');
    expect((await ipamCall('DEL', 'p6dual', V4, 'p6c1')).exitCode).toBe(0);
    expect(leaseNames('p6dual')).toEqual([]);
  });

  it("shows an IPv6 pool's usage exactly: 2^64-2 addresses, in the table and in JSON", async () => {
    expect((await ipamCall('ADD', 'p6host', HOST_POOL, 'p6c3')).json).toMatchObject({
      ips: [{ address: 'fd00:46:1::2/64' }],
    });
    const json = await run('networks', '-o', 'json');
    expect(json.exitCode, json.all).toBe(0);
    const net = (JSON.parse(json.stdout) as { networks: { name: string; pool?: object; pools?: object[] }[] })
      .networks[0];
    const usage = {
      type: 'host-local',
      subnet: 'fd00:46:1::/64',
      used: 1,
      sizeExact: '18446744073709551614',
      freeExact: '18446744073709551613',
    };
    expect(net.pools).toMatchObject([usage]);
    expect(net.pool).toMatchObject(usage);
    const table = await run('networks');
    docs('networks-v6.txt', table.stdout);
    expect(table.stdout).toContain('1 used, 2^64-3 free of 2^64-2');
    expect((await ipamCall('DEL', 'p6host', HOST_POOL, 'p6c3')).exitCode).toBe(0);
  });

  describe('bad pools are refused with one line, a non-zero exit and nothing written', () => {
    const badState = join(dir, 'bad-state');
    it.each([
      [
        'an IPv6 prefix longer than /126',
        { type: 'host-local', subnet: 'fd00:46::/127' },
        'subnet',
        /fd00:46::\/127 is too long for an IPv6 pool: use \/126 or shorter/,
      ],
      [
        'a gateway outside the subnet',
        { type: 'host-local', subnet: 'fd00:46::/64', gateway: 'fd00:47::1' },
        'gateway',
        /fd00:47::1 is outside subnet fd00:46::\/64/,
      ],
      [
        'an IPv4 range in an IPv6 pool',
        { type: 'host-local', subnet: 'fd00:46::/64', rangeStart: '10.146.0.10', rangeEnd: '10.146.0.20' },
        'rangeStart',
        /10\.146\.0\.10 is IPv4 but subnet fd00:46::\/64 is IPv6/,
      ],
      [
        'an IPv6 rangeEnd in an IPv4 pool',
        { type: 'host-local', subnet: '10.146.0.0/24', rangeStart: '10.146.0.10', rangeEnd: 'fd00:46::20' },
        'rangeEnd',
        /fd00:46::20 is IPv6 but subnet 10\.146\.0\.0\/24 is IPv4/,
      ],
    ])('%s', async (_what, pool, field, message) => {
      const bad = writeConfig(
        info,
        join(dir, 'bad'),
        [{ name: 'p6bad', bridge: BAD_BRIDGE, vlan: { id: 47 }, ipam: pool }],
        {
          stateDir: badState,
        },
      );
      for (const args of [['init'], ['setup', 'default', 'web', 'ab'.repeat(32)]]) {
        const r = await runPlugin(info, args, { config: bad });
        expect(r.exitCode, r.all).toBe(3);
        const lines = r.all.trim().split('\n');
        expect(lines, r.all).toHaveLength(1);
        expect(lines[0]).toContain(`${bad}: networks.0.ipam.${field}: `);
        expect(lines[0]).toMatch(message);
      }
      // The same pool given to podvlan as a CNI IPAM plugin: a CNI error naming the field.
      const r = await ipamCall('ADD', 'p6bad', pool, 'p6c9', badState);
      expect(r.exitCode).not.toBe(0);
      expect(String(r.json?.msg)).toMatch(message);
      expect(r.json?.msg).toContain(`ipam.pool.${field}: `);
      expect(stateFiles(badState)).toEqual([]);
      expect(existsSync(join(badState, 'ipam', 'p6bad'))).toBe(false);
      expect(await ovsVsctl(info, ['list-br'])).not.toContain(BAD_BRIDGE);
    });
  });
});

/** With PODVLAN_DOC_OUT=DIR, outputs as the docs show them (docs/operating.md). */
function docs(name: string, text: string) {
  const out = process.env.PODVLAN_DOC_OUT;
  if (!out) return;
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, name), text);
}
