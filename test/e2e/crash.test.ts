// Crash injection from outside: setup and teardown are SIGKILLed at moments spread over their
// whole duration, then the recovery path (setup, teardown or gc) runs, and the node must be
// consistent: no port without veth or lease, no lease or veth without port, no unfinished record.
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { audit } from '../support/consistency';
import { BINARY, runPlugin, writeConfig, teardownAll } from '../support/plugin';
import { startContainer } from '../support/sandbox';

const info = inject('sandbox');
const dir = join(info.dir, 'crash');
const stateDir = join(dir, 'state');
const config = writeConfig(info, dir, [
  {
    name: 'front',
    bridge: 'crash_br',
    datapathType: 'netdev',
    primary: true,
    vlan: { fromPodName: '^(\\d+)-' },
    ipam: { type: 'host-local', subnet: '10.235.0.0/24', gateway: '10.235.0.1' },
  },
  {
    name: 'back',
    bridge: 'crash_br',
    datapathType: 'netdev',
    interface: 'eth2',
    vlan: { id: 300 },
    ipam: { type: 'host-local', subnet: '10.236.0.0/24' },
  },
]);
const KILLS = Number(process.env.PODVLAN_CRASH_KILLS ?? 200);
const run = (...args: string[]) => runPlugin(info, args, { config });

/** Start a call and SIGKILL it after `delayMs`; true if the kill landed before it finished. */
async function killDuring(args: string[], delayMs: number): Promise<boolean> {
  const child = execa('ip', ['netns', 'exec', info.netns, BINARY, ...args], {
    env: { PODVLAN_CONFIG: config },
    reject: false,
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), delayMs);
  const r = await child;
  clearTimeout(timer);
  return r.signal === 'SIGKILL';
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

describe('crash safety under SIGKILL', () => {
  afterAll(() => teardownAll(info, config, ['crash_br']));
  const containers: string[] = [];
  let setupMs = 0;
  let teardownMs = 0;
  beforeAll(async () => {
    expect((await run('init')).exitCode).toBe(0);
    for (let i = 0; i < 4; i++) containers.push(await startContainer(info));
    const s: number[] = [];
    const t: number[] = [];
    for (let i = 0; i < 5; i++) {
      s.push((await run('setup', 'crash', '22-probe', containers[0])).ms);
      t.push((await run('teardown', 'crash', '22-probe', containers[0])).ms);
    }
    setupMs = median(s);
    teardownMs = median(t);
  });

  it(`converges after ${KILLS} kills spread over setup and teardown`, async () => {
    const found: Record<string, number> = {};
    let landed = 0;
    for (let i = 0; i < KILLS; i++) {
      const slot = i % containers.length;
      const pod = `22-crash-${slot}`;
      const id = containers[slot];
      const killTeardown = i % 3 === 2;
      if (killTeardown) expect((await run('setup', 'crash', pod, id)).exitCode).toBe(0);
      const duration = killTeardown ? teardownMs : setupMs;
      const delay = (((i * 7919) % 100) / 100) * duration * 1.2; // spread over the whole call and a bit past it
      if (await killDuring([killTeardown ? 'teardown' : 'setup', 'crash', pod, id], delay)) landed++;

      const recovery = ['setup', 'teardown', 'gc'][i % 3];
      if (recovery === 'gc') {
        const r = await run('gc', '-o', 'json');
        expect(r.exitCode, r.all).toBe(0);
        for (const a of JSON.parse(r.stdout).actions as { action: string }[])
          found[a.action] = (found[a.action] ?? 0) + 1;
      } else {
        const r = await run(recovery, 'crash', pod, id);
        expect(r.exitCode, `${recovery} after kill #${i}: ${r.all}`).toBe(0);
      }
      expect(
        await audit(info, stateDir, ['crash_br'], { temps: recovery === 'gc' }),
        `after kill #${i} at ${delay.toFixed(1)} ms and ${recovery}`,
      ).toEqual([]);
      // And the pod can always be set up again.
      const again = await run('setup', 'crash', pod, id);
      expect(again.exitCode, again.all).toBe(0);
      if (i % 2 === 0) expect((await run('teardown', 'crash', pod, id)).exitCode).toBe(0);
    }
    console.log(
      `crash test: ${KILLS} kills (${landed} before the call ended; setup p50 ${setupMs.toFixed(0)} ms, teardown p50 ${teardownMs.toFixed(0)} ms); gc found: ${JSON.stringify(found)}`,
    );
    expect(landed).toBeGreaterThanOrEqual(Math.min(100, KILLS / 2));
    // 200 rounds of kill, recovery, audit, setup: 145-155 s on a quiet 2-core VM of 2026-12-06 (the
    // code before issue 11's work too), past the e2e default of 120 s that it used to fit in.
  }, 600000); // 145-155 s on a quiet 2-core VM; over 300 s when other suites load it (load 20+)
});
