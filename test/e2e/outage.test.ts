// Outages: OVSDB, ovs-vswitchd or dockerd not answering, a read-only or full state directory.
// Each failing call gives one line and a non-zero exit within a bounded time, and leaves no
// partial state behind.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { audit } from '../support/consistency';
import { bridgePorts, heldLocks, hostVeths, runPlugin, writeConfig } from '../support/plugin';
import { startContainer } from '../support/sandbox';

const info = inject('sandbox');
const dir = join(info.dir, 'outage');
const stateDir = join(dir, 'state');
const BRIDGE = 'out_br';
const TIMEOUT_MS = 1000;
const BOUND_MS = 3 * TIMEOUT_MS + 2000; // a few bounded waits plus rollback, never a hang
const config = writeConfig(
  info,
  dir,
  [
    {
      name: 'vlannet',
      bridge: BRIDGE,
      datapathType: 'netdev',
      primary: true,
      vlan: { fromPodName: '^(\\d+)-' },
      ipam: { type: 'host-local', subnet: '10.237.0.0/24', gateway: '10.237.0.1' },
    },
  ],
  { timeoutMs: TIMEOUT_MS },
);
const run = (...args: string[]) => runPlugin(info, args, { config });
const pid = (file: string) => Number(readFileSync(join(info.dir, file), 'utf8').trim());

async function expectBoundedFailure(args: string[], code: number, pattern: RegExp) {
  const r = await run(...args);
  expect(r.exitCode, r.all).toBe(code);
  expect(r.all.trim().split('\n')).toHaveLength(1);
  expect(r.all).toMatch(pattern);
  expect(r.ms).toBeLessThan(BOUND_MS);
}

async function expectClean() {
  expect(await bridgePorts(info, BRIDGE)).toEqual([]);
  expect(await hostVeths(info)).toEqual([]);
  expect(heldLocks(stateDir)).toEqual([]);
  expect(await audit(info, stateDir, [BRIDGE])).toEqual([]);
}

describe('outages', () => {
  let id = '';
  beforeAll(async () => {
    expect((await run('init')).exitCode).toBe(0);
    id = await startContainer(info);
  });
  afterEach(async () => {
    for (const f of ['ovsdb.pid', 'vswitchd.pid', 'docker.pid']) process.kill(pid(f), 'SIGCONT');
    await execa('umount', [stateDir], { reject: false });
  });

  it('OVSDB not answering: setup and teardown fail within the timeout, nothing half-built', async () => {
    process.kill(pid('ovsdb.pid'), 'SIGSTOP');
    await expectBoundedFailure(['setup', 'default', '22-a', id], 7, /OVSDB .* did not answer/);
    await expectBoundedFailure(['teardown', 'default', '22-a', id], 7, /OVSDB .* did not answer/);
    process.kill(pid('ovsdb.pid'), 'SIGCONT');
    await expectClean();
  });

  it('ovs-vswitchd not answering: setup rolls back its port, veth and address', async () => {
    process.kill(pid('vswitchd.pid'), 'SIGSTOP');
    await expectBoundedFailure(['setup', 'default', '22-a', id], 7, /ovs-vswitchd did not apply the change/);
    process.kill(pid('vswitchd.pid'), 'SIGCONT');
    await expectClean();
    const r = await run('setup', 'default', '22-a', id);
    expect(r.exitCode, r.all).toBe(0);
    expect((await run('teardown', 'default', '22-a', id)).exitCode).toBe(0);
  });

  it('dockerd not answering: setup fails within the timeout', async () => {
    process.kill(pid('docker.pid'), 'SIGSTOP');
    await expectBoundedFailure(['setup', 'default', '22-a', id], 7, /Docker .* did not answer/);
    process.kill(pid('docker.pid'), 'SIGCONT');
    await expectClean();
  });

  it('a read-only state directory: setup refuses and leaves nothing', async () => {
    await execa('mkdir', ['-p', stateDir]);
    await execa('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m,mode=0700', 'tmpfs', stateDir]);
    await expectBoundedFailure(['setup', 'default', '22-a', id], 7, /cannot (write|create)/);
    await execa('umount', [stateDir]);
    await expectClean();
  });

  it('a full state directory: setup refuses and leaves nothing', async () => {
    await execa('mkdir', ['-p', stateDir]);
    await execa('mount', ['-t', 'tmpfs', '-o', 'size=64k,mode=0700', 'tmpfs', stateDir]);
    await execa('dd', ['if=/dev/zero', `of=${stateDir}/filler`, 'bs=4k', 'count=100'], { reject: false });
    await expectBoundedFailure(['setup', 'default', '22-a', id], 7, /cannot (write|create).*ENOSPC/);
    await execa('umount', [stateDir]);
    await expectClean();
  });
});
