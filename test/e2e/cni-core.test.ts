// The CNI mode through a spec-following caller (test/support/cni.ts) on the sandbox's real OVS:
// VERSION, ADD of netns on two VLANs with traffic inside one and none across, the result's shape
// per cniVersion, a repeated ADD, DEL in every form runtimes send it, bad input answered with the
// spec's error object and nothing changed, and a CNI netns beside an exec-mode pod on one VLAN.
import { existsSync, mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import { execa } from 'execa';
import { cniOwner } from '../../src/cni/owner';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { addNetns, cni, delNetns, netnsAddress, netnsPing } from '../support/cni';
import { audit } from '../support/consistency';
import {
  BINARY,
  bridgePorts,
  hostVeths,
  ovsVsctl,
  portTag,
  runPlugin,
  stateFiles,
  writeConfig,
} from '../support/plugin';
import { canPing, podExec, startContainer } from '../support/sandbox';

const info = inject('sandbox');
const BRIDGE = 'cni_br';
const dir = join(info.dir, 'cni-core');
const stateDir = join(dir, 'state');
const tag = dir.slice(-6).replace(/[^a-z0-9]/g, 'x');
const nsName = (n: string) => `cni-${tag}-${n}`;
const made: string[] = [];

function netconf(name: string, vlan: number, extra: Record<string, unknown> = {}) {
  return {
    cniVersion: '1.0.0',
    name,
    type: 'podvlan',
    bridge: BRIDGE,
    datapathType: 'netdev',
    mtu: 1400,
    vlan: { id: vlan },
    ipam: {
      type: 'podvlan',
      pool: {
        type: 'host-local',
        subnet: '10.232.0.0/24',
        rangeStart: '10.232.0.10',
        rangeEnd: '10.232.0.99',
        gateway: '10.232.0.1',
      },
    },
    ovsdb: info.ovsdb,
    stateDir,
    logFile: join(dir, 'podvlan.log'),
    nodeConfig: '/dev/null', // this machine's /etc/podvlan must not leak in
    ...extra,
  };
}
const vlan22 = netconf('vlan22', 22);
// VLAN 33 takes addresses of the same subnet: only the tag keeps it apart from VLAN 22.
const vlan33 = netconf('vlan33', 33, {
  ipam: { type: 'podvlan', pool: { type: 'host-local', subnet: '10.232.0.0/24', rangeStart: '10.232.0.200' } },
});

async function netns(n: string): Promise<string> {
  made.push(nsName(n));
  return addNetns(nsName(n));
}

const add = (config: object, id: string, path: string, extra = {}) =>
  cni(info, 'ADD', config, { containerId: id, netns: path, ifname: 'eth0', ...extra });
const del = (config: object, id: string, path: string, extra = {}) =>
  cni(info, 'DEL', config, { containerId: id, netns: path, ifname: 'eth0', ...extra });

interface Result {
  cniVersion: string;
  interfaces: { name: string; mac?: string; sandbox?: string }[];
  ips: { address: string; gateway?: string; interface?: number; version?: string }[];
  routes: unknown[];
}

describe('CNI mode (spec-following caller)', () => {
  beforeAll(() => mkdirSync(dir, { recursive: true }));
  afterAll(async () => {
    // Also after a failure: the pod ends die with their netns (and the host ends with them), and
    // the bridge takes its ports along, so no later test file sees this file's attachments.
    for (const n of made) await delNetns(n);
    await ovsVsctl(info, ['--if-exists', 'del-br', BRIDGE]);
  });

  it('VERSION lists the supported versions, nothing on stderr', async () => {
    const r = await cni(info, 'VERSION', { cniVersion: '1.0.0' });
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.json).toEqual({ cniVersion: '1.0.0', supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] });
  });

  it('ADD puts two netns on VLAN 22 that reach each other, and one on VLAN 33 that reaches neither', async () => {
    const a = await netns('a');
    const b = await netns('b');
    const c = await netns('c');
    const ra = await add(vlan22, 'cnitool-0a', a);
    expect(ra.exitCode, ra.stdout).toBe(0);
    expect(ra.stderr).toBe('');
    const rb = await add(vlan22, 'default-web-b', b);
    expect(rb.exitCode, rb.stdout).toBe(0);
    const rc = await add(vlan33, 'cnitool-0c', c);
    expect(rc.exitCode, rc.stdout).toBe(0);
    const ipA = (ra.json as unknown as Result).ips[0].address.split('/')[0];
    const ipB = (rb.json as unknown as Result).ips[0].address.split('/')[0];
    expect(await netnsAddress(nsName('a'), 'eth0')).toBe(`${ipA}/24`);
    const ports = await bridgePorts(info, BRIDGE);
    const hostA = (ra.json as unknown as Result).interfaces[0].name;
    expect(ports).toContain(hostA);
    expect(await portTag(info, hostA)).toBe('22');
    expect(await portTag(info, (rc.json as unknown as Result).interfaces[0].name)).toBe('33');
    // The same external_ids as exec mode, plus the runtime and its own container id.
    const ids = await ovsVsctl(info, ['get', 'Port', hostA, 'external_ids']);
    expect(ids).toContain('"podvlan/runtime"=cni');
    expect(ids).toContain('"podvlan/cniContainerId"=cnitool-0a');
    expect(await netnsPing(nsName('a'), ipB)).toBe(true);
    expect(await netnsPing(nsName('b'), ipA)).toBe(true);
    expect(await netnsPing(nsName('c'), ipA)).toBe(false);
    expect(await netnsPing(nsName('a'), (rc.json as unknown as Result).ips[0].address.split('/')[0])).toBe(false);
    // podvlan list shows CNI attachments.
    const list = await runPlugin(info, ['list', '--output', 'json'], {
      config: writeConfig(info, join(dir, 'list'), [{ name: 'vlan22', bridge: BRIDGE, vlan: { id: 22 } }], {
        stateDir,
      }),
    });
    expect(list.exitCode, list.all).toBe(0);
    const rows = JSON.parse(list.stdout) as { port: string; runtime?: string; cniContainerId?: string; tag: number }[];
    expect(rows.find((x) => x.port === hostA)).toMatchObject({ runtime: 'cni', cniContainerId: 'cnitool-0a', tag: 22 });
    const table = await runPlugin(info, ['list'], { config: join(dir, 'list', 'podvlan.yaml') });
    expect(table.stdout.split('\n').find((l) => l.includes(hostA))).toContain('cni:cnitool-0a');
  });

  it('a repeated ADD is idempotent: same result, the very same port row', async () => {
    const a = `/var/run/netns/${nsName('a')}`;
    const before = await bridgePorts(info, BRIDGE);
    const port = cniOwner('cnitool-0a', 'vlan22', 'eth0').port;
    const uuid = await ovsVsctl(info, ['get', 'Port', port, '_uuid']);
    const r = await add(vlan22, 'cnitool-0a', a);
    expect(r.exitCode, r.stdout).toBe(0);
    expect((r.json as unknown as Result).interfaces[0].name).toBe(port);
    const again = await add(vlan22, 'cnitool-0a', a);
    expect(again.json).toEqual(r.json);
    expect(await bridgePorts(info, BRIDGE)).toEqual(before);
    expect(await ovsVsctl(info, ['get', 'Port', port, '_uuid'])).toBe(uuid);
  });

  // CHECK in depth (every field, every fault, prevResult versions): cni-check.test.ts.
  it('CHECK: 0 for the attachment as added, 3 for none, 100 for another netns', async () => {
    const a = `/var/run/netns/${nsName('a')}`;
    const b = `/var/run/netns/${nsName('b')}`;
    // The runtime sends the ADD's result as prevResult; a repeated ADD answers with that very result.
    const checked = { ...vlan22, prevResult: (await add(vlan22, 'cnitool-0a', a)).json };
    const ok = await cni(info, 'CHECK', checked, { containerId: 'cnitool-0a', netns: a, ifname: 'eth0' });
    expect(ok.exitCode, ok.stdout).toBe(0);
    expect(ok.stdout).toBe('');
    const none = await cni(info, 'CHECK', checked, { containerId: 'cnitool-none', netns: a, ifname: 'eth0' });
    expect(none.json?.code, none.stdout).toBe(3);
    const moved = await cni(info, 'CHECK', checked, { containerId: 'cnitool-0a', netns: b, ifname: 'eth0' });
    expect(moved.json?.code, moved.stdout).toBe(100);
  });

  it('podvlan gc leaves live CNI attachments alone (Docker does not know their ids)', async () => {
    const config = writeConfig(info, join(dir, 'gc'), [{ name: 'vlan22', bridge: BRIDGE, vlan: { id: 22 } }], {
      stateDir,
    });
    const ports = await bridgePorts(info, BRIDGE);
    const files = stateFiles(stateDir);
    const r = await runPlugin(info, ['gc'], { config });
    expect(r.exitCode, r.all).toBe(0);
    expect(await bridgePorts(info, BRIDGE)).toEqual(ports);
    expect(stateFiles(stateDir)).toEqual(files);
    expect(await netnsPing(nsName('a'), (await netnsAddress(nsName('b'), 'eth0')).split('/')[0])).toBe(true);
  });

  it('a failed ADD rolls back: no veth, no address, no lease; a port podvlan did not make stays', async () => {
    const path = await netns('fail');
    const port = cniOwner('cnitool-fail', 'vlan22', 'eth0').port;
    // A foreign port already holds the name podvlan would give this attachment's port.
    await ovsVsctl(info, ['add-port', BRIDGE, port, '--', 'set', 'Interface', port, 'type=internal']);
    const files = stateFiles(stateDir);
    try {
      const r = await add(vlan22, 'cnitool-fail', path);
      expect(r.exitCode).not.toBe(0);
      expect(r.json?.code, r.stdout).toBe(100);
      expect(r.stderr).toBe('');
      expect(stateFiles(stateDir)).toEqual(files);
      expect(await netnsAddress(nsName('fail'), 'eth0')).toBe('');
      expect((await execa('ip', ['-n', nsName('fail'), 'link', 'show', 'eth0'], { reject: false })).exitCode).not.toBe(
        0,
      );
      expect(await ovsVsctl(info, ['get', 'Port', port, 'name'])).toBe(port);
      // The runtime's DEL after a failed ADD succeeds and does not touch the foreign port.
      expect((await del(vlan22, 'cnitool-fail', path)).exitCode).toBe(0);
      expect(await ovsVsctl(info, ['get', 'Port', port, 'name'])).toBe(port);
    } finally {
      await ovsVsctl(info, ['del-port', BRIDGE, port]);
    }
  });

  it('installed under another name, a config of that type is a main-plugin call, own ipam and all', async () => {
    const bin = join(dir, 'acme-bin');
    mkdirSync(bin, { recursive: true });
    const acme = join(bin, 'acme-podvlan');
    if (!existsSync(acme)) symlinkSync(BINARY, acme);
    const config = { ...vlan22, type: 'acme-podvlan' };
    const path = await netns('acme');
    const r = await add(config, 'acme-1', path, { binary: acme });
    expect(r.exitCode, r.stdout).toBe(0);
    // A main plugin's result: the host and pod interfaces, the address on the pod's.
    const result = r.json as unknown as Result & { interfaces: { name: string }[] };
    expect(result.interfaces.map((i) => i.name)).toEqual([cniOwner('acme-1', 'vlan22', 'eth0').port, 'eth0']);
    expect(await netnsAddress(nsName('acme'), 'eth0')).toBe(result.ips[0].address);
    expect((await del(config, 'acme-1', path, { binary: acme })).exitCode).toBe(0);
    expect(await hostVeths(info)).not.toContain(cniOwner('acme-1', 'vlan22', 'eth0').port);
  });

  it('the result has the shape of each cniVersion', async () => {
    for (const [i, version] of ['0.3.1', '0.4.0', '1.0.0'].entries()) {
      const path = await netns(`v${i}`);
      const r = await add({ ...vlan22, cniVersion: version }, `ver-${i}`, path);
      expect(r.exitCode, r.stdout).toBe(0);
      const res = r.json as unknown as Result;
      expect(res.cniVersion).toBe(version);
      expect(res.interfaces).toHaveLength(2);
      expect(res.interfaces[0].mac).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
      expect(res.interfaces[1]).toMatchObject({ name: 'eth0', sandbox: path });
      expect(res.ips).toHaveLength(1);
      expect(res.ips[0]).toMatchObject({ gateway: '10.232.0.1', interface: 1 });
      if (version === '1.0.0') expect(res.ips[0].version).toBeUndefined();
      else expect(res.ips[0].version).toBe('4');
      expect((await del({ ...vlan22, cniVersion: version }, `ver-${i}`, path)).exitCode).toBe(0);
    }
  });

  it('bad input gives the spec error object, a non-zero exit, and changes nothing', async () => {
    const path = await netns('bad');
    const ports = await bridgePorts(info, BRIDGE);
    const files = stateFiles(stateDir);
    const cases: [string, Promise<Awaited<ReturnType<typeof cni>>>, number][] = [
      ['wrong cniVersion', add({ ...vlan22, cniVersion: '0.2.0' }, 'bad-1', path), 1],
      ['not JSON', cni(info, 'ADD', '{"cniVersion":', { containerId: 'bad-1', netns: path }), 6],
      ['invalid config', add({ ...vlan22, vlan: { id: 5000 } }, 'bad-1', path), 7],
      ['missing key', add({ ...vlan22, bridge: undefined }, 'bad-1', path), 7],
      ['missing CNI_IFNAME', add(vlan22, 'bad-1', path, { omit: ['CNI_IFNAME'] }), 4],
      ['netns that does not exist', add(vlan22, 'bad-1', `/var/run/netns/${nsName('nonesuch')}`), 4],
      ['unknown CNI_ARGS key', add(vlan22, 'bad-1', path, { args: 'FOO=bar' }), 4],
    ];
    for (const [what, run, code] of cases) {
      const r = await run;
      expect(r.exitCode, what).not.toBe(0);
      expect(r.stderr, what).toBe('');
      expect(r.json?.code, `${what}: ${r.stdout}`).toBe(code);
      expect(typeof r.json?.msg, what).toBe('string');
      expect(typeof r.json?.cniVersion, what).toBe('string');
    }
    expect(await bridgePorts(info, BRIDGE)).toEqual(ports);
    expect(stateFiles(stateDir)).toEqual(files);
    expect(await netnsAddress(nsName('bad'), 'eth0')).toBe('');
  });

  it('an exec-mode pod and a CNI netns on one bridge and VLAN reach each other', async () => {
    const config = writeConfig(info, join(dir, 'exec'), [
      {
        name: 'execnet',
        bridge: BRIDGE,
        datapathType: 'netdev',
        interface: 'eth1',
        vlan: { id: 22 },
        ipam: { type: 'host-local', subnet: '10.232.0.0/24', rangeStart: '10.232.0.100', rangeEnd: '10.232.0.150' },
      },
    ]);
    const id = await startContainer(info);
    const s = await runPlugin(info, ['setup', 'default', 'mixed', id], { config });
    expect(s.exitCode, s.all).toBe(0);
    const r = await podExec(info, id, ['ip', '-4', 'addr', 'show', 'eth1']);
    const execIp = /inet (\d+\.\d+\.\d+\.\d+)\//.exec(r.stdout)?.[1] ?? '';
    const cniIp = (await netnsAddress(nsName('a'), 'eth0')).split('/')[0];
    expect(await canPing(info, id, cniIp)).toBe(true);
    expect(await netnsPing(nsName('a'), execIp)).toBe(true);
    expect((await runPlugin(info, ['teardown', 'default', 'mixed', id], { config })).exitCode).toBe(0);
  });

  it('vlan fromPodName takes the tag from K8S_POD_NAME in CNI_ARGS (CRI form), checked against the range', async () => {
    const path = await netns('named');
    const byName = netconf('byname', 0, { vlan: { fromPodName: '^(\\d+)-', range: '40-49' } });
    const criArgs = (pod: string) =>
      `K8S_POD_NAMESPACE=default;K8S_POD_NAME=${pod};K8S_POD_INFRA_CONTAINER_ID=abc;K8S_POD_UID=u1;IgnoreUnknown=1`;
    const ports = await bridgePorts(info, BRIDGE);
    const outside = await add(byName, 'named-1', path, { args: criArgs('22-web') });
    expect(outside.json?.code, outside.stdout).toBe(7);
    const missing = await add(byName, 'named-1', path, { args: 'IgnoreUnknown=1' });
    expect(missing.json?.code, missing.stdout).toBe(4);
    expect(await bridgePorts(info, BRIDGE)).toEqual(ports);
    const r = await add(byName, 'named-1', path, { args: criArgs('42-web') });
    expect(r.exitCode, r.stdout).toBe(0);
    const port = (r.json as unknown as Result).interfaces[0].name;
    expect(await portTag(info, port)).toBe('42');
    // The second DEL of containerd's CRI: no netns; the owner is found from the ids alone.
    expect((await del(byName, 'named-1', '', { args: criArgs('42-web') })).exitCode).toBe(0);
    expect(await bridgePorts(info, BRIDGE)).toEqual(ports);
  });

  it('DEL after an interrupted ADD (veth and lease made, no port) removes the veth and frees the address', async () => {
    const path = await netns('cut');
    const r = await add(vlan22, 'cnitool-cut', path);
    expect(r.exitCode, r.stdout).toBe(0);
    const port = (r.json as unknown as Result).interfaces[0].name;
    const address = (r.json as unknown as Result).ips[0].address.split('/')[0];
    // What a kill between the veth and the OVS transaction leaves: remove the port row only.
    await ovsVsctl(info, ['del-port', BRIDGE, port]);
    expect(await hostVeths(info)).toContain(port);
    expect(stateFiles(stateDir).some((f) => f.endsWith(address))).toBe(true);
    expect((await del(vlan22, 'cnitool-cut', '')).exitCode).toBe(0);
    expect(await hostVeths(info)).not.toContain(port);
    expect(stateFiles(stateDir).some((f) => f.endsWith(address))).toBe(false);
  });

  it('DEL works twice, with an empty CNI_NETNS, after the netns is gone, and leaves nothing behind', async () => {
    const a = `/var/run/netns/${nsName('a')}`;
    const r1 = await del(vlan22, 'cnitool-0a', a);
    expect(r1.exitCode, r1.stdout).toBe(0);
    expect(r1.stdout).toBe('');
    expect((await del(vlan22, 'cnitool-0a', a)).exitCode).toBe(0);
    // containerd's second DEL and ctr's: no netns at all.
    const r2 = await del(vlan22, 'default-web-b', '');
    expect(r2.exitCode, r2.stdout).toBe(0);
    // The netns is gone before DEL (the veth went with it; the port and lease did not).
    await delNetns(nsName('c'));
    const r3 = await del(vlan33, 'cnitool-0c', `/var/run/netns/${nsName('c')}`);
    expect(r3.exitCode, r3.stdout).toBe(0);
    expect(await bridgePorts(info, BRIDGE)).toEqual([]);
    expect((await hostVeths(info)).length).toBe(0);
    expect(stateFiles(stateDir)).toEqual([]);
    expect(await audit(info, stateDir, [BRIDGE])).toEqual([]);
    expect(existsSync(join(stateDir, 'locks')) ? readdirSync(join(stateDir, 'locks')) : []).toEqual([]);
  });
});
