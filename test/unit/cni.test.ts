import { describe, expect, it } from 'vitest';
import { parseArgs, parseEnv } from '../../src/cni/env';
import { parseNetConf } from '../../src/cni/netconf';
import { cniOwner, ownerSelector } from '../../src/cni/owner';
import { buildResult } from '../../src/cni/result';
import { CniError, toErrorObject } from '../../src/cni/spec';
import { InvalidInputError, UnavailableError } from '../../src/errors';
import { cniHexId, isContainerId } from '../../src/names';
import { type Attachment, fromExternalIds, toExternalIds } from '../../src/ovs/attachment';

const env = (extra: Record<string, string>) => ({
  CNI_COMMAND: 'ADD',
  CNI_CONTAINERID: 'cnitool-0123abcd',
  CNI_NETNS: '/var/run/netns/a',
  CNI_IFNAME: 'eth0',
  ...extra,
});
const codeOf = (f: () => unknown) => {
  try {
    f();
  } catch (err) {
    return (err as CniError).code;
  }
  return undefined;
};
// Unused nodeConfig path would be read: point at one that exists and is empty of node keys.
const netconf = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    cniVersion: '1.0.0',
    name: 'vlan22',
    type: 'podvlan',
    bridge: 'k8s_br',
    vlan: { id: 22 },
    ipam: { type: 'podvlan', pool: { type: 'host-local', subnet: '10.231.0.0/24', gateway: '10.231.0.1' } },
    stateDir: '/tmp/x',
    nodeConfig: '/dev/null',
    ...extra,
  });

describe('CNI environment', () => {
  it('reads the verb, ids, netns, args and path', () => {
    const e = parseEnv(
      env({ CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME=22-a;FOO=bar', CNI_PATH: '/opt/cni/bin:/usr/lib/cni' }),
    );
    expect(e).toMatchObject({
      command: 'ADD',
      containerId: 'cnitool-0123abcd',
      ifname: 'eth0',
      netns: '/var/run/netns/a',
    });
    expect(e.args.K8S_POD_NAME).toBe('22-a');
    expect(e.path).toEqual(['/opt/cni/bin', '/usr/lib/cni']);
  });
  it('refuses a missing CNI_IFNAME, a bad container id and an unknown verb with code 4', () => {
    expect(codeOf(() => parseEnv(env({ CNI_IFNAME: '' })))).toBe(4);
    expect(codeOf(() => parseEnv(env({ CNI_CONTAINERID: '-x' })))).toBe(4);
    expect(codeOf(() => parseEnv(env({ CNI_COMMAND: 'FROB' })))).toBe(4);
    expect(codeOf(() => parseEnv(env({ CNI_NETNS: '' })))).toBe(4);
  });
  it('lets DEL come without a netns', () => {
    expect(parseEnv(env({ CNI_COMMAND: 'DEL', CNI_NETNS: '' })).netns).toBe('');
  });
  it('refuses unknown CNI_ARGS keys unless IgnoreUnknown', () => {
    expect(codeOf(() => parseArgs('FOO=1'))).toBe(4);
    expect(parseArgs('FOO=1;IgnoreUnknown=true').FOO).toBe('1');
    expect(parseArgs('K8S_POD_NAME=a;K8S_POD_NAMESPACE=b')).toEqual({ K8S_POD_NAME: 'a', K8S_POD_NAMESPACE: 'b' });
  });
});

describe('CNI network config', () => {
  it('becomes one podvlan network with CNI_IFNAME as its interface', () => {
    const c = parseNetConf(netconf(), 'net1');
    expect(c.network).toMatchObject({ name: 'vlan22', bridge: 'k8s_br', interface: 'net1', vlan: { id: 22 } });
    expect(c.network.ipam).toMatchObject({ type: 'host-local', subnet: '10.231.0.0/24' });
    expect(c.config.stateDir).toBe('/tmp/x');
  });
  it('gives code 1 for a cniVersion podvlan does not speak, 6 for non-JSON, 7 for invalid keys', () => {
    expect(codeOf(() => parseNetConf(netconf({ cniVersion: '0.2.0' }), 'eth0'))).toBe(1);
    expect(codeOf(() => parseNetConf('{', 'eth0'))).toBe(6);
    expect(codeOf(() => parseNetConf(netconf({ vlan: { id: 5000 } }), 'eth0'))).toBe(7);
    expect(parseNetConf(netconf({ ipam: { type: 'dhcp' } }), 'eth0').ipamPlugin).toBe('dhcp'); // delegated
    expect(codeOf(() => parseNetConf(netconf({ ipam: { type: 'podvlan', pool: { type: 'nope' } } }), 'eth0'))).toBe(7);
  });
  it('names the pool field in an ipam error', () => {
    try {
      parseNetConf(netconf({ ipam: { type: 'podvlan', pool: { type: 'host-local', subnet: 'x' } } }), 'eth0');
    } catch (err) {
      expect((err as Error).message).toContain('ipam.pool.subnet');
    }
  });
});

describe('CNI owner', () => {
  it('maps any CNI container id to the core form, stable and distinct per interface and network', () => {
    const a = cniOwner('default-web', 'vlan22', 'eth0');
    expect(isContainerId(a.ref.containerId)).toBe(true);
    expect(cniOwner('default-web', 'vlan22', 'eth0')).toEqual(a);
    expect(cniOwner('default-web', 'vlan22', 'eth1').port).not.toBe(a.port);
    expect(cniOwner('default-web', 'vlan33', 'eth0').port).not.toBe(a.port);
    expect(cniOwner('default-weB', 'vlan22', 'eth0').ref.containerId).not.toBe(a.ref.containerId);
    expect(ownerSelector(a)['podvlan/runtime']).toBe('cni');
  });
  it('reads back a CNI row, and refuses one whose digest does not match its runtime id', () => {
    const o = cniOwner('cnitool-77', 'vlan22', 'eth0');
    const a: Attachment = {
      namespace: o.ref.namespace,
      pod: o.ref.pod,
      containerId: o.ref.containerId,
      network: 'vlan22',
      interface: 'eth0',
      bridge: 'k8s_br',
      port: o.port,
      tag: 22,
      mac: '0a:58:0a:e7:00:02',
      ips: [],
      runtime: 'cni',
      cniContainerId: 'cnitool-77',
    };
    expect(fromExternalIds(a.port, 22, toExternalIds(a))).toEqual(a);
    expect(fromExternalIds(a.port, 22, toExternalIds({ ...a, cniContainerId: 'cnitool-78' }))).toBeUndefined();
    expect(fromExternalIds(a.port, 22, toExternalIds({ ...a, runtime: 'docker' }))).toBeUndefined();
    expect(cniHexId('cnitool-77')).toBe(a.containerId);
  });
});

describe('CNI result and errors', () => {
  const attachment = { port: 'pvabc', interface: 'eth0', mac: '0a:58:0a:e7:00:02' } as Attachment;
  const lease = { address: '10.231.0.2/24', gateway: '10.231.0.1', routes: [{ dst: '10.0.0.0/8', via: '10.231.0.1' }] };
  it('has version in ips before 1.0.0 only', () => {
    const old = buildResult({ cniVersion: '0.4.0', attachment, sandboxPath: '/n', leases: [lease] }) as {
      ips: object[];
    };
    expect(old.ips[0]).toEqual({ version: '4', address: '10.231.0.2/24', gateway: '10.231.0.1', interface: 1 });
    const v1 = buildResult({ cniVersion: '1.0.0', attachment, sandboxPath: '/n', leases: [lease] }) as Record<
      string,
      unknown
    >;
    expect(v1.ips).toEqual([{ address: '10.231.0.2/24', gateway: '10.231.0.1', interface: 1 }]);
    expect(v1.interfaces).toEqual([{ name: 'pvabc' }, { name: 'eth0', mac: '0a:58:0a:e7:00:02', sandbox: '/n' }]);
    expect(v1.routes).toEqual([{ dst: '10.0.0.0/8', gw: '10.231.0.1' }]);
  });
  it('carries both addresses of a dual-stack attachment, each with its gateway, on the pod interface; routes of both', () => {
    const v6 = { address: 'fd00:231::2/64', gateway: 'fd00:231::1', routes: [{ dst: '::/0', via: 'fd00:231::1' }] };
    for (const cniVersion of ['0.3.1', '0.4.0']) {
      const r = buildResult({ cniVersion, attachment, sandboxPath: '/n', leases: [lease, v6] }) as { ips: object[] };
      expect(r.ips).toEqual([
        { version: '4', address: '10.231.0.2/24', gateway: '10.231.0.1', interface: 1 },
        { version: '6', address: 'fd00:231::2/64', gateway: 'fd00:231::1', interface: 1 },
      ]);
    }
    const v1 = buildResult({ cniVersion: '1.0.0', attachment, sandboxPath: '/n', leases: [lease, v6] });
    expect(v1.ips).toEqual([
      { address: '10.231.0.2/24', gateway: '10.231.0.1', interface: 1 },
      { address: 'fd00:231::2/64', gateway: 'fd00:231::1', interface: 1 },
    ]);
    expect(v1.routes).toEqual([
      { dst: '10.0.0.0/8', gw: '10.231.0.1' },
      { dst: '::/0', gw: 'fd00:231::1' },
    ]);
    const only6 = buildResult({ cniVersion: '0.4.0', attachment, sandboxPath: '/n', leases: [v6] }) as {
      ips: object[];
    };
    expect(only6.ips).toEqual([{ version: '6', address: 'fd00:231::2/64', gateway: 'fd00:231::1', interface: 1 }]);
    expect(buildResult({ cniVersion: '1.0.0', attachment, sandboxPath: '/n', leases: [] }).ips).toEqual([]);
  });
  it('maps podvlan error kinds to spec codes', () => {
    expect(toErrorObject(new UnavailableError('down'), '1.0.0')).toEqual({
      cniVersion: '1.0.0',
      code: 11,
      msg: 'down',
    });
    expect(toErrorObject(new InvalidInputError('bad'), '0.4.0').code).toBe(7);
    expect(toErrorObject(new CniError(1, 'v', 'd'), '1.1.0')).toEqual({
      cniVersion: '1.1.0',
      code: 1,
      msg: 'v',
      details: 'd',
    });
    expect(toErrorObject(new Error('boom'), '1.1.0').code).toBe(999);
  });
});
