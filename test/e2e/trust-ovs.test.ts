// What podvlan trusts in OVSDB and what it calls attached: a foreign or forged row is never acted
// on, a bridge or port ovs-vswitchd did not attach is a failure that leaves nothing behind, and a
// renamed node keeps what it made.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { hostVethName } from '../../src/names';
import { audit, leaseFiles, ourPorts, podRecords } from '../support/consistency';
import { bridgePorts, hostVeths, runPlugin, teardownAll, writeConfig } from '../support/plugin';
import { canPing, podExec, startContainer } from '../support/sandbox';

const info = inject('sandbox');
const dir = join(info.dir, 'trust-ovs');
const BRIDGE = 'tru_br';
const network = (extra: Record<string, unknown> = {}) => ({
  name: 'vlannet',
  bridge: BRIDGE,
  datapathType: 'netdev',
  primary: true,
  vlan: { fromPodName: '^(\\d+)-' },
  ipam: { type: 'host-local', subnet: '10.236.0.0/24', gateway: '10.236.0.1' },
  ...extra,
});
const config = writeConfig(info, dir, [network()], { nodeName: 'node-old' });
const run = (...args: string[]) => runPlugin(info, args, { config });
const ipOf = async (id: string) =>
  /inet (\S+)\//.exec((await podExec(info, id, ['ip', '-4', 'addr', 'show', 'eth1'])).stdout)?.[1] ?? '';
const linkExists = async (name: string) =>
  (await execa('ip', ['-n', info.netns, 'link', 'show', name], { reject: false })).exitCode === 0;
const DEAD = 'd'.repeat(64); // a container id Docker does not know
// Named exactly as podvlan names its ports, so only the check of the values stops them.
const TRAVERSAL = hostVethName('default', '22-trav', '../../outside');
const ETC = hostVethName('default', '22-etc', '../../../../etc');

/** A port made by hand with podvlan's keys, on a real veth: what a foreign tool or a forger leaves. */
async function handMadePort(port: string, ids: Record<string, string>): Promise<void> {
  await execa('ip', ['-n', info.netns, 'link', 'add', port, 'type', 'veth', 'peer', 'name', `${port.slice(0, 12)}p`]);
  await execa('ip', ['-n', info.netns, 'link', 'set', port, 'up']);
  const all = {
    'podvlan/managed': 'true',
    'podvlan/containerId': DEAD,
    'podvlan/interface': 'eth1',
    'podvlan/bridge': BRIDGE,
    'podvlan/mac': '0a:58:0a:ec:00:4d',
    ...ids,
  };
  await execa('ovs-vsctl', [
    `--db=${info.ovsdb}`,
    'add-port',
    BRIDGE,
    port,
    '--',
    'set',
    'Port',
    port,
    'tag=22',
    ...Object.entries(all).map(([k, v]) => `external_ids:"${k}"="${v}"`),
  ]);
}

describe('rows podvlan did not write are never acted on', () => {
  beforeAll(async () => {
    expect((await run('init')).exitCode).toBe(0);
  });
  afterAll(async () => {
    await teardownAll(info, config, [BRIDGE]);
    for (const p of ['rvuplink0', 'rvforeign1', TRAVERSAL, ETC]) {
      await execa('ovs-vsctl', [`--db=${info.ovsdb}`, '--if-exists', 'del-port', p], { reject: false });
      await execa('ip', ['-n', info.netns, 'link', 'del', p], { reject: false });
    }
  });

  it('a foreign port with podvlan/managed=true and a host link is left alone by gc and list', async () => {
    await handMadePort('rvuplink0', {
      'podvlan/namespace': 'default',
      'podvlan/pod': '22-foreign',
      'podvlan/network': 'vlannet',
      'podvlan/ip': '10.236.0.77/24',
    });
    const gc = await run('gc', '-o', 'json');
    expect(gc.exitCode, gc.all).toBe(0);
    expect(JSON.parse(gc.stdout).actions).toEqual([]);
    expect(await linkExists('rvuplink0')).toBe(true);
    expect(await bridgePorts(info, BRIDGE)).toContain('rvuplink0');
    const list = await run('list', '-o', 'json');
    expect(JSON.parse(list.stdout)).toEqual([]);
  });

  it('a pod record naming a foreign link: neither teardown nor gc deletes it', async () => {
    // Pod records are files; their port names become ip arguments only as the pod's own veth names.
    await execa('ip', ['-n', info.netns, 'link', 'add', 'rvforeign1', 'type', 'veth', 'peer', 'name', 'rvforeign2']);
    const pods = join(dir, 'state', 'pods');
    mkdirSync(pods, { recursive: true });
    const record = (pod: string, ready: boolean) =>
      writeFileSync(
        join(pods, `default_${pod}.json`),
        JSON.stringify({
          namespace: 'default',
          pod,
          containerId: DEAD,
          ready,
          attachments: [{ network: 'vlannet', interface: 'eth1', port: 'rvforeign1', tag: 22 }],
        }),
      );
    record('22-forged', false);
    expect((await run('teardown', 'default', '22-forged', DEAD)).exitCode).toBe(0);
    expect(await linkExists('rvforeign1')).toBe(true);
    record('22-forged2', false);
    const gc = await run('gc', '-o', 'json');
    expect(gc.exitCode, gc.all).toBe(0);
    expect(JSON.parse(gc.stdout).actions.filter((x: { target: string }) => x.target === 'rvforeign1')).toEqual([]);
    expect(await linkExists('rvforeign1')).toBe(true);
    await execa('rm', ['-f', join(pods, 'default_22-forged2.json')]);
  });

  it('a row whose network is a path (../../../../etc) is ignored: nothing outside the state dir touched', async () => {
    // Old code: gc took the row for a dead container's port and "released" its lease at
    // <stateDir>/ipam/<network>/<ip>, here a file outside the state dir that we watch.
    const outside = join(dir, 'outside');
    mkdirSync(outside, { recursive: true });
    const bait = join(outside, '10.236.0.78');
    const owner = {
      network: '../../outside',
      namespace: 'default',
      pod: '22-trav',
      containerId: DEAD,
      interface: 'eth1',
    };
    writeFileSync(bait, JSON.stringify({ ...owner, address: '10.236.0.78', since: 'then' }));
    await handMadePort(TRAVERSAL, {
      'podvlan/namespace': 'default',
      'podvlan/pod': '22-trav',
      'podvlan/network': owner.network,
      'podvlan/ip': '10.236.0.78/24',
    });
    await handMadePort(ETC, {
      'podvlan/namespace': 'default',
      'podvlan/pod': '22-etc',
      'podvlan/network': '../../../../etc',
      'podvlan/ip': '10.236.0.79/24',
    });
    const gc = await run('gc', '-o', 'json');
    expect(gc.exitCode, gc.all).toBe(0);
    expect(JSON.parse(gc.stdout).actions).toEqual([]);
    expect(existsSync(bait)).toBe(true);
    expect(await linkExists(TRAVERSAL)).toBe(true);
    expect(await bridgePorts(info, BRIDGE)).toEqual(expect.arrayContaining([TRAVERSAL, ETC]));
    expect(JSON.parse((await run('list', '-o', 'json')).stdout)).toEqual([]);
    // A real pod beside them is still found and torn down.
    const id = await startContainer(info);
    expect((await run('setup', 'default', '22-real', id)).exitCode).toBe(0);
    expect(JSON.parse((await run('list', '-o', 'json')).stdout).map((a: { pod: string }) => a.pod)).toEqual([
      '22-real',
    ]);
    expect((await run('teardown', 'default', '22-real', id)).exitCode).toBe(0);
    expect(existsSync(bait)).toBe(true);
  });
});

describe('what ovs-vswitchd never attached is a failure, and leaves nothing behind', () => {
  // No openvswitch kernel module on this machine: a system-datapath bridge never comes up.
  const sysDir = join(info.dir, 'trust-ovs-sys');
  const bridgeExists = async (b: string) =>
    (await execa('ovs-vsctl', [`--db=${info.ovsdb}`, 'br-exists', b], { reject: false })).exitCode === 0;
  afterAll(async () => {
    for (const b of ['tru_sys', 'tru_sys2'])
      await execa('ovs-vsctl', [`--db=${info.ovsdb}`, '--if-exists', 'del-br', b], { reject: false });
  });

  it('init with a system-datapath bridge fails: one line naming bridge and kernel module, no bridge left', async () => {
    const cfg = writeConfig(info, join(sysDir, 'init'), [network({ bridge: 'tru_sys', datapathType: 'system' })]);
    const r = await runPlugin(info, ['init'], { config: cfg });
    expect(r.exitCode, r.all).toBe(8);
    expect(r.all.trim().split('\n')).toHaveLength(1);
    expect(r.all).toMatch(/bridge tru_sys is not up .*openvswitch kernel module.*netdev/);
    expect(await bridgeExists('tru_sys')).toBe(false);
  });

  it('setup onto a system-datapath bridge made by hand fails, rolls back: no port, veth, lease, record', async () => {
    // ovs-vsctl itself reports the failure on stderr but makes the rows.
    await execa('ovs-vsctl', [`--db=${info.ovsdb}`, '--timeout=10', 'add-br', 'tru_sys2'], { reject: false });
    const sub = join(sysDir, 'setup');
    const cfg = writeConfig(info, sub, [network({ bridge: 'tru_sys2', datapathType: 'system' })]);
    const vethsBefore = await hostVeths(info);
    const id = await startContainer(info);
    const r = await runPlugin(info, ['setup', 'default', '22-sys', id], { config: cfg });
    expect(r.exitCode, r.all).toBe(8);
    expect(r.all.trim().split('\n')).toHaveLength(1);
    expect(r.all).toMatch(/bridge tru_sys2 is not up .*openvswitch kernel module/);
    expect(await bridgePorts(info, 'tru_sys2')).toEqual([]);
    expect(await hostVeths(info)).toEqual(vethsBefore);
    expect(leaseFiles(join(sub, 'state'))).toEqual([]);
    expect(podRecords(join(sub, 'state'))).toEqual([]);
    expect((await podExec(info, id, ['ip', 'link', 'show', 'eth1'])).exitCode).not.toBe(0);
  });
});

describe('a renamed node keeps what it made', () => {
  const sub = join(info.dir, 'trust-ovs-rename');
  const BR = 'tru_ren';
  const net = network({ bridge: BR, ipam: { type: 'host-local', subnet: '10.237.0.0/24', gateway: '10.237.0.1' } });
  const before = writeConfig(info, sub, [net], { nodeName: 'node-old' });
  // The same node, its nodeName changed (same state dir, same OVSDB).
  const after = writeConfig(info, join(sub, 'renamed'), [net], { nodeName: 'node-new', stateDir: join(sub, 'state') });
  afterAll(() => teardownAll(info, after, [BR]));

  it('gc after a nodeName change removes nothing of the running pods; teardown then cleans everything', async () => {
    expect((await runPlugin(info, ['init'], { config: before })).exitCode).toBe(0);
    const ids = [await startContainer(info), await startContainer(info)];
    for (const [i, id] of ids.entries())
      expect((await runPlugin(info, ['setup', 'default', `22-ren-${i}`, id], { config: before })).exitCode).toBe(0);
    const ips = [await ipOf(ids[0]), await ipOf(ids[1])];
    const ports = await ourPorts(info, [BR]);
    const records = podRecords(join(sub, 'state'));
    const gc = await runPlugin(info, ['gc', '-o', 'json'], { config: after });
    expect(gc.exitCode, gc.all).toBe(0);
    expect(JSON.parse(gc.stdout).actions).toEqual([]);
    expect(await ourPorts(info, [BR])).toEqual(ports);
    expect(podRecords(join(sub, 'state'))).toEqual(records);
    expect(
      leaseFiles(join(sub, 'state'))
        .map((l) => l.address)
        .sort(),
    ).toEqual(ips.map((ip) => ip).sort());
    expect(await canPing(info, ids[0], ips[1])).toBe(true);
    expect(await audit(info, join(sub, 'state'), [BR])).toEqual([]);
    for (const [i, id] of ids.entries()) {
      const r = await runPlugin(info, ['teardown', 'default', `22-ren-${i}`, id], { config: after });
      expect(r.all).toMatch(/removed 1 port/);
    }
    expect(await ourPorts(info, [BR])).toEqual([]);
    expect(leaseFiles(join(sub, 'state'))).toEqual([]);
    expect(podRecords(join(sub, 'state'))).toEqual([]);
    expect((await hostVeths(info)).filter((v) => ports.some((p) => p.name === v))).toEqual([]);
    expect(hostVethName('default', '22-ren-0', 'vlannet')).toBe(ports.find((p) => p.pod === '22-ren-0')?.name);
  });
});
