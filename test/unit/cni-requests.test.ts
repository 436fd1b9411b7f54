// What a CNI call asks for beyond the network config (src/cni/requests.ts, vlan.ts, match.ts): MAC
// and address requests from runtimeConfig (declared capabilities only) and CNI_ARGS, the VLAN from
// a pod annotation or the etcd pool's holder, match on K8S_POD_*, Kubernetes names on the port.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { k8sNamesOf, parseArgs, parseEnv } from '../../src/cni/env';
import { checkMatch } from '../../src/cni/match';
import { parseNetConf } from '../../src/cni/netconf';
import { cniOwner } from '../../src/cni/owner';
import { declaredRuntimeConfig, parseMac, parseRequest, parseRequests, podAnnotations } from '../../src/cni/requests';
import { holderFor, planVlan } from '../../src/cni/vlan';
import { parseConfig } from '../../src/config/load';
import { HostLocalPool } from '../../src/ipam/host-local';
import { LeaseDir } from '../../src/ipam/lease-dir';
import { StaticPool } from '../../src/ipam/static';
import { type Attachment, fromExternalIds, toExternalIds } from '../../src/ovs/attachment';

const codeOf = (f: () => unknown) => {
  try {
    f();
  } catch (err) {
    return (err as { code?: number }).code;
  }
  return undefined;
};
const messageOf = (f: () => unknown) => {
  try {
    f();
  } catch (err) {
    return (err as Error).message;
  }
  return undefined;
};
const netconf = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    cniVersion: '1.0.0',
    name: 'pods',
    type: 'podvlan',
    bridge: 'k8s_br',
    vlan: { id: 22 },
    stateDir: '/tmp/x',
    nodeConfig: '/dev/null',
    ...extra,
  });
const cniEnv = (args: string) =>
  parseEnv({
    CNI_COMMAND: 'ADD',
    CNI_CONTAINERID: 'c1',
    CNI_NETNS: '/var/run/netns/a',
    CNI_IFNAME: 'eth0',
    CNI_ARGS: args,
  });
const ANN = 'io.kubernetes.cri.pod-annotations';

describe('runtimeConfig: only what the config declares', () => {
  it('drops keys of capabilities not declared (CONVENTIONS.md), keeps declared ones in every spelling', () => {
    const rc = { mac: '02:00:00:00:00:01', ips: ['10.0.0.5'], portMappings: [], [ANN]: { a: 'b' } };
    expect(declaredRuntimeConfig(rc, {})).toEqual({});
    expect(declaredRuntimeConfig(rc, undefined)).toEqual({});
    expect(declaredRuntimeConfig(rc, { mac: true })).toEqual({ mac: '02:00:00:00:00:01' });
    expect(declaredRuntimeConfig(rc, { mac: false, ips: true })).toEqual({ ips: ['10.0.0.5'] });
    // containerd CRI's Go field names count under the spec's capability name.
    expect(declaredRuntimeConfig({ Mac: 'x', IPs: ['y'], MAC: 'z' }, { mac: true, ips: true })).toEqual({
      Mac: 'x',
      IPs: ['y'],
      MAC: 'z',
    });
    expect(declaredRuntimeConfig({ Mac: 'x' }, { Mac: true })).toEqual({});
    expect(declaredRuntimeConfig('nonsense', { mac: true })).toEqual({});
  });

  it('netconf passes on the declared runtimeConfig only', () => {
    const c = parseNetConf(
      netconf({ capabilities: { mac: true }, runtimeConfig: { mac: '02:00:00:00:00:01', ips: ['10.0.0.5'] } }),
      'eth0',
    );
    expect(c.runtimeConfig).toEqual({ mac: '02:00:00:00:00:01' });
  });
});

describe('MAC and address requests', () => {
  it('a MAC: six octets, unicast, not zero; normalised to lower case with colons', () => {
    expect(parseMac('02:AB:cd:00:00:01', 'x', 7)).toBe('02:ab:cd:00:00:01');
    expect(parseMac('02-ab-cd-00-00-01', 'x', 7)).toBe('02:ab:cd:00:00:01');
    for (const bad of ['01:00:5e:00:00:01', 'ff:ff:ff:ff:ff:ff', '03:00:00:00:00:01']) {
      expect(messageOf(() => parseMac(bad, 'runtimeConfig.mac', 7))).toMatch(/multicast/);
    }
    for (const bad of ['02:00:00:00:00', '02:00:00:00:00:00:01', 'zz:00:00:00:00:01', '', 5, null, '0200.0000.0001'])
      expect(codeOf(() => parseMac(bad, 'runtimeConfig.mac', 7))).toBe(7);
    expect(codeOf(() => parseMac('00:00:00:00:00:00', 'CNI_ARGS MAC', 4))).toBe(4);
  });

  it('an address: IPv4 or IPv6 (canonical), bare or as a CIDR', () => {
    expect(parseRequest('10.0.0.5', 'x', 7)).toEqual({ address: '10.0.0.5', from: 'x' });
    expect(parseRequest('10.0.0.5/24', 'x', 7)).toEqual({ address: '10.0.0.5', prefixLength: 24, from: 'x' });
    expect(parseRequest('fd00::5', 'x', 7)).toEqual({ address: 'fd00::5', from: 'x' });
    expect(parseRequest('FD00:0:0::5/64', 'x', 7)).toEqual({ address: 'fd00::5', prefixLength: 64, from: 'x' });
    for (const bad of [
      '10.0.0',
      '10.0.0.256',
      '10.0.0.5/33',
      'fd00::5/129',
      'fd00::5/064',
      'fd00:::5',
      '',
      42,
      '10.0.0.5/',
    ])
      expect(codeOf(() => parseRequest(bad, 'x', 7))).toBe(7);
  });

  it('runtimeConfig (7 when wrong) wins over CNI_ARGS (4 when wrong)', () => {
    expect(parseRequests({}, {})).toEqual({ ips: [] });
    expect(parseRequests({ mac: '02:00:00:00:00:01', ips: ['10.0.0.5/24'] }, {})).toEqual({
      mac: '02:00:00:00:00:01',
      ips: [{ address: '10.0.0.5', prefixLength: 24, from: 'runtimeConfig.ips' }],
    });
    // podman: MAC= and IP= in CNI_ARGS.
    expect(parseRequests({}, { MAC: '02:00:00:00:00:02', IP: '10.0.0.6' })).toEqual({
      mac: '02:00:00:00:00:02',
      ips: [{ address: '10.0.0.6', from: 'CNI_ARGS IP' }],
    });
    // podman network reload: MAC= in CNI_ARGS and runtimeConfig.ips.
    expect(parseRequests({ ips: ['10.0.0.7'] }, { MAC: '02:00:00:00:00:02', IP: '10.0.0.6' })).toEqual({
      mac: '02:00:00:00:00:02',
      ips: [{ address: '10.0.0.7', from: 'runtimeConfig.ips' }],
    });
    expect(parseRequests({ mac: '02:00:00:00:00:01' }, { MAC: '02:00:00:00:00:02' }).mac).toBe('02:00:00:00:00:01');
    expect(parseRequests({ Mac: '02:00:00:00:00:03', IPs: ['10.0.0.8'] }, {})).toMatchObject({
      mac: '02:00:00:00:00:03',
      ips: [{ address: '10.0.0.8', from: 'runtimeConfig.IPs' }],
    });
    expect(codeOf(() => parseRequests({ mac: 'nope' }, {}))).toBe(7);
    expect(codeOf(() => parseRequests({}, { MAC: 'nope' }))).toBe(4);
    expect(codeOf(() => parseRequests({}, { IP: '10.0.0.1,nope' }))).toBe(4);
    expect(codeOf(() => parseRequests({ ips: '10.0.0.5' }, {}))).toBe(7);
    expect(messageOf(() => parseRequests({ ips: ['10.0.0.5', '10.0.0.6'] }, {}))).toMatch(/one address per family/);
    expect(codeOf(() => parseRequests({}, { IP: '10.0.0.5,10.0.0.6' }))).toBe(4);
    expect(codeOf(() => parseRequests({}, { IP: 'fd00::5,fd00::6' }))).toBe(4);
    // One of each family: a dual-stack request.
    expect(parseRequests({ ips: ['10.0.0.5/24', 'fd00::5/64'] }, {}).ips).toEqual([
      { address: '10.0.0.5', prefixLength: 24, from: 'runtimeConfig.ips' },
      { address: 'fd00::5', prefixLength: 64, from: 'runtimeConfig.ips' },
    ]);
    expect(parseRequests({}, { IP: 'fd00::5,10.0.0.5' }).ips.map((r) => r.address)).toEqual(['fd00::5', '10.0.0.5']);
    expect(messageOf(() => parseRequests({ mac: '02:00:00:00:00:01', Mac: '02:00:00:00:00:02' }, {}))).toMatch(
      /both "mac" and "Mac"/,
    );
  });

  it('CNI_ARGS knows MAC and IP (podman sends them with IgnoreUnknown=1, but need not)', () => {
    expect(parseArgs('MAC=02:00:00:00:00:01;IP=10.0.0.5')).toEqual({ MAC: '02:00:00:00:00:01', IP: '10.0.0.5' });
  });
});

describe('pool: a requested address exactly, or a refusal', () => {
  const spec = {
    subnet: '10.9.0.0/24',
    rangeStart: '10.9.0.10',
    rangeEnd: '10.9.0.20',
    gateway: '10.9.0.1',
    exclude: ['10.9.0.15'],
    routes: [],
  };
  const owner = (id: string) => ({
    network: 'n',
    namespace: 'cni',
    pod: `cni-${id}`,
    containerId: id.repeat(64).slice(0, 64),
    interface: 'eth0',
  });

  it('host-local: inside the range, not the gateway or excluded, the subnet prefix, not taken', async () => {
    const pool = new HostLocalPool(new LeaseDir(mkdtempSync(join(tmpdir(), 'req-'))), spec);
    const a = owner('a');
    expect((await pool.acquireRequested(a, { address: '10.9.0.12' })).address).toBe('10.9.0.12/24');
    // The owner's own lease again (a repeated ADD), with or without the prefix.
    expect((await pool.acquireRequested(a, { address: '10.9.0.12', prefixLength: 24 })).address).toBe('10.9.0.12/24');
    await expect(pool.acquireRequested(owner('b'), { address: '10.9.0.12' })).rejects.toThrow(/already held by/);
    await expect(pool.acquireRequested(owner('b'), { address: '10.9.0.30' })).rejects.toThrow(/outside range/);
    await expect(pool.acquireRequested(owner('b'), { address: '10.9.0.15' })).rejects.toThrow(/excluded/);
    await expect(pool.acquireRequested(owner('b'), { address: '10.9.0.13', prefixLength: 16 })).rejects.toThrow(
      /subnet is 10.9.0.0\/24/,
    );
    await expect(pool.acquireRequested(a, { address: '10.9.0.13' })).rejects.toThrow(/already holds 10.9.0.12/);
    // acquire (no request) still prefers, never refuses.
    expect((await pool.acquire(owner('c'))).address).not.toBe('10.9.0.12/24');
  });

  it('static: only its one address', async () => {
    const pool = new StaticPool(new LeaseDir(mkdtempSync(join(tmpdir(), 'req-'))), {
      address: '10.9.0.5/24',
      routes: [],
    });
    await expect(pool.acquireRequested(owner('a'), { address: '10.9.0.6' })).rejects.toThrow(/static address/);
    expect((await pool.acquireRequested(owner('a'), { address: '10.9.0.5' })).address).toBe('10.9.0.5/24');
  });
});

describe('VLAN from a pod annotation, from the etcd pool, match', () => {
  const byAnnotation = (range?: string, extra: Record<string, unknown> = {}) =>
    parseNetConf(
      netconf({
        vlan: { fromAnnotation: 'podvlan.io/vlan', ...(range ? { range } : {}) },
        capabilities: { [ANN]: true },
        ...extra,
      }),
      'eth0',
    );
  const plan = (c: ReturnType<typeof parseNetConf>, annotations?: Record<string, string>, args = '') =>
    planVlan(c.network, cniEnv(args), c.config.networks, annotations ? { [ANN]: annotations } : {});

  it('the tag is the annotation, inside the range', () => {
    const c = byAnnotation('20-40');
    expect(plan(c, { 'podvlan.io/vlan': '22', other: 'x' })).toEqual({ tag: 22 });
    expect(plan(c, { 'podvlan.io/vlan': ' 40 ' })).toEqual({ tag: 40 });
    expect(messageOf(() => plan(c, { 'podvlan.io/vlan': '41' }))).toMatch(/VLAN 41 from annotation .* outside/);
    expect(messageOf(() => plan(c, { other: '22' }))).toMatch(/has no annotation podvlan.io\/vlan/);
    expect(messageOf(() => plan(c))).toMatch(/sent no pod annotations/);
    for (const bad of ['abc', '22a', '0', '4095', '', '-3', '2.5'])
      expect(messageOf(() => plan(c, { 'podvlan.io/vlan': bad }))).toMatch(/is not a VLAN number/);
    for (const value of ['41', 'abc']) expect(codeOf(() => plan(c, { 'podvlan.io/vlan': value }))).toBe(7);
    expect(codeOf(() => plan(c))).toBe(7);
    expect(codeOf(() => plan(c, {}))).toBe(7);
    expect(codeOf(() => planVlan(c.network, cniEnv(''), c.config.networks, { [ANN]: { 'podvlan.io/vlan': 22 } }))).toBe(
      7,
    );
  });

  it('without a range, any tag 1-4094 (no other network on the bridge in a CNI config)', () => {
    expect(plan(byAnnotation(), { 'podvlan.io/vlan': '4094' })).toEqual({ tag: 4094 });
  });

  it('the config must declare the annotations capability, and name a key in annotation form', () => {
    expect(messageOf(() => byAnnotation(undefined, { capabilities: {} }))).toMatch(
      /fromAnnotation needs "capabilities": \{"io.kubernetes.cri.pod-annotations": true\}/,
    );
    expect(codeOf(() => byAnnotation(undefined, { capabilities: { mac: true } }))).toBe(7);
    expect(
      codeOf(() =>
        parseNetConf(netconf({ vlan: { fromAnnotation: 'bad key!' }, capabilities: { [ANN]: true } }), 'eth0'),
      ),
    ).toBe(7);
    expect(
      codeOf(() =>
        parseNetConf(
          netconf({ vlan: { fromAnnotation: 'a/b', range: '5000-6000' }, capabilities: { [ANN]: true } }),
          'eth0',
        ),
      ),
    ).toBe(7);
    // Annotations the config did not declare are not read, even when sent.
    const c = parseNetConf(netconf({ runtimeConfig: { [ANN]: { 'podvlan.io/vlan': '22' } } }), 'eth0');
    expect(podAnnotations(c.runtimeConfig)).toBeUndefined();
  });

  it('exec mode (podvlan.yaml) refuses fromAnnotation at load, with one line', () => {
    const yaml =
      'networks:\n  - name: a\n    bridge: br0\n    vlan: { fromAnnotation: podvlan.io/vlan, range: "20-40" }\n';
    const msg = messageOf(() => parseConfig(yaml, '/etc/podvlan/podvlan.yaml'));
    expect(msg).toMatch(/networks.0.vlan: fromAnnotation works only in CNI mode/);
    expect(msg).not.toContain('\n');
  });

  it('a pool VLAN is per K8S_POD_NAMESPACE (or namespace/pod); without the name: 4', () => {
    const etcd = { endpoints: ['http://127.0.0.1:2379'] };
    const pool = (per: string) => parseNetConf(netconf({ vlan: { pool: '100-199', per }, etcd }), 'eth0');
    expect(plan(pool('namespace'), undefined, 'K8S_POD_NAMESPACE=team-a;K8S_POD_NAME=web-1')).toEqual({
      holder: 'team-a',
    });
    expect(plan(pool('pod'), undefined, 'K8S_POD_NAMESPACE=team-a;K8S_POD_NAME=web-1')).toEqual({
      holder: 'team-a/web-1',
    });
    expect(codeOf(() => plan(pool('namespace'), undefined, 'K8S_POD_NAME=web-1'))).toBe(4);
    expect(codeOf(() => plan(pool('namespace'), undefined, 'K8S_POD_NAMESPACE=Team_A'))).toBe(4);
    expect(codeOf(() => plan(pool('pod'), undefined, 'K8S_POD_NAMESPACE=team-a'))).toBe(4);
    // DEL: the holder from the names the port recorded (or CNI_ARGS).
    expect(holderFor(pool('namespace').network, { k8sNamespace: 'team-a' })).toBe('team-a');
    expect(holderFor(pool('pod').network, { k8sNamespace: 'team-a', k8sPod: 'web-1' })).toBe('team-a/web-1');
    expect(holderFor(pool('pod').network, { k8sNamespace: 'team-a' })).toBeUndefined();
    expect(holderFor(pool('namespace').network, {})).toBeUndefined();
  });

  it('match selects by K8S_POD_NAMESPACE / K8S_POD_NAME: others are refused with 7, no names with 4', () => {
    const c = parseNetConf(netconf({ match: { namespace: '^team-', podName: '^web-' } }), 'eth0');
    expect(c.network.match).toEqual({ namespace: '^team-', podName: '^web-' });
    expect(() => checkMatch(c.network, cniEnv('K8S_POD_NAMESPACE=team-a;K8S_POD_NAME=web-1'))).not.toThrow();
    expect(codeOf(() => checkMatch(c.network, cniEnv('K8S_POD_NAMESPACE=prod;K8S_POD_NAME=web-1')))).toBe(7);
    expect(messageOf(() => checkMatch(c.network, cniEnv('K8S_POD_NAMESPACE=team-a;K8S_POD_NAME=db-1')))).toMatch(
      /does not match match.podName "\^web-" of network pods/,
    );
    expect(codeOf(() => checkMatch(c.network, cniEnv('K8S_POD_NAME=web-1')))).toBe(4);
    expect(() => checkMatch(parseNetConf(netconf(), 'eth0').network, cniEnv(''))).not.toThrow();
    expect(codeOf(() => parseNetConf(netconf({ match: { namespace: '(' } }), 'eth0'))).toBe(7);
    expect(codeOf(() => parseNetConf(netconf({ match: { team: 'a' } }), 'eth0'))).toBe(7);
  });
});

describe('Kubernetes names on the port', () => {
  const owner = cniOwner('abc123', 'pods', 'eth0');
  const a: Attachment = {
    namespace: owner.ref.namespace,
    pod: owner.ref.pod,
    containerId: owner.ref.containerId,
    network: 'pods',
    interface: 'eth0',
    bridge: 'k8s_br',
    port: owner.port,
    tag: 22,
    ips: [],
    mac: '02:00:00:00:00:01',
    runtime: 'cni',
    cniContainerId: 'abc123',
    k8sNamespace: 'team-a',
    k8sPod: 'web-1',
  };

  it('only valid names are taken from CNI_ARGS', () => {
    expect(k8sNamesOf({ K8S_POD_NAMESPACE: 'team-a', K8S_POD_NAME: 'web-1' })).toEqual({
      k8sNamespace: 'team-a',
      k8sPod: 'web-1',
    });
    expect(k8sNamesOf({ K8S_POD_NAMESPACE: 'Team A', K8S_POD_NAME: 'x/y' })).toEqual({});
    expect(k8sNamesOf({ K8S_POD_NAME: 'busy_bee' })).toEqual({});
  });

  it('are written and read back, and a row with a forged or misplaced name is not ours', () => {
    const ids = toExternalIds(a);
    expect(ids['podvlan/k8sNamespace']).toBe('team-a');
    expect(ids['podvlan/k8sPod']).toBe('web-1');
    expect(fromExternalIds(a.port, 22, ids)).toEqual(a);
    expect(fromExternalIds(a.port, 22, { ...ids, 'podvlan/k8sNamespace': 'Team A' })).toBeUndefined();
    expect(fromExternalIds(a.port, 22, { ...ids, 'podvlan/k8sPod': '../x' })).toBeUndefined();
    // Exec rows are named by their Kubernetes names already: the keys do not belong there.
    const { runtime, cniContainerId, k8sNamespace, k8sPod, ...exec } = a;
    void [runtime, cniContainerId, k8sNamespace, k8sPod];
    expect(fromExternalIds(a.port, 22, { ...toExternalIds(exec), 'podvlan/k8sPod': 'web-1' })).toBeUndefined();
  });
});

describe('requests under a delegated IPAM plugin', () => {
  it('leaves the address requests to the delegate (IPv6, several) and still reads the MAC', () => {
    const args = { IgnoreUnknown: '1', IP: '10.0.0.5,fd00::5,fd00::6', MAC: '02:00:00:00:00:07' };
    expect(() => parseRequests({}, args)).toThrow(); // two IPv6: podvlan's own pools give one per family
    expect(parseRequests({ ips: ['fd00::5/64', '10.0.0.5/24'] }, args, false)).toEqual({
      ips: [],
      mac: '02:00:00:00:00:07',
    });
  });
});
