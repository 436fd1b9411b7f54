// The consistency audit itself (test/support/consistency.ts) must see what it claims to check:
// each per-attachment check is broken by hand here, once, and the audit has to report it.
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { audit, ourPorts } from '../support/consistency';
import { ovsVsctl, runPlugin, teardownAll, writeConfig } from '../support/plugin';
import { docker, startContainer } from '../support/sandbox';

const info = inject('sandbox');
const dir = join(info.dir, 'audit');
const stateDir = join(dir, 'state');
const BRIDGE = 'aud_br';
const config = writeConfig(info, dir, [
  {
    name: 'vlannet',
    bridge: BRIDGE,
    datapathType: 'netdev',
    primary: true,
    vlan: { fromPodName: '^(\\d+)-' },
    ipam: { type: 'host-local', subnet: '10.238.0.0/24', gateway: '10.238.0.1' },
  },
]);
const run = (...args: string[]) => runPlugin(info, args, { config });
const check = () => audit(info, stateDir, [BRIDGE]);

/** Write an Interface column straight into OVSDB, as only ovs-vswitchd would. */
async function setInterface(name: string, row: Record<string, unknown>): Promise<void> {
  await execa('ovsdb-client', [
    'transact',
    info.ovsdb,
    JSON.stringify(['Open_vSwitch', { op: 'update', table: 'Interface', where: [['name', '==', name]], row }]),
  ]);
}

describe('the consistency audit flags each broken attachment', () => {
  let id = '';
  let port = '';
  const scratchNs = `${info.netns}-aud`;
  beforeAll(async () => {
    expect((await run('init')).exitCode).toBe(0);
    id = await startContainer(info);
    expect((await run('setup', 'default', '22-audited', id)).exitCode).toBe(0);
    [{ name: port }] = await ourPorts(info, [BRIDGE]);
  });
  afterAll(async () => {
    await teardownAll(info, config, [BRIDGE]);
    await execa('ip', ['netns', 'del', scratchNs], { reject: false });
  });

  it('starts clean', async () => {
    expect(await check()).toEqual([]);
  });

  it('an ofport that is not a positive integer', async () => {
    const ofport = Number(await ovsVsctl(info, ['get', 'Interface', port, 'ofport']));
    await setInterface(port, { ofport: -1 });
    expect(await check()).toEqual([`port ${port} (22-audited) has ofport -1`]);
    await setInterface(port, { ofport: ['set', []] });
    expect(await check()).toEqual([`port ${port} (22-audited) has ofport []`]);
    await setInterface(port, { ofport });
    expect(await check()).toEqual([]);
  });

  it('an Interface error', async () => {
    await setInterface(port, { error: 'boom' });
    expect(await check()).toEqual([`port ${port} (22-audited) has error "boom"`]);
    await setInterface(port, { error: ['set', []] });
    expect(await check()).toEqual([]);
  });

  it("a port tag other than the pod record's", async () => {
    await ovsVsctl(info, ['set', 'Port', port, 'tag=99']);
    expect(await check()).toEqual([`port ${port} (22-audited) has tag 99, its record 22`]);
    await ovsVsctl(info, ['set', 'Port', port, 'tag=22']);
    expect(await check()).toEqual([]);
  });

  it("a recorded netns that is not the container's", async () => {
    const inode = (await ovsVsctl(info, ['get', 'Port', port, 'external_ids:"podvlan/netns"']))
      .trim()
      .replace(/"/g, '');
    await ovsVsctl(info, ['set', 'Port', port, 'external_ids:"podvlan/netns"=1']);
    expect((await check()).join('\n')).toMatch(/recorded netns 1 is not the container's/);
    await ovsVsctl(info, ['set', 'Port', port, `external_ids:"podvlan/netns"=${inode}`]);
    expect(await check()).toEqual([]);
  });

  it('a veth whose peer is in another namespace than the recorded one', async () => {
    // The pod's end moved into a stranger's namespace (what a reused PID would do).
    await execa('ip', ['netns', 'add', scratchNs]);
    const pid = (await docker(info, ['inspect', '-f', '{{.State.Pid}}', id])).stdout.trim();
    await execa('nsenter', ['-t', pid, '-n', 'ip', 'link', 'set', 'eth1', 'netns', scratchNs]);
    expect(await check()).toEqual([
      `port ${port} (22-audited): its veth's peer is not eth1 in netns ${(await ourPorts(info, [BRIDGE]))[0].netns}`,
    ]);
  });
});
