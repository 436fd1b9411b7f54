// The optional resident agent: with one running, the executable hands setup and teardown over
// and prints the same thing; with none (stopped, killed, another version, one that hangs up),
// the executable does the work itself.
import { execa, type ResultPromise } from 'execa';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { hintPath } from '../../src/config/state-dir-hint';
import { audit, leaseFiles, ourPorts, podRecords } from '../support/consistency';
import { BINARY, hostVeths, runPlugin, teardownAll, writeConfig } from '../support/plugin';
import { canPing, startContainer } from '../support/sandbox';
import pkg from '../../package.json';
import { WIRE_VERSION } from '../../src/agent/protocol';

const info = inject('sandbox');
const dir = join(info.dir, 'agent');
const stateDir = join(dir, 'state');
const socket = join(stateDir, 'agent.sock');
const BRIDGE = 'agent_br';
const config = writeConfig(info, dir, [
  {
    name: 'vlannet',
    bridge: BRIDGE,
    datapathType: 'netdev',
    primary: true,
    vlan: { fromPodName: '^(\\d+)-' },
    ipam: { type: 'host-local', subnet: '10.236.0.0/24', gateway: '10.236.0.1' },
  },
]);
const run = (args: string[], env: Record<string, string> = {}) => runPlugin(info, args, { config, env });
// The same node, with Docker reached through slowDocker, and the call's own deadlines well past
// the caller's old limits (3 s for the acknowledgement, then 120 s for the answer).
const slowSocket = join(dir, 'slow-docker.sock');
const slowConfig = join(dir, 'slow.yaml');
writeFileSync(
  slowConfig,
  JSON.stringify({
    ...JSON.parse(readFileSync(config, 'utf8')),
    timeoutMs: 300_000,
    runtime: { docker: { socket: slowSocket } },
  }),
);
const runSlow = (args: string[], timeoutMs = 60_000) => runPlugin(info, args, { config: slowConfig, timeoutMs });

/** Start `podvlan agent` in the node's namespace; resolves once it listens. */
async function startAgent(): Promise<{ proc: ResultPromise; pid: number }> {
  const proc = execa('ip', ['netns', 'exec', info.netns, BINARY, 'agent'], {
    env: { PODVLAN_CONFIG: config },
    reject: false,
    buffer: false,
  });
  await new Promise<void>((resolve, reject) => {
    proc.stdout!.once('data', () => resolve());
    proc.once('exit', () => reject(new Error('agent exited')));
  });
  return { proc, pid: proc.pid! }; // ip netns exec execs the agent: same pid
}

const NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups'];

/** Start node as nobody (uid 65534, no groups) with `script`; resolves once it prints a line. */
async function asNobody(script: string, args: string[]): Promise<{ proc: ResultPromise }> {
  const proc = execa('setpriv', [...NOBODY, '/usr/bin/node', '-e', script, ...args], { reject: false, buffer: false });
  await new Promise<void>((resolve, reject) => {
    proc.stdout!.once('data', () => resolve());
    proc.once('exit', () => reject(new Error('the process run as nobody exited')));
  });
  return { proc }; // wrapped: an async function would wait for a returned ResultPromise
}

/** A Docker API socket in front of the real one that holds back its answers for `delayMs` while
 * set (a slow runtime makes a call run long); `asked` resolves when a held-back request arrives. */
function slowDocker(path: string) {
  const state = { delayMs: 0, asked: Promise.resolve(), server: undefined as Server | undefined };
  let heard: () => void = () => {};
  const conns = new Set<Socket>();
  state.server = createServer((client) => {
    conns.add(client);
    const delay = state.delayMs;
    if (delay > 0) heard();
    const upstream = createConnection(info.dockerSocket);
    client.on('data', (d) => upstream.write(d));
    upstream.on('data', (d) => setTimeout(() => client.write(d), delay));
    upstream.on('end', () => setTimeout(() => client.end(), delay));
    for (const s of [client, upstream])
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    client.on('close', () => {
      conns.delete(client);
      upstream.destroy();
    });
  });
  return {
    listen: () => new Promise<void>((r) => state.server!.listen(path, () => r())),
    slow(ms: number) {
      state.delayMs = ms;
      state.asked = new Promise<void>((r) => {
        heard = r;
      });
    },
    asked: () => state.asked,
    close: () => {
      for (const c of conns) c.destroy();
      return new Promise<void>((r) => state.server!.close(() => r()));
    },
  };
}

/** pids that logged a finished setup or teardown for the pod. */
const workers = (pod: string) =>
  readFileSync(join(dir, 'podvlan.log'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
    .filter((l) => l.pod === pod && ['set up', 'torn down', 'already set up'].includes(l.msg))
    .map((l) => l.pid as number);

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
    for (const [pod, id] of [
      ['22-ag-a', ids[0]],
      ['22-ag-b', ids[1]],
    ]) {
      const r = await run(['teardown', 'default', pod, id]);
      expect(r.stdout).toMatch(
        new RegExp(`^default/${pod}: removed 1 port\\(s\\) \\(pv[0-9a-f]{13}\\), released 1 address\\(es\\)$`),
      );
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
    const v = JSON.stringify(WIRE_VERSION);
    for (const body of [
      `{"version":${v},"argv":[1,2,3]}`,
      'null',
      `{"version":${v}}`,
      'garbage',
      `{"version":${v},"argv":["status","default","x","${ids[0]}"]}`,
      '{"version":"0.1.0","argv":["setup","a","b","c"]}',
    ]) {
      const reply = await new Promise<string>((resolve, reject) => {
        let got = '';
        const c = createConnection(socket, () => c.write(`${body}\n`));
        c.on('data', (d) => {
          got += d;
        });
        c.on('close', () => resolve(got));
        c.on('error', reject);
      });
      expect(reply, body).toMatch(/^\{"done":false,"reason":"[^"]+"\}$/); // declined before READY
    }
    const r = await run(['setup', 'default', '22-ag-after', ids[0]]);
    expect(r.exitCode, r.all).toBe(0);
    expect(workers('22-ag-after')).toEqual([agent.pid]);
    expect((await run(['teardown', 'default', '22-ag-after', ids[0]])).exitCode).toBe(0);
  });

  it('ignores an agent socket someone other than root listens on, and does the call itself', async () => {
    // The socket file is root's, in the root-only state directory, yet a process of nobody
    // listens on it: only the peer's credentials (SO_PEERCRED) say who would answer.
    const spare = mkdtempSync(join(tmpdir(), 'pvagent-nobody-'));
    chownSync(spare, 65534, 65534);
    const fakeScript = `
      const fs = require('node:fs');
      const s = require('node:net').createServer((c) => {
        let got = '';
        c.on('data', (d) => {
          got += d;
          fs.appendFileSync(process.argv[2] + '.got', d);
          const out = ['default/22-ag-fake: removed 1 port(s)'];
          const claim = JSON.stringify({ done: true, code: 0, out, err: [] });
          if (got.includes('/go"') && !got.endsWith('!')) c.write('?'); // this protocol: READY, then the reply on GO
          else if (got.endsWith('!')) c.end(claim);
          else c.end('+' + claim); // the earlier protocol
        });
        c.on('error', () => {});
      }).listen(process.argv[1], () => console.log('listening'));`;
    const fake = await asNobody(fakeScript, [join(spare, 'fake.sock'), join(spare, 'fake')]);
    try {
      const up = await run(['setup', 'default', '22-ag-fake', ids[0]], { PODVLAN_AGENT: 'off' });
      expect(up.exitCode, up.all).toBe(0);
      renameSync(join(spare, 'fake.sock'), socket);
      chownSync(socket, 0, 0);
      chmodSync(socket, 0o600);
      chmodSync(stateDir, 0o711);
      const down = await run(['teardown', 'default', '22-ag-fake', ids[0]]);
      expect(down.exitCode, down.all).toBe(0);
      const removed = /^default\/22-ag-fake: removed 1 port\(s\) \(pv[0-9a-f]{13}\), released 1 address\(es\)$/;
      expect(down.stdout).toMatch(removed);
      expect(existsSync(join(spare, 'fake.got')), 'the fake agent was sent the call').toBe(false);
      expect(await ourPorts(info, [BRIDGE])).toEqual([]);
      expect(await audit(info, stateDir, [BRIDGE])).toEqual([]);
    } finally {
      fake.proc.kill('SIGKILL');
      await fake.proc;
      rmSync(socket, { force: true });
      rmSync(spare, { recursive: true, force: true });
      chmodSync(stateDir, 0o700);
    }
  });

  it('serves only root: a caller of another user is hung up on, its call not run, and logged', async () => {
    agent = await startAgent();
    // Open every way in except the credentials check: the path is searchable and the socket 0666.
    const modes = [info.dir, dir, stateDir].map((d) => [d, statSync(d).mode & 0o777] as const);
    for (const [d] of modes) chmodSync(d, 0o711);
    chmodSync(socket, 0o666);
    const callerScript = `
      const [path, config, id] = process.argv.slice(1);
      const versions = ${JSON.stringify([WIRE_VERSION, pkg.version])}; // this protocol, and the earlier one
      let heard = '';
      const next = (i) => {
        if (i === versions.length) { console.log(JSON.stringify(heard)); return; }
        const argv = ['--config', config, 'setup', 'default', '22-ag-nobody', id];
        const request = JSON.stringify({ version: versions[i], argv }) + '\\n';
        const c = require('node:net').createConnection(path, () => c.write(request));
        c.on('data', (d) => { heard += d; if (String(d).startsWith('?') || String(d).startsWith('+')) c.write('!'); });
        c.on('error', () => {}); // EPIPE, ECONNRESET: hung up on
        c.on('close', () => next(i + 1));
      };
      next(0);`;
    try {
      const caller = await execa('setpriv', [...NOBODY, '/usr/bin/node', '-e', callerScript, socket, config, ids[2]], {
        reject: false,
      });
      expect(caller.exitCode, caller.stderr).toBe(0);
      expect(JSON.parse(caller.stdout)).toBe(''); // hung up on: neither READY nor a reply
    } finally {
      for (const [d, mode] of modes) chmodSync(d, mode);
    }
    await new Promise((r) => setTimeout(r, 500));
    expect(workers('22-ag-nobody')).toEqual([]);
    expect(podRecords(stateDir).filter((r) => r.pod === '22-ag-nobody')).toEqual([]);
    expect(await ourPorts(info, [BRIDGE])).toEqual([]);
    const refusals = readFileSync(join(dir, 'podvlan.log'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((l) => l.pid === agent!.pid && l.msg === 'agent: refused a caller that is not root');
    expect(refusals.map((l) => l.uid)).toEqual([65534, 65534]);
    // A root caller still gets served.
    const r = await run(['setup', 'default', '22-ag-root', ids[2]]);
    expect(r.exitCode, r.all).toBe(0);
    expect(workers('22-ag-root')).toEqual([agent.pid]);
    expect((await run(['teardown', 'default', '22-ag-root', ids[2]])).exitCode).toBe(0);
  });

  it('a stopped agent that resumes after its callers gave up runs nothing: the pod stays torn down', async () => {
    agent = await startAgent();
    let port = '';
    process.kill(agent.pid, 'SIGSTOP');
    try {
      const up = await run(['setup', 'default', '22-ag-late', ids[3]]);
      expect(up.exitCode, up.all).toBe(0);
      expect(up.ms).toBeLessThan(8000); // gave up on the agent after 3 s
      port = up.stdout.split(' port ')[1];
      const down = await run(['teardown', 'default', '22-ag-late', ids[3]]);
      expect(down.exitCode, down.all).toBe(0);
      expect(down.stdout).toMatch(/removed 1 port\(s\)/);
    } finally {
      process.kill(agent.pid, 'SIGCONT');
    }
    await new Promise((r) => setTimeout(r, 1500));
    expect(workers('22-ag-late')).not.toContain(agent.pid);
    expect(await ourPorts(info, [BRIDGE])).toEqual([]);
    expect(port).toMatch(/^pv[0-9a-f]{13}$/);
    expect(await hostVeths(info)).not.toContain(port);
    expect(leaseFiles(stateDir).filter((l) => l.pod === '22-ag-late')).toEqual([]);
    expect(podRecords(stateDir).filter((r) => r.pod === '22-ag-late')).toEqual([]);
    expect(await audit(info, stateDir, [BRIDGE])).toEqual([]);
  });

  // The old caller gave up after 3 s without an acknowledgement or 120 s without an answer; a
  // 125 s call ran twice there (seen once, when this test held the call that long). 6 s keeps
  // the suite short and still outlasts the 3 s limit, which a caller must not apply after GO.
  it("a call that outlasts the caller's 3 s limit runs exactly once, in the agent", async () => {
    const docker = slowDocker(slowSocket);
    await docker.listen();
    try {
      agent = await startAgent();
      docker.slow(6_000);
      const up = runSlow(['setup', 'default', '22-ag-long', ids[4]], 60_000);
      await docker.asked();
      docker.slow(0);
      const r = await up;
      expect(r.exitCode, r.all).toBe(0);
      expect(r.ms).toBeGreaterThan(5_500);
      expect(workers('22-ag-long')).toEqual([agent.pid]);
      expect((await run(['teardown', 'default', '22-ag-long', ids[4]])).exitCode).toBe(0);
      expect(await audit(info, stateDir, [BRIDGE])).toEqual([]);
    } finally {
      await docker.close();
    }
  }, 90_000);

  it('an agent that dies after GO: the call fails with one line, and the caller does not run it', async () => {
    const docker = slowDocker(slowSocket);
    await docker.listen();
    try {
      agent = await startAgent();
      docker.slow(60_000);
      const up = runSlow(['setup', 'default', '22-ag-died', ids[5]]);
      await docker.asked(); // the agent is in the call
      agent.proc.kill('SIGKILL');
      await agent.proc;
      agent = undefined;
      docker.slow(0);
      const r = await up;
      expect(r.exitCode, r.all).toBe(7);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/^podvlan: the agent on \S+ hung up without an answer after taking the call; [^\n]+$/);
      expect(workers('22-ag-died')).toEqual([]);
      expect(await ourPorts(info, [BRIDGE])).toEqual([]);
    } finally {
      await docker.close();
      rmSync(socket, { force: true }); // the killed agent's
    }
    expect((await run(['teardown', 'default', '22-ag-died', ids[5]])).exitCode).toBe(0);
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
      const fake: Server = createServer((s) => {
        s.on('data', () => (reply ? s.end(reply) : s.destroy()));
        s.on('error', () => {});
      });
      rmSync(socket, { force: true });
      await new Promise<void>((resolve, reject) => {
        fake.once('error', reject);
        fake.listen(socket, () => resolve());
      });
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
    const yaml = (stateDirLine: string) =>
      Object.entries(settings)
        .map(([k, v]) => (k === 'stateDir' ? stateDirLine : `${k}: ${JSON.stringify(v)}`))
        .join('\n');
    const id = await startContainer(info);
    for (const [name, line] of [
      ['quoted', `"stateDir": ${stateDir}`],
      ['anchored', `stateDir: &dir ${stateDir}`],
    ]) {
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
