// A multi-homed pod: two secondary VLAN networks (one tag from the pod name with host-local
// addresses, one fixed tag with a static address) and a network whose match skips the pod.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  bridgePorts,
  hostVeths,
  parseKubeletStatus,
  portTag,
  runPlugin,
  stateFiles,
  writeConfig,
  teardownAll,
} from '../support/plugin';
import { podExec, startContainer } from '../support/sandbox';

const info = inject('sandbox');
const dir = join(info.dir, 'multihome');
const config = writeConfig(info, dir, [
  {
    name: 'front',
    bridge: 'mh_front',
    datapathType: 'netdev',
    interface: 'net1',
    primary: true,
    vlan: { fromPodName: '^(\\d+)-' },
    ipam: {
      type: 'host-local',
      subnet: '10.233.0.0/24',
      gateway: '10.233.0.1',
      exclude: ['10.233.0.2'],
      routes: [{ dst: '10.240.0.0/16' }],
    },
  },
  {
    name: 'storage',
    bridge: 'mh_back',
    datapathType: 'netdev',
    interface: 'net2',
    mtu: 9000,
    match: { podName: '-db$' },
    vlan: { id: 100 },
    ipam: { type: 'static', address: '192.168.255.126/24' },
  },
  {
    name: 'other',
    bridge: 'mh_back',
    datapathType: 'netdev',
    interface: 'net3',
    match: { namespace: '^other-' },
    vlan: { id: 200 },
  },
]);
const run = (...args: string[]) => runPlugin(info, args, { config });

describe('multi-homed pods', () => {
  afterAll(() => teardownAll(info, config, ['mh_front', 'mh_back']));
  let db = '';
  let web = '';
  beforeAll(async () => {
    expect((await run('init')).exitCode).toBe(0);
    db = await startContainer(info);
    web = await startContainer(info);
  });

  it('attaches every network whose match selects the pod, with its own tag, address, MTU and routes', async () => {
    const r = await run('setup', 'shop', '7-db', db);
    expect(r.exitCode, r.all).toBe(0);
    const addr = (await podExec(info, db, ['ip', '-4', 'addr'])).stdout;
    expect(addr).toMatch(/inet 10\.233\.0\.3\/24 .*net1/); // .1 is the gateway, .2 excluded
    expect(addr).toMatch(/inet 192\.168\.255\.126\/24 .*net2/);
    expect(addr).not.toMatch(/net3/);
    expect((await podExec(info, db, ['cat', '/sys/class/net/net2/mtu'])).stdout.trim()).toBe('9000');
    expect((await podExec(info, db, ['ip', 'route'])).stdout).toMatch(/10\.240\.0\.0\/16 via 10\.233\.0\.1 dev net1/);
    const [front] = await bridgePorts(info, 'mh_front');
    const [back] = await bridgePorts(info, 'mh_back');
    expect(await portTag(info, front)).toBe('7');
    expect(await portTag(info, back)).toBe('100');
    expect(parseKubeletStatus((await run('status', 'shop', '7-db', db)).all)?.ip).toBe('10.233.0.3');
  });

  it('a pod that does not match the static network gets only the other one', async () => {
    const r = await run('setup', 'shop', '7-web', web);
    expect(r.exitCode, r.all).toBe(0);
    expect((await podExec(info, web, ['ip', 'link'])).stdout).not.toMatch(/net2/);
    expect(await bridgePorts(info, 'mh_front')).toHaveLength(2);
    expect(await bridgePorts(info, 'mh_back')).toHaveLength(1);
  });

  it('refuses a second holder of the static address and rolls back its other network', async () => {
    const other = await startContainer(info);
    const r = await run('setup', 'shop', '7-db2-db', other);
    expect(r.exitCode, r.all).toBe(5);
    expect(r.all).toMatch(/static address 192\.168\.255\.126 .* held by shop\/7-db/);
    expect(await bridgePorts(info, 'mh_front')).toHaveLength(2);
    expect((await podExec(info, other, ['ip', 'link'])).stdout).not.toMatch(/net1/);
  });

  it('gc finds nothing to change on healthy multi-homed pods', async () => {
    const r = await run('gc', '--dry-run', '-o', 'json');
    expect(r.exitCode, r.all).toBe(0);
    expect(JSON.parse(r.stdout).actions).toEqual([]);
  });

  it('teardown removes both attachments and both addresses', async () => {
    for (const [pod, id] of [
      ['7-db', db],
      ['7-web', web],
    ])
      expect((await run('teardown', 'shop', pod, id)).exitCode).toBe(0);
    expect(await bridgePorts(info, 'mh_front')).toEqual([]);
    expect(await bridgePorts(info, 'mh_back')).toEqual([]);
    expect(await hostVeths(info)).toEqual([]);
    expect(stateFiles(join(dir, 'state'))).toEqual([]);
  });
});
