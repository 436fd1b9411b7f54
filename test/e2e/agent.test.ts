// The optional resident agent: with one running, the executable hands setup and teardown over
// and prints the same thing; with none (stopped, killed, another version, one that hangs up),
// the executable does the work itself.
import { execa, type ResultPromise } from 'execa';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { hintPath } from '../../src/config/state-dir-hint';
import { audit, ourPorts } from '../support/consistency';
import { BINARY, runPlugin, teardownAll, writeConfig } from '../support/plugin';
import { canPing, startContainer } from '../support/sandbox';

const info = inject('sandbox');
const dir = join(info.dir, 'agent');
const stateDir = join(dir, 'state');
const socket = join(stateDir, 'agent.sock');
const BRIDGE = 'agent_br';
const config = writeConfig(info, dir, [{
  name: 'vlannet', bridge: BRIDGE, datapathType: 'netdev', primary: true, vlan: { fromPodName: '^(\\d+)-' },
  ipam: { type: 'host-local', subnet: '10.236.0.0/24', gateway: '10.236.0.1' },
}]);
const run = (args: string[], env: Record<string, string> = {}) => runPlugin(info, args, { config, env });

/** Start `podvlan agent` in the node's namespace; resolves once it listens. */
async function startAgent(): Promise<{ proc: ResultPromise; pid: number }> {
  const proc = execa('ip', ['netns', 'exec', info.netns, BINARY, 'agent'], { env: { PODVLAN_CONFIG: config }, reject: false, buffer: false });
  await new Promise<void>((resolve, reject) => {
    proc.stdout!.once('data', () => resolve());
    proc.once('exit', () => reject(new Error('agent exited')));
  });
  return { proc, pid: proc.pid! }; // ip netns exec execs the agent: same pid
}

/** pids that logged a finished setup or teardown for the pod. */
const workers = (pod: string) => readFileSync(join(dir, 'podvlan.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l))
  .filter((l) => l.pod === pod && ['set up', 'torn down', 'already set up'].includes(l.msg)).map((l) => l.pid as number);

describe('podvlan agent', () => {
  const ids: string[] = [];
  let agent: { proc: ResultPromise; pid: number } | undefined;
  beforeAll(async () => {
    expect((await run(['init'])).exitCode).toBe(0);
    for (let i = 0; i < 12; i++) ids.push(await startContainer(info));
  });
  afterEach(async () => {
    agent?.proc.kill('SIGTERM');
    await agent?.proc;
    agent = undefined;
  });
  afterAll(() => teardownAll(info, config, [BRIDGE]));

  it('does setup and teardown for the executable: same output, traffic flows, nothing left', async () => {
    agent = await startAgent();
    expect(statSync(socket).mode & 0o777).toBe(0o600);
    const a = await run(['setup', 'default', '22-ag-a', ids[0]]);
    const b = await run(['setup', 'default', '22-ag-b', ids[1]]);
    expect(a.exitCode, a.all).toBe(0);
    expect(a.stderr).toBe('');
    expect(a.stdout).toMatch(/^default\/22-ag-a: eth1 10\.236\.0\.\d+\/24 vlan 22 on agent_br port pv[0-9a-f]{13}$/);
    expect(workers('22-ag-a')).toEqual([agent.pid]);
    expect(await canPing(info, ids[0], b.stdout.split(' ')[2].split('/')[0])).toBe(true);
    expect((await run(['setup', 'default', '22-ag-a', ids[0]])).stdout).toMatch(/\(unchanged\)$/);
    for (const [pod, id] of [['22-ag-a', ids[0]], ['22-ag-b', ids[1]]]) {
      const r = await run(['teardown', 'default', pod, id]);
      expect(r.stdout).toMatch(new RegExp(`^default/${pod}: removed 1 port\\(s\\) \\(pv[0-9a-f]{13}\\), released 1 address\\(es\\)$`));
    }
    expect(new Set([...workers('22-ag-a'), ...workers('22-ag-b')])).toEqual(new Set([agent.pid]));
    expect(await audit(info, stateDir, [BRIDGE])).toEqual([]);
  });

  it('passes failures back as the same one line on stderr and exit code', async () => {
    agent = await startAgent();
    const viaAgent = await run(['setup', 'default', '22-ag-x', 'ab'.repeat(32)]);
    const local = await run(['setup', 'default', '22-ag-x', 'ab'.repeat(32)], { PODVLAN_AGENT: 'off' });
    expect(viaAgent.exitCode).toBe(4);
    expect(viaAgent.stderr).toBe('podvlan: container abababababab not found in Docker');
    expect({ ...viaAgent, ms: 0 }).toEqual({ ...local, ms: 0 });
  });

  it('runs 10 setups at once, each pod its own address', async () => {
    agent = await startAgent();
    const pods = ids.slice(2, 12).map((id, i) => [`22-ag-c${i}`, id]);
    const up = await Promise.all(pods.map(([pod, id]) => run(['setup', 'default', pod, id])));
    for (const r of up) expect(r.exitCode, r.all).toBe(0);
    expect(new Set((await ourPorts(info, [BRIDGE])).map((p) => p.ip)).size).toBe(10);
    expect(new Set(pods.flatMap(([pod]) => workers(pod)))).toEqual(new Set([agent.pid]));
    const down = await Promise.all(pods.map(([pod, id]) => run(['teardown', 'default', pod, id])));
    for (const r of down) expect(r.exitCode, r.all).toBe(0);
    expect(await audit(info, stateDir, [BRIDGE])).toEqual([]);
  });

  it('removes its socket even when stopped the moment it says it listens (20 times)', async () => {
    for (let i = 0; i < 20; i++) {
      const a = await startAgent();
      a.proc.kill('SIGTERM');
      await a.proc;
      expect(existsSync(socket), `round ${i}`).toBe(false);
    }
  });

  it('survives malformed requests and keeps serving', async () => {
    agent = await startAgent();
    for (const body of ['{"version":"0.1.0","argv":[1,2,3]}', 'null', '{"version":"0.1.0"}', 'garbage', `{"version":"0.1.0","argv":["status","default","x","${ids[0]}"]}`]) {
      const reply = await new Promise<string>((resolve, reject) => {
        let got = '';
        const c = createConnection(socket, () => c.write(`${body}\n`));
        c.on('data', (d) => { got += d; });
        c.on('close', () => resolve(got));
        c.on('error', reject);
      });
      expect(reply, body).toMatch(/^\+\{"done":false,"reason":"[^"]+"\}$/);
    }
    const r = await run(['setup', 'default', '22-ag-after', ids[0]]);
    expect(r.exitCode, r.all).toBe(0);
    expect(workers('22-ag-after')).toEqual([agent.pid]);
    expect((await run(['teardown', 'default', '22-ag-after', ids[0]])).exitCode).toBe(0);
  });

  it('an agent that does not answer: the call works alone within seconds, and the agent never runs it late', async () => {
    agent = await startAgent();
    process.kill(agent.pid, 'SIGSTOP');
    try {
      const r = await run(['setup', 'default', '22-ag-stuck', ids[1]]);
      expect(r.exitCode, r.all).toBe(0);
      expect(r.ms).toBeLessThan(8000);
      expect((await run(['teardown', 'default', '22-ag-stuck', ids[1]], { PODVLAN_AGENT: 'off' })).exitCode).toBe(0);
    } finally {
      process.kill(agent.pid, 'SIGCONT');
    }
    await new Promise((r) => setTimeout(r, 1000));
    expect(workers('22-ag-stuck')).not.toContain(agent.pid);
    expect(await ourPorts(info, [BRIDGE])).toEqual([]);
    expect(await audit(info, stateDir, [BRIDGE])).toEqual([]);
  });

  it('falls back to working locally when the agent stopped, was killed, is off, or declines', async () => {
    agent = await startAgent();
    const local = async (pod: string, env: Record<string, string> = {}) => {
      const r = await run(['setup', 'default', pod, ids[0]], env);
      expect(r.exitCode, r.all).toBe(0);
      expect(workers(pod).at(-1)).not.toBe(agent?.pid);
      expect((await run(['teardown', 'default', pod, ids[0]], { PODVLAN_AGENT: 'off' })).exitCode).toBe(0);
    };
    await local('22-ag-off', { PODVLAN_AGENT: 'off' });
    // A second agent on the same state directory refuses to start.
    const second = await runPlugin(info, ['agent'], { config, timeoutMs: 5000 });
    expect(second.exitCode).toBe(5);
    expect(second.stderr).toBe(`podvlan: another podvlan agent listens on ${socket}`);
    // Stopped: the socket goes with it.
    agent.proc.kill('SIGTERM');
    await agent.proc;
    expect(existsSync(socket)).toBe(false);
    await local('22-ag-stopped');
    // Killed: its socket stays, nobody answers; the next agent takes it over.
    agent = await startAgent();
    agent.proc.kill('SIGKILL');
    await agent.proc;
    expect(existsSync(socket)).toBe(true);
    await local('22-ag-killed');
    agent = await startAgent();
    agent.proc.kill('SIGTERM');
    await agent.proc;
    agent = undefined;
    expect(existsSync(socket)).toBe(false);
    // Something else on the socket: one that hangs up, one that declines (another version).
    for (const reply of [undefined, JSON.stringify({ done: false, reason: 'agent is version 0.0.0' })]) {
      const fake: Server = createServer((s) => { s.on('data', () => (reply ? s.end(reply) : s.destroy())); s.on('error', () => {}); });
      rmSync(socket, { force: true });
      await new Promise<void>((resolve, reject) => { fake.once('error', reject); fake.listen(socket, () => resolve()); });
      try {
        await local(reply ? '22-ag-declined' : '22-ag-hungup');
      } finally {
        await new Promise<void>((r) => fake.close(() => r()));
      }
    }
    expect(await audit(info, stateDir, [BRIDGE])).toEqual([]);
  });

  it('is found through every form of stateDir the full parser reads: a quoted key, an anchor', async () => {
    agent = await startAgent();
    const settings = JSON.parse(readFileSync(config, 'utf8')) as Record<string, unknown>;
    const yaml = (stateDirLine: string) => Object.entries(settings)
      .map(([k, v]) => (k === 'stateDir' ? stateDirLine : `${k}: ${JSON.stringify(v)}`)).join('\n');
    const id = await startContainer(info);
    for (const [name, line] of [['quoted', `"stateDir": ${stateDir}`], ['anchored', `stateDir: &dir ${stateDir}`]]) {
      const odd = join(dir, `${name}.yaml`);
      writeFileSync(odd, `${yaml(line)}\n`);
      const r = await runPlugin(info, ['setup', 'default', `22-ag-${name}`, id], { config: odd });
      expect(r.exitCode, r.all).toBe(0);
      expect(workers(`22-ag-${name}`), name).toEqual([agent.pid]);
      expect((await runPlugin(info, ['teardown', 'default', `22-ag-${name}`, id], { config: odd })).exitCode).toBe(0);
      rmSync(hintPath(odd), { force: true });
    }
  });
});
