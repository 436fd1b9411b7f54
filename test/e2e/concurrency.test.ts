// Many calls at once on one node: host-local hands out no address twice, calls for one pod
// never interleave (their results are always a state some order of them would give), and
// calls for different pods run side by side.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { audit, leaseFiles, ourPorts } from '../support/consistency';
import { runPlugin, teardownAll, writeConfig } from '../support/plugin';
import { startContainer } from '../support/sandbox';

const info = inject('sandbox');
const dir = join(info.dir, 'concurrency');
const stateDir = join(dir, 'state');
const BRIDGE = 'conc_br';
const config = writeConfig(info, dir, [
  {
    name: 'vlannet',
    bridge: BRIDGE,
    datapathType: 'netdev',
    primary: true,
    vlan: { fromPodName: '^(\\d+)-' },
    ipam: { type: 'host-local', subnet: '10.244.0.0/24', gateway: '10.244.0.1' },
  },
]);
const run = (...args: string[]) => runPlugin(info, args, { config });

describe('concurrent calls on one node', () => {
  const ids: string[] = [];
  beforeAll(async () => {
    expect((await run('init')).exitCode).toBe(0);
    await Promise.all(
      Array.from({ length: 6 }, async () => {
        for (let i = 0; i < 5; i++) ids.push(await startContainer(info));
      }),
    );
  });
  afterAll(() => teardownAll(info, config, [BRIDGE]));

  it('30 setups at once: every pod attached, no address twice; 30 teardowns at once leave nothing', async () => {
    const up = await Promise.all(ids.map((id, i) => run('setup', 'default', `22-c${i}`, id)));
    for (const r of up) expect(r.exitCode, r.all).toBe(0);
    const ports = await ourPorts(info, [BRIDGE]);
    expect(ports).toHaveLength(30);
    expect(new Set(ports.map((p) => p.ip)).size).toBe(30);
    expect(leaseFiles(stateDir)).toHaveLength(30);
    expect(await audit(info, stateDir, [BRIDGE])).toEqual([]);
    const down = await Promise.all(ids.map((id, i) => run('teardown', 'default', `22-c${i}`, id)));
    for (const r of down) expect(r.exitCode, r.all).toBe(0);
    expect(await ourPorts(info, [BRIDGE])).toEqual([]);
    expect(await audit(info, stateDir, [BRIDGE])).toEqual([]);
  });

  it('setup and teardown of the same pod racing, 20 times: always a consistent end state', async () => {
    for (let round = 0; round < 20; round++) {
      const id = ids[round % 3];
      const calls = round % 2 === 0 ? ['setup', 'teardown', 'setup'] : ['teardown', 'setup', 'teardown', 'setup'];
      const results = await Promise.all(calls.map((c) => run(c, 'default', '33-race', id)));
      for (const r of results) expect(r.exitCode, r.all).toBe(0);
      expect(await audit(info, stateDir, [BRIDGE]), `round ${round}`).toEqual([]);
      expect((await run('teardown', 'default', '33-race', id)).exitCode).toBe(0);
    }
  });
});
