// gc removes exactly what dead containers and interrupted calls left, and nothing of live pods.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { hash64Hex, hostVethName } from '../../src/names';
import { podLockPath } from '../../src/state/lock';
import { audit, leaseFiles, ourPorts, podRecords } from '../support/consistency';
import { bridgePorts, hostVeths, parseKubeletStatus, runPlugin, writeConfig, teardownAll } from '../support/plugin';
import { canPing, docker, podExec, startContainer } from '../support/sandbox';

const info = inject('sandbox');
const dir = join(info.dir, 'gc');
const stateDir = join(dir, 'state');
const BRIDGE = 'gc_br';
const config = writeConfig(info, dir, [
  {
    name: 'vlannet',
    bridge: BRIDGE,
    datapathType: 'netdev',
    primary: true,
    vlan: { fromPodName: '^(\\d+)-' },
    ipam: { type: 'host-local', subnet: '10.234.0.0/24', gateway: '10.234.0.1' },
  },
]);
const run = (...args: string[]) => runPlugin(info, args, { config });
const gcJson = async (...flags: string[]) => {
  const r = await run('gc', '-o', 'json', ...flags);
  expect(r.exitCode, r.all).toBe(0);
  type Action = { action: string; target: string; namespace?: string; pod?: string; containerId?: string };
  return JSON.parse(r.stdout) as { actions: Action[]; busy: { namespace: string; pod: string }[] };
};
const podOf = (a: { namespace?: string; pod?: string }) => `${a.namespace}/${a.pod}`;
const ipOf = async (id: string) =>
  /inet (\S+)\//.exec((await podExec(info, id, ['ip', '-4', 'addr', 'show', 'eth1'])).stdout)?.[1] ?? '';

describe('gc', () => {
  afterAll(() => teardownAll(info, config, [BRIDGE]));
  const pods: Record<string, string> = {};
  beforeAll(async () => {
    expect((await run('init')).exitCode).toBe(0);
    for (const name of ['22-live-a', '22-live-b', '22-killed', '22-removed', '22-restarted']) {
      pods[name] = await startContainer(info);
      const r = await run('setup', 'default', name, pods[name]);
      expect(r.exitCode, r.all).toBe(0);
    }
  });

  it('dry run reports the leftovers of killed, removed and restarted containers and changes nothing', async () => {
    await docker(info, ['kill', pods['22-killed']]);
    await docker(info, ['rm', '-f', pods['22-removed']]);
    await docker(info, ['restart', '-t', '0', pods['22-restarted']]);
    const before = await ourPorts(info, [BRIDGE]);
    const r = await gcJson('--dry-run');
    const removed = r.actions
      .filter((a) => a.action === 'remove-port')
      .map(podOf)
      .sort();
    expect(removed).toEqual(['default/22-killed', 'default/22-removed', 'default/22-restarted']);
    // The vocabulary of list and ipam: namespace, pod, containerId (full).
    const keys = ['action', 'containerId', 'namespace', 'pod', 'reason', 'target'];
    for (const a of r.actions) expect(Object.keys(a).sort()).toEqual(keys);
    expect(r.actions.map((a) => a.containerId)).toContain(pods['22-killed']);
    expect(await ourPorts(info, [BRIDGE])).toEqual(before);
  });

  it('removes exactly those leftovers; live pods keep their ports, addresses, status and traffic', async () => {
    const liveIps = [await ipOf(pods['22-live-a']), await ipOf(pods['22-live-b'])];
    const r = await gcJson();
    expect(r.actions.filter((a) => a.action === 'remove-port')).toHaveLength(3);
    expect((await ourPorts(info, [BRIDGE])).map((p) => p.pod).sort()).toEqual(['22-live-a', '22-live-b']);
    expect(
      leaseFiles(stateDir)
        .map((l) => l.address)
        .sort(),
    ).toEqual(liveIps.sort());
    expect(
      podRecords(stateDir)
        .map((x) => x.pod)
        .sort(),
    ).toEqual(['22-live-a', '22-live-b']);
    expect(await audit(info, stateDir, [BRIDGE])).toEqual([]);
    expect(await canPing(info, pods['22-live-a'], liveIps[1])).toBe(true);
    expect(parseKubeletStatus((await run('status', 'default', '22-live-a', pods['22-live-a'])).all)?.ip).toBe(
      liveIps[0],
    );
    expect((await gcJson()).actions).toEqual([]);
  });

  it('repairs what interrupted calls left: orphan veth, lease without port, unfinished setup, lost record, temp files', async () => {
    const live = pods['22-live-a'];
    // A veth no port or record names (a setup killed before records existed).
    const orphan = `pv${hash64Hex('orphan').slice(0, 13)}`;
    await execa('ip', ['-n', info.netns, 'link', 'add', orphan, 'type', 'veth', 'peer', 'name', 'gcpeer1']);
    // A lease with no port, for a running container (a setup killed after leasing).
    const leaseDir = join(stateDir, 'ipam', 'vlannet');
    writeFileSync(
      join(leaseDir, '10.234.0.200'),
      JSON.stringify({
        network: 'vlannet',
        namespace: 'default',
        pod: '22-half',
        containerId: live,
        interface: 'eth1',
        address: '10.234.0.200',
        since: 'x',
      }),
    );
    // A setup killed after its veth: record not ready, veth present.
    const half = hostVethName('default', '22-unfinished', 'vlannet');
    await execa('ip', ['-n', info.netns, 'link', 'add', half, 'type', 'veth', 'peer', 'name', 'gcpeer2']);
    mkdirSync(join(stateDir, 'pods'), { recursive: true });
    writeFileSync(
      join(stateDir, 'pods', 'default_22-unfinished.json'),
      JSON.stringify({
        namespace: 'default',
        pod: '22-unfinished',
        containerId: live,
        ready: false,
        attachments: [{ network: 'vlannet', interface: 'eth1', port: half, tag: 22 }],
      }),
    );
    // A live pod whose record was lost (killed between port and record).
    await execa('rm', [join(stateDir, 'pods', 'default_22-live-b.json')]);
    // Temp files of a dead writer.
    writeFileSync(join(leaseDir, '.tmp-999999-10.234.0.201'), '');
    writeFileSync(join(stateDir, 'pods', 'default_x.json.tmp-999999'), '');

    const r = await gcJson();
    const kinds = r.actions.map((a) => `${a.action} ${a.target}`).sort();
    expect(kinds).toEqual(
      [
        `delete-veth ${half}`,
        `delete-veth ${orphan}`,
        'release-address vlannet/10.234.0.200',
        `remove-record default/22-unfinished`,
        `remove-temp-file ${join(stateDir, 'pods', 'default_x.json.tmp-999999')}`,
        `remove-temp-file ${join(leaseDir, '.tmp-999999-10.234.0.201')}`,
        'rewrite-record default/22-live-b',
      ].sort(),
    );
    expect(await audit(info, stateDir, [BRIDGE])).toEqual([]);
    expect(parseKubeletStatus((await run('status', 'default', '22-live-b', pods['22-live-b'])).all)?.ip).toBe(
      await ipOf(pods['22-live-b']),
    );
  });

  it('ipam release frees a lease by hand, and refuses one a port still uses unless forced', async () => {
    const inUse = await ipOf(pods['22-live-a']);
    const refused = await run('ipam', 'release', 'vlannet', inUse);
    expect(refused.exitCode, refused.all).toBe(5);
    expect(refused.all).toMatch(/in use by port pv[0-9a-f]{13} of default\/22-live-a/);
    const leaseDir = join(stateDir, 'ipam', 'vlannet');
    writeFileSync(
      join(leaseDir, '10.234.0.222'),
      JSON.stringify({
        network: 'vlannet',
        namespace: 'default',
        pod: '22-stray',
        containerId: 'f'.repeat(64),
        interface: 'eth1',
        address: '10.234.0.222',
        since: 'then',
      }),
    );
    const listed = JSON.parse((await run('ipam', 'list', '-o', 'json')).stdout);
    expect(listed.addresses.map((a: { address: string }) => a.address)).toContain('10.234.0.222');
    const r = await run('ipam', 'release', 'vlannet', '10.234.0.222');
    expect(r.exitCode, r.all).toBe(0);
    expect(r.all).toMatch(/released vlannet\/10\.234\.0\.222 \(held by default\/22-stray/);
    expect(leaseFiles(stateDir).map((l) => l.address)).not.toContain('10.234.0.222');
    expect((await run('ipam', 'release', 'vlannet', '10.234.0.222')).exitCode).toBe(4);
  });

  it('removes an unreadable lease file that no port uses, and keeps one a live port uses', async () => {
    // Lease files are not fsynced: a crash of the whole node can leave one empty.
    const leases = join(stateDir, 'ipam', 'vlannet');
    const liveIp = await ipOf(pods['22-live-a']);
    const original = readFileSync(join(leases, liveIp), 'utf8');
    writeFileSync(join(leases, '10.234.0.200'), '');
    writeFileSync(join(leases, liveIp), '');
    try {
      const r = await gcJson();
      expect(r.actions).toEqual([
        { action: 'remove-lease', target: 'vlannet/10.234.0.200', reason: 'unreadable lease file that no port uses' },
      ]);
      expect(existsSync(join(leases, '10.234.0.200'))).toBe(false);
      expect(existsSync(join(leases, liveIp))).toBe(true);
    } finally {
      writeFileSync(join(leases, liveIp), original);
    }
    expect((await gcJson()).actions).toEqual([]);
  });

  it('skips a pod whose lock is held, and refuses to guess when Docker cannot answer', async () => {
    await docker(info, ['kill', pods['22-live-b']]);
    // Hold 22-live-b's lock from another (root) process: flock(1) takes the same flock(2) lock.
    // The shell opens the file on fd 9, locks it, and becomes sleep, so killing it frees the lock.
    const hold = 'exec 9>>"$1" && flock -n 9 && echo held && exec sleep 3600';
    const holder = execa('sh', ['-c', hold, 'sh', podLockPath(stateDir, 'default', '22-live-b')], { buffer: false });
    await new Promise<void>((resolve) => holder.stdout!.once('data', () => resolve()));
    try {
      const r = await gcJson();
      expect(r.busy).toEqual([{ namespace: 'default', pod: '22-live-b' }]);
      expect(await bridgePorts(info, BRIDGE)).toHaveLength(2);
    } finally {
      holder.kill('SIGKILL');
      await holder.catch(() => undefined);
    }
    const noDocker = writeConfig(
      info,
      join(dir, 'no-docker'),
      [
        {
          name: 'vlannet',
          bridge: BRIDGE,
          datapathType: 'netdev',
          vlan: { fromPodName: '^(\\d+)-' },
          ipam: { type: 'host-local', subnet: '10.234.0.0/24', gateway: '10.234.0.1' },
        },
      ],
      { stateDir, runtime: { docker: { socket: join(dir, 'nothing.sock') } } },
    );
    const refused = await runPlugin(info, ['gc'], { config: noDocker });
    expect(refused.exitCode).toBe(7);
    expect(await bridgePorts(info, BRIDGE)).toHaveLength(2);
    const r = await gcJson();
    expect(r.actions.filter((a) => a.action === 'remove-port').map(podOf)).toEqual(['default/22-live-b']);
    expect(await hostVeths(info)).toHaveLength(1);
    expect(await audit(info, stateDir, [BRIDGE])).toEqual([]);
  });
});
