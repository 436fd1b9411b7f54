// The ipam key both ways, without a node: which config selects a delegate and which podvlan as
// an IPAM plugin, the plugin name check, reading a delegate's result of each version, the IPAM
// result podvlan prints, and the port record of a delegate's address.
import { ipamPools } from '../../src/config/schema';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findPlugin, leasesOfResult } from '../../src/cni/delegate';
import { ipamResult } from '../../src/cni/ipam-plugin';
import { invokedName, isIpamCall } from '../../src/cni/ipam-call';
import { parseIpamConf, parseNetConf } from '../../src/cni/netconf';
import { cniOwner } from '../../src/cni/owner';
import type { CniError } from '../../src/cni/spec';
import { type Attachment, decodeRoutes, encodeRoutes, fromExternalIds, toExternalIds } from '../../src/ovs/attachment';

const failure = (f: () => unknown) => {
  try {
    f();
  } catch (err) {
    return err as CniError;
  }
  throw new Error('expected a CniError');
};

const main = (ipam: Record<string, unknown>) =>
  JSON.stringify({
    cniVersion: '1.0.0',
    name: 'vlan41',
    type: 'podvlan',
    bridge: 'k8s_br',
    vlan: { id: 41 },
    ipam,
    stateDir: '/tmp/x',
    nodeConfig: '/dev/null',
  });
const underBridge = (ipam: Record<string, unknown>) =>
  JSON.stringify({ cniVersion: '1.0.0', name: 'lab', type: 'bridge', bridge: 'cni0', vlan: 5, ipam });
const pool = { type: 'host-local', subnet: '10.226.1.0/24', gateway: '10.226.1.1' };

describe('delegated ipam in the network config', () => {
  it('any type other than podvlan is a delegate; its keys are its own, podvlan has no pool', () => {
    const c = parseNetConf(main({ type: 'host-local', ranges: [[{ subnet: '10.226.2.0/24' }]] }), 'eth0');
    expect(c.ipamPlugin).toBe('host-local');
    expect(c.network.ipam).toBeUndefined();
    expect(parseNetConf(main({ type: 'podvlan', pool }), 'eth0').ipamPlugin).toBeUndefined();
  });

  it('a type that is not a plain file name is code 7, before anything else', () => {
    for (const type of ['../host-local', '..', 'a/b', '', '.hidden', 'x'.repeat(200), 'a..b'])
      expect(
        failure(() => parseNetConf(main({ type }), 'eth0')),
        type,
      ).toMatchObject({
        code: 7,
        message: expect.stringContaining('is not a plugin file name'),
      });
  });
});

describe('finding the delegate in CNI_PATH', () => {
  it('takes the first directory holding a regular file of that name', () => {
    expect(findPlugin('host-local', '/nonexistent:/usr/lib/cni')).toBe('/usr/lib/cni/host-local');
  });
  it('refuses a name with a path in it, an empty CNI_PATH (4), a name found nowhere (7)', () => {
    expect(failure(() => findPlugin('../cni/host-local', '/usr/lib/cni')).code).toBe(7);
    expect(failure(() => findPlugin('host-local', '')).code).toBe(4);
    expect(failure(() => findPlugin('host-local', undefined)).code).toBe(4);
    const none = failure(() => findPlugin('nonesuch', '/usr/lib/cni:/tmp'));
    expect(none).toMatchObject({ code: 7, details: 'CNI_PATH=/usr/lib/cni:/tmp' });
    expect(failure(() => findPlugin('lib', '/usr')).code).toBe(7); // a directory is not a plugin
  });
});

describe("a delegate's result as podvlan's lease", () => {
  it('1.0.0: the first address of each family, IPv4 first, each with its gateway and routes of its family', () => {
    const out = JSON.stringify({
      cniVersion: '1.0.0',
      ips: [
        { address: 'fd00:0::5/64', gateway: 'fd00::1' },
        { address: '10.226.2.5/24', gateway: '10.226.2.1' },
        { address: '10.9.0.1/24' },
        { address: 'fd00::6/64' },
      ],
      routes: [
        { dst: '0.0.0.0/0' },
        { dst: '10.8.0.0/16', gw: '10.226.2.254' },
        { dst: '::/0' },
        { dst: 'fd01::/48', gw: '10.9.9.9' },
      ],
      dns: {},
    });
    expect(leasesOfResult(out, 'x')).toEqual([
      {
        address: '10.226.2.5/24',
        gateway: '10.226.2.1',
        routes: [
          { dst: '0.0.0.0/0', via: '10.226.2.1' },
          { dst: '10.8.0.0/16', via: '10.226.2.254' },
        ],
      },
      // canonical text; a route whose gw is of the other family is left out
      { address: 'fd00::5/64', gateway: 'fd00::1', routes: [{ dst: '::/0', via: 'fd00::1' }] },
    ]);
  });
  it('0.3.x/0.4.0 (version in each IP) and 0.2.0 (ip4)', () => {
    const v04 = { cniVersion: '0.4.0', ips: [{ version: '4', address: '10.1.0.2/16' }] };
    expect(leasesOfResult(JSON.stringify(v04), 'x')).toEqual([{ address: '10.1.0.2/16', routes: [] }]);
    const v6only = { cniVersion: '0.4.0', ips: [{ version: '6', address: 'fd00::5/64' }] };
    expect(leasesOfResult(JSON.stringify(v6only), 'x')).toEqual([{ address: 'fd00::5/64', routes: [] }]);
    const v02 = {
      cniVersion: '0.2.0',
      ip4: { ip: '10.1.0.3/16', gateway: '10.1.0.1', routes: [{ dst: '0.0.0.0/0' }] },
    };
    expect(leasesOfResult(JSON.stringify(v02), 'x')).toEqual([
      {
        address: '10.1.0.3/16',
        gateway: '10.1.0.1',
        routes: [{ dst: '0.0.0.0/0', via: '10.1.0.1' }],
      },
    ]);
    const v02dual = { ...v02, ip6: { ip: 'fd00::3/64', gateway: 'fd00::1' } };
    expect(leasesOfResult(JSON.stringify(v02dual), 'x')[1]).toEqual({
      address: 'fd00::3/64',
      gateway: 'fd00::1',
      routes: [],
    });
  });
  it('no address is code 7, no JSON is code 6', () => {
    expect(failure(() => leasesOfResult(JSON.stringify({ ips: [{ address: 'nope' }] }), 'x')).code).toBe(7);
    expect(failure(() => leasesOfResult(JSON.stringify({ cniVersion: '1.0.0' }), 'x')).code).toBe(7);
    expect(failure(() => leasesOfResult('', 'x')).code).toBe(6);
    expect(failure(() => leasesOfResult('[1]', 'x')).code).toBe(6);
  });
});

describe('podvlan as an IPAM plugin', () => {
  it('is chosen when ipam.type is podvlan and the top-level type is not', () => {
    expect(isIpamCall(underBridge({ type: 'podvlan', pool }))).toBe(true);
    expect(isIpamCall(main({ type: 'podvlan', pool }))).toBe(false);
    expect(isIpamCall(underBridge({ type: 'host-local' }))).toBe(false);
    expect(isIpamCall('{')).toBe(false);
  });

  it("reads the pool and the node-wide keys from the ipam object only (the top level is the main plugin's)", () => {
    const c = parseIpamConf(
      underBridge({ type: 'podvlan', pool, stateDir: '/tmp/y', nodeName: 'node-a', nodeConfig: '/dev/null' }),
      'eth0',
    );
    expect(c.config.stateDir).toBe('/tmp/y');
    expect(c.config.nodeName).toBe('node-a');
    expect(c.network).toMatchObject({
      name: 'lab',
      interface: 'eth0',
      ipam: { type: 'host-local', subnet: pool.subnet },
    });
  });

  it('takes what the ipam object leaves out from its nodeConfig file; the ipam object wins', () => {
    const dir = mkdtempSync(join(tmpdir(), 'podvlan-ipam-'));
    const file = join(dir, 'podvlan.yaml');
    writeFileSync(file, 'stateDir: /tmp/from-node\nnodeName: node-b\netcd:\n  endpoints: [http://127.0.0.1:2379]\n');
    try {
      const etcdPool = { type: 'etcd', subnet: '10.226.0.0/24' };
      const c = parseIpamConf(
        underBridge({ type: 'podvlan', pool: etcdPool, nodeConfig: file, nodeName: 'node-a' }),
        'eth0',
      );
      expect(c.config).toMatchObject({ stateDir: '/tmp/from-node', nodeName: 'node-a', etcd: { prefix: '/podvlan' } });
      expect(ipamPools(c.network)[0].type).toBe('etcd');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses an unknown ipam key, a missing or invalid pool, an etcd pool without etcd (7)', () => {
    const bad = [
      { type: 'podvlan', pool, nodeConfig: '/dev/null', bogus: 1 },
      { type: 'podvlan', nodeConfig: '/dev/null' },
      { type: 'podvlan', pool: { ...pool, subnet: '10.226.1.0/33' }, nodeConfig: '/dev/null' },
      { type: 'podvlan', pool: { type: 'etcd', subnet: '10.226.0.0/24' }, nodeConfig: '/dev/null' },
    ];
    for (const ipam of bad) expect(failure(() => parseIpamConf(underBridge(ipam), 'eth0')).code).toBe(7);
    const msg = failure(() => parseIpamConf(underBridge(bad[2]), 'eth0')).message;
    expect(msg).toContain('ipam.pool.subnet');
  });

  it('prints an IPAM result: ips, routes, dns, no interfaces; version "4" before 1.0.0', () => {
    const lease = {
      address: '10.226.1.10/24',
      gateway: '10.226.1.1',
      routes: [{ dst: '10.226.0.0/16', via: '10.226.1.1' }],
    };
    expect(ipamResult('1.0.0', [lease])).toEqual({
      cniVersion: '1.0.0',
      ips: [{ address: '10.226.1.10/24', gateway: '10.226.1.1' }],
      routes: [{ dst: '10.226.0.0/16', gw: '10.226.1.1' }],
      dns: {},
    });
    expect(ipamResult('0.3.1', [{ ...lease, gateway: undefined }]).ips).toEqual([
      { version: '4', address: '10.226.1.10/24' },
    ]);
  });

  it('prints both families of a dual-stack pool, each with its version before 1.0.0, routes of both', () => {
    const leases = [
      { address: '10.226.1.10/24', gateway: '10.226.1.1', routes: [] },
      { address: 'fd00:226::a/64', gateway: 'fd00:226::1', routes: [{ dst: '::/0', via: 'fd00:226::1' }] },
    ];
    for (const v of ['0.3.1', '0.4.0'])
      expect(ipamResult(v, leases)).toMatchObject({
        ips: [
          { version: '4', address: '10.226.1.10/24', gateway: '10.226.1.1' },
          { version: '6', address: 'fd00:226::a/64', gateway: 'fd00:226::1' },
        ],
        routes: [{ dst: '::/0', gw: 'fd00:226::1' }],
      });
    expect(ipamResult('1.0.0', leases).ips).toEqual([
      { address: '10.226.1.10/24', gateway: '10.226.1.1' },
      { address: 'fd00:226::a/64', gateway: 'fd00:226::1' },
    ]);
  });
});

describe("the port record of a delegate's address", () => {
  const o = cniOwner('cnitool-77', 'vlan41', 'eth0');
  const a: Attachment = {
    namespace: o.ref.namespace,
    pod: o.ref.pod,
    containerId: o.ref.containerId,
    network: 'vlan41',
    interface: 'eth0',
    bridge: 'k8s_br',
    port: o.port,
    tag: 41,
    ips: ['10.226.2.5/24'],
    mac: '0a:58:0a:e2:02:05',
    runtime: 'cni',
    cniContainerId: 'cnitool-77',
    ipamPlugin: 'host-local',
    gateway: '10.226.2.1',
    routes: '10.226.0.0/16@10.226.2.1,0.0.0.0/0',
  };
  const back = (x: Attachment) => fromExternalIds(x.port, x.tag, toExternalIds(x));

  it('round-trips, and routes encode and decode', () => {
    expect(back(a)).toEqual(a);
    expect(decodeRoutes(a.routes!)).toEqual([{ dst: '10.226.0.0/16', via: '10.226.2.1' }, { dst: '0.0.0.0/0' }]);
    expect(encodeRoutes(decodeRoutes(a.routes!)!)).toBe(a.routes);
    expect(decodeRoutes('')).toEqual([]);
  });

  it('is refused unless every delegate field has the form podvlan writes', () => {
    const { runtime: _r, cniContainerId: _c, ...execRow } = a;
    const { ipamPlugin: _p, ...noPlugin } = a;
    const noIp = { ...a, ips: [] };
    for (const bad of [
      { ...a, ipamPlugin: '../host-local' },
      { ...a, ipamPlugin: '' },
      { ...a, gateway: '10.226.2' },
      { ...a, gateway: '10.226.2.1,10.226.2.2' }, // one per family
      { ...a, routes: 'fd00::/64@10.226.2.1' }, // via of another family
      { ...a, routes: '10.226.0.0/16@x' },
      { ...a, routes: '10.226.0.0/16@10.226.2.1@10.226.2.2' },
      { ...a, routes: Array(65).fill('0.0.0.0/0').join(',') },
      execRow, // a delegate's address is CNI-only
      noPlugin, // gateway and routes only with a delegate
      noIp, // a delegate always gives an address
    ])
      expect(back(bad as Attachment)).toBeUndefined();
  });
});

describe('which role a call is for, by the name podvlan was started under', () => {
  it('installed as acme-podvlan: its own type is the main plugin, another type with it as ipam is an IPAM call', () => {
    const conf = (type: string, ipam: string) => JSON.stringify({ type, ipam: { type: ipam } });
    expect(isIpamCall(conf('acme-podvlan', 'podvlan'), 'acme-podvlan')).toBe(false);
    expect(isIpamCall(conf('bridge', 'acme-podvlan'), 'acme-podvlan')).toBe(true);
    expect(isIpamCall(conf('bridge', 'podvlan'), 'acme-podvlan')).toBe(false);
    expect(invokedName('/opt/cni/bin/acme-podvlan')).toBe('acme-podvlan');
    expect(invokedName('podvlan')).toBe('podvlan');
    expect(invokedName('')).toBe('podvlan');
  });
});
