// Every bad input exits non-zero with one line, and leaves no port, veth, lease, record or lock.
import { join } from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { bridgePorts, heldLocks, hostVeths, ovsVsctl, runPlugin, stateFiles, writeConfig } from '../support/plugin';
import { docker, startContainer } from '../support/sandbox';

const info = inject('sandbox');
const BRIDGE = 'bad_br';
const dir = join(info.dir, 'bad-input');
const stateDir = join(dir, 'state');
const network = (extra: Record<string, unknown> = {}) => ({
  name: 'vlannet',
  bridge: BRIDGE,
  datapathType: 'netdev',
  primary: true,
  vlan: { fromPodName: '^(\\d+)-' },
  ipam: {
    type: 'host-local',
    subnet: '10.232.0.0/24',
    rangeStart: '10.232.0.10',
    rangeEnd: '10.232.0.11',
    gateway: '10.232.0.1',
  },
  ...extra,
});
const config = writeConfig(info, dir, [network()]);
let running = '';

const run = (args: string[], cfg = config) => runPlugin(info, args, { config: cfg });

async function expectRefused(args: string[], exitCode: number, pattern: RegExp, cfg = config) {
  const r = await run(args, cfg);
  expect(r.exitCode, r.all).toBe(exitCode);
  const lines = r.all.trim().split('\n');
  expect(lines, r.all).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  return r;
}

async function expectNothingBehind(keepPorts: string[] = []) {
  expect(await bridgePorts(info, BRIDGE)).toEqual(keepPorts);
  expect((await hostVeths(info)).filter((v) => !keepPorts.includes(v))).toEqual([]);
  expect(heldLocks(stateDir)).toEqual([]);
}

describe('bad input is refused with one line and leaves nothing behind', () => {
  beforeAll(async () => {
    expect((await run(['init'])).exitCode).toBe(0);
    running = await startContainer(info);
  });
  afterEach(async () => expectNothingBehind());

  it('refuses a pod name without a VLAN', async () => {
    await expectRefused(['setup', 'default', 'nginx', running], 2, /pod name "nginx" carries no VLAN/);
    expect(stateFiles(stateDir)).toEqual([]);
  });

  it.each(['0-x', '5000-x', '4095-x'])('refuses VLAN outside 1-4094 (%s)', async (pod) => {
    await expectRefused(['setup', 'default', pod, running], 2, /outside 1-4094/);
    expect(stateFiles(stateDir)).toEqual([]);
  });

  it.each([
    ['Default', '22-a'],
    ['default', '22-A'],
    ['default', '22-a;reboot'],
    ['default', '$(reboot)'],
    ['a b', '22-a'],
    ['default', '22-a`id`'],
    ['../etc', '22-a'],
    ['default', ''],
    ['default', '22-ä'],
    ['x'.repeat(64), '22-a'],
  ])('refuses invalid names (%s %s)', async (ns, pod) => {
    for (const cmd of ['setup', 'teardown', 'status'])
      await expectRefused([cmd, ns, pod, running], 2, /^podvlan: invalid (namespace|pod name)/);
    expect(stateFiles(stateDir)).toEqual([]);
  });

  it('refuses a container id that is not hex, for every pod subcommand', async () => {
    for (const cmd of ['setup', 'teardown', 'status']) {
      await expectRefused([cmd, 'default', '22-a', 'not-hex!'], 2, /invalid container id/);
    }
  });

  it('refuses an unknown container and a stopped one', async () => {
    await expectRefused(['setup', 'default', '22-a', 'ef'.repeat(32)], 4, /container efefefefefef not found/);
    const stopped = await startContainer(info);
    await docker(info, ['stop', '-t', '0', stopped]);
    await expectRefused(['setup', 'default', '22-a', stopped], 4, /is not running/);
    expect(stateFiles(stateDir)).toEqual([]);
  });

  it('refuses a pod when the address range is exhausted and keeps the pods that fit', async () => {
    const ids = [running, await startContainer(info), await startContainer(info)];
    expect((await run(['setup', 'default', '22-a', ids[0]])).exitCode).toBe(0);
    expect((await run(['setup', 'default', '22-b', ids[1]])).exitCode).toBe(0);
    const kept = await bridgePorts(info, BRIDGE);
    await expectRefused(['setup', 'default', '22-c', ids[2]], 6, /exhausted/);
    expect(await bridgePorts(info, BRIDGE)).toEqual(kept);
    expect(stateFiles(stateDir)).toHaveLength(4); // two leases, two pod records
    for (const [pod, id] of [
      ['22-a', ids[0]],
      ['22-b', ids[1]],
    ])
      expect((await run(['teardown', 'default', pod, id])).exitCode).toBe(0);
    expect(stateFiles(stateDir)).toEqual([]);
  });

  it('refuses a malformed and an invalid config, naming the file and the field', async () => {
    const broken = join(dir, 'broken.yaml');
    writeFileSync(broken, 'networks: [ {name: x\n');
    await expectRefused(['setup', 'default', '22-a', running], 3, new RegExp(`${broken}.*not valid YAML`), broken);
    const invalid = writeConfig(info, join(dir, 'invalid'), [network({ vlan: { id: 5000 } })]);
    await expectRefused(['init'], 3, new RegExp(`${invalid}: networks\\.0\\.vlan`), invalid);
    await expectRefused(
      ['setup', 'default', '22-a', running],
      3,
      /config .*missing.*no such file/,
      join(dir, 'missing.yaml'),
    );
  });

  it('refuses when OVSDB or Docker cannot be reached', async () => {
    const noOvs = writeConfig(info, join(dir, 'no-ovs'), [network()], { ovsdb: `unix:${dir}/nothing.sock`, stateDir });
    await expectRefused(['setup', 'default', '22-a', running], 7, /cannot connect to OVSDB/, noOvs);
    await expectRefused(['init'], 7, /cannot connect to OVSDB/, noOvs);
    const noDocker = writeConfig(info, join(dir, 'no-docker'), [network()], {
      runtime: { docker: { socket: `${dir}/nothing.sock` } },
      stateDir,
    });
    await expectRefused(['setup', 'default', '22-a', running], 7, /cannot reach Docker/, noDocker);
    expect(stateFiles(stateDir)).toEqual([]);
  });

  it('rolls back a setup that fails in the pod (bad route) or at OVS (missing bridge)', async () => {
    const badRoute = writeConfig(
      info,
      join(dir, 'bad-route'),
      [
        network({
          ipam: {
            type: 'host-local',
            subnet: '10.232.0.0/24',
            gateway: '10.232.0.1',
            routes: [{ dst: '10.99.0.0/16', via: '192.168.77.1' }],
          },
        }),
      ],
      { stateDir },
    );
    await expectRefused(
      ['setup', 'default', '22-a', running],
      8,
      /in the pod: (ip failed at "ip |netlink )route add 10\.99\.0\.0\/16/,
      badRoute,
    );
    expect(stateFiles(stateDir)).toEqual([]);
    const noBridge = writeConfig(info, join(dir, 'no-bridge'), [network({ bridge: 'absent_br' })], { stateDir });
    await expectRefused(['setup', 'default', '22-a', running], 4, /bridge absent_br does not exist/, noBridge);
    expect(stateFiles(stateDir)).toEqual([]);
    // The pod's namespace holds no leftover interface either.
    const links = await docker(info, ['exec', running, 'ip', 'link'], false);
    expect(links.stdout).not.toMatch(/eth1/);
  });

  it('refuses init when an existing bridge has another datapath type, and logs the failure', async () => {
    await ovsVsctl(info, ['--no-wait', 'add-br', 'sys_br', '--', 'set', 'Bridge', 'sys_br', 'datapath_type=system']);
    const cfg = writeConfig(info, join(dir, 'datapath'), [network({ bridge: 'sys_br' })], { stateDir });
    await expectRefused(['init'], 5, /bridge sys_br exists with datapath_type system, but the config says netdev/, cfg);
    await ovsVsctl(info, ['--no-wait', 'del-br', 'sys_br']);
    const log = readFileSync(join(dir, 'datapath', 'podvlan.log'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(log.at(-1)).toMatchObject({ level: 'error', kind: 'conflict', argv: ['init'] });
  });

  it('refuses a VLAN from a pod name that falls inside a cluster pool on the same bridge', async () => {
    const cfg = writeConfig(
      info,
      join(dir, 'pool-clash'),
      [
        network(),
        {
          name: 'tenant',
          bridge: BRIDGE,
          datapathType: 'netdev',
          interface: 'eth2',
          match: { namespace: '^nobody$' },
          vlan: { pool: '100-199' },
        },
      ],
      { stateDir, etcd: { endpoints: ['http://127.0.0.1:1'] } },
    );
    await expectRefused(
      ['setup', 'default', '150-x', running],
      2,
      /VLAN 150 from pod name "150-x" belongs to network tenant \(VLAN pool 100-199\) on bridge bad_br, not to network vlannet$/,
      cfg,
    );
  });

  it('refuses unknown subcommands, missing and oversized arguments with one line', async () => {
    await expectRefused(['frobnicate'], 2, /unknown command/);
    await expectRefused(['setup', 'default'], 2, /missing required argument/);
    await expectRefused(['setup', 'default', 'x'.repeat(100000), running], 2, /too long/);
    await expectRefused(['status', 'default', '22-a'], 2, /missing required argument/);
  });
});
