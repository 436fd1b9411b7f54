// A veth lands in the namespace that was looked up, never in a stranger's. The lookup opens the
// container's namespace once; the move goes by that handle, on the netlink path and on the
// iproute2 fallback. Shown with the real executable paused between lookup and move (its first
// etcd request is held by a proxy) while the looked-up PID is made to name another namespace: a
// process that was in X when Docker named it re-execs itself into Y, keeping its PID, as a reused
// PID would look to the kernel. Also: a handle whose inode is not the recorded one, or that
// holds the node's own namespace, is refused before anything exists, and no namespace handle
// outlives its call in the agent or in gc's lookup.
import { execa, type ResultPromise } from 'execa';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer, type Server as NetServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type EtcdServer, startEtcd } from '../integration/etcd-server';
import { BINARY, hostVeths, ovsVsctl, runPlugin, stateFiles, teardownAll, writeConfig } from '../support/plugin';
import { docker, startContainer } from '../support/sandbox';

const info = inject('sandbox');
const dir = join(info.dir, 'netns-handle');
const BUN = join(__dirname, '../../node_modules/.bin/bun');
const BRIDGE = 'nh_br';
const viaIp = { PODVLAN_VETH: 'ip' };
const paths = [
  ['netlink', {}],
  ['ip', viaIp],
] as const;

const nsInode = (path: string) => String(statSync(path).ino);
const linksIn = async (ns: string) => (await execa('ip', ['-n', ns, '-o', 'link', 'show'])).stdout;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitUntil(what: string, check: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** Named network namespaces of this test file, removed in afterAll. */
const namespaces: string[] = [];
async function newNetns(tag: string): Promise<string> {
  const name = `pvnh-${tag}-${randomBytes(3).toString('hex')}`;
  await execa('ip', ['netns', 'add', name]);
  namespaces.push(name);
  return name;
}

/** A Docker Engine stand-in that says every container is running as `pid()`. */
async function fakeDocker(socket: string, pid: () => number): Promise<Server> {
  rmSync(socket, { force: true });
  const server = createServer((req, res) => {
    const id = /^\/containers\/([0-9a-f]+)\/json$/.exec(req.url ?? '')?.[1];
    if (!id) {
      res.writeHead(404).end('{}');
      return;
    }
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ Id: id.padEnd(64, '0'), State: { Pid: pid(), Running: true } }));
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  return server;
}

/** The gate proxy (test/support/gate-proxy.ts) in the node's namespace, in front of etcd. */
async function startGate(
  etcdPort: number,
): Promise<{ proc: ResultPromise; port: number; held: Promise<void>; go(): void }> {
  const proc = execa(
    'ip',
    ['netns', 'exec', info.netns, BUN, join(__dirname, '../support/gate-proxy.ts'), String(etcdPort)],
    { buffer: false, reject: false, stdin: 'pipe' },
  );
  let onHeld: () => void = () => {};
  const held = new Promise<void>((resolve) => {
    onHeld = resolve;
  });
  const port = await new Promise<number>((resolve, reject) => {
    proc.stdout!.on('data', (d: Buffer) => {
      const text = String(d);
      const m = /port (\d+)/.exec(text);
      if (m) resolve(Number(m[1]));
      if (text.includes('held')) onHeld();
    });
    proc.once('exit', () => reject(new Error('gate proxy exited')));
  });
  return { proc, port, held, go: () => proc.stdin!.write('go\n') };
}

/** The veth module under bun (test/e2e/veth-under-bun.ts), in namespace `ns` as its host side. */
async function underBun(ns: string | undefined, mode: string, args: object, env: Record<string, string> = {}) {
  const cmd = [BUN, join(__dirname, 'veth-under-bun.ts'), mode, JSON.stringify(args)];
  const r = ns
    ? await execa('ip', ['netns', 'exec', ns, ...cmd], { env, reject: false })
    : await execa(cmd[0], cmd.slice(1), { env, reject: false });
  expect(r.stderr).toBe('');
  return JSON.parse(r.stdout) as { ok: boolean; kind?: string; message?: string; netFds: number; inodes?: string[] };
}

describe('the pod end goes by the namespace handle of the lookup', () => {
  let etcd: EtcdServer;
  let docker$: Server;
  let dockerPid = 0;
  const dockerSocket = join(dir, 'fake-docker.sock');
  beforeAll(async () => {
    [etcd, docker$] = await Promise.all([startEtcd({ netns: info.netns }), fakeDocker(dockerSocket, () => dockerPid)]);
  });
  afterAll(async () => {
    await new Promise((r) => docker$?.close(r));
    await etcd?.destroy();
    for (const ns of namespaces.splice(0)) await execa('ip', ['netns', 'del', ns], { reject: false });
  });

  for (const [name, env] of paths) {
    it(`${name}: the PID names another namespace at move time; the veth goes to the looked-up one`, async () => {
      const [x, y] = [await newNetns('x'), await newNetns('y')];
      const [xPath, yPath] = [`/run/netns/${x}`, `/run/netns/${y}`];
      // In X until told, then the same PID in Y: what a PID reused by a stranger looks like.
      const proc = execa(
        'nsenter',
        [`--net=${xPath}`, '--', 'sh', '-c', `read _; exec nsenter --net=${yPath} -- sleep 600`],
        { stdin: 'pipe', reject: false },
      );
      const nsOfProc = () => {
        try {
          return readlinkSync(`/proc/${proc.pid}/ns/net`);
        } catch {
          return '';
        }
      };
      try {
        await waitUntil('the process in X', () => nsOfProc() === `net:[${nsInode(xPath)}]`);
        dockerPid = proc.pid!;
        const gate = await startGate(etcd.port);
        try {
          const cfgDir = join(dir, name);
          const config = writeConfig(
            info,
            cfgDir,
            [
              {
                name: 'nh',
                bridge: BRIDGE,
                datapathType: 'netdev',
                interface: 'net1',
                primary: true,
                vlan: { id: 47 },
                ipam: { type: 'etcd', subnet: '10.247.0.0/24' },
              },
            ],
            {
              runtime: { docker: { socket: dockerSocket } },
              etcd: { endpoints: [`http://127.0.0.1:${gate.port}`], prefix: `/nh-${name}`, timeoutMs: 10000 },
            },
          );
          expect((await runPlugin(info, ['init'], { config })).exitCode).toBe(0);
          const id = randomBytes(32).toString('hex');
          const setup = runPlugin(info, ['setup', 'default', `nh-${name}`, id], { config, env });
          await gate.held; // setup has looked the container up and asks etcd for an address
          proc.stdin!.write('\n');
          await waitUntil('the PID to name Y', () => nsOfProc() === `net:[${nsInode(yPath)}]`);
          gate.go();
          const r = await setup;
          expect(r.exitCode, r.all).toBe(0);
          expect(await linksIn(x)).toMatch(/: net1@/);
          expect(await linksIn(y)).not.toMatch(/net1/);
          const [port] = (await ovsVsctl(info, ['list-ports', BRIDGE])).split('\n').filter((p) => p.startsWith('pv'));
          expect((await ovsVsctl(info, ['get', 'Port', port, 'external_ids:"podvlan/netns"'])).replace(/"/g, '')).toBe(
            nsInode(xPath),
          );
          const down = await runPlugin(info, ['teardown', 'default', `nh-${name}`, id], { config, env });
          expect(down.exitCode, down.all).toBe(0);
          expect(await linksIn(x)).not.toMatch(/net1/);
          expect(await hostVeths(info)).not.toContain(port);
        } finally {
          gate.proc.kill();
        }
      } finally {
        proc.kill('SIGKILL');
        await proc;
      }
    });
  }

  it("a container in the node's own namespace (host network, a PID a host process took) is refused", async () => {
    // ovs-vswitchd runs in the node's namespace, where podvlan runs: as if Docker named its PID.
    dockerPid = Number(readFileSync(join(info.dir, 'vswitchd.pid'), 'utf8'));
    const stateDir = join(dir, 'own-ns-state');
    const config = writeConfig(
      info,
      join(dir, 'own-ns'),
      [
        {
          name: 'nhown',
          bridge: BRIDGE,
          datapathType: 'netdev',
          interface: 'net7',
          primary: true,
          vlan: { id: 49 },
          ipam: { type: 'host-local', subnet: '10.249.0.0/24' },
        },
      ],
      { stateDir, runtime: { docker: { socket: dockerSocket } } },
    );
    expect((await runPlugin(info, ['init'], { config })).exitCode).toBe(0);
    for (const [, env] of paths) {
      const before = await hostVeths(info);
      const r = await runPlugin(info, ['setup', 'default', 'nh-own', 'fe'.repeat(32)], { config, env });
      expect(r.exitCode, r.all).toBe(5);
      expect(r.all.trim()).toBe(
        `podvlan: container fefefefefefe (pid ${dockerPid}) is in the node's own network namespace (host network?): ` +
          'podvlan attaches only pods with a namespace of their own',
      );
      expect(await linksIn(info.netns)).not.toMatch(/net7/);
      expect(await hostVeths(info)).toEqual(before);
      expect(stateFiles(stateDir)).toEqual([]);
    }
  });

  for (const [name, env] of paths) {
    it(`${name}: a handle whose inode is not the recorded one is refused before anything is created`, async () => {
      const [host, x, y] = [await newNetns('h'), await newNetns('x'), await newNetns('y')];
      const before = [await linksIn(host), await linksIn(x), await linksIn(y)];
      const r = await underBun(
        host,
        'create',
        {
          netns: `/run/netns/${x}`,
          recordedInode: nsInode(`/run/netns/${y}`),
          hostName: 'pvnhtest000001',
          podName: 'net1',
        },
        env,
      );
      expect(r).toMatchObject({ ok: false, kind: 'ConflictError', netFds: 0 });
      expect(r.message).toBe(
        `the network namespace of test namespace /run/netns/${x} has inode ${nsInode(`/run/netns/${x}`)}, ` +
          `not the recorded ${nsInode(`/run/netns/${y}`)}: nothing created, retry the setup`,
      );
      expect([await linksIn(host), await linksIn(x), await linksIn(y)]).toEqual(before);
      // The same call with the handle's own inode does create the pair, in X: the refusal above is the check.
      expect(
        await underBun(host, 'create', { netns: `/run/netns/${x}`, hostName: 'pvnhtest000001', podName: 'net1' }, env),
      ).toMatchObject({ ok: true, netFds: 0 });
      expect(await linksIn(x)).toMatch(/: net1@/);
      expect(await linksIn(host)).toMatch(/: pvnhtest000001@/);
    });
  }
});

describe('no namespace handle outlives its call', () => {
  const stateDir = join(dir, 'agent-state');
  const network = (routes: { dst: string; via: string }[]) => [
    {
      name: 'nhagent',
      bridge: 'nh_agent',
      datapathType: 'netdev',
      primary: true,
      vlan: { id: 48 },
      ipam: { type: 'host-local', subnet: '10.248.0.0/24', routes },
    },
  ];
  const config = writeConfig(info, join(dir, 'agent'), network([]), { stateDir });
  // Same state directory (so the same agent), a route the kernel refuses: fails after the lookup.
  const bad = writeConfig(info, join(dir, 'agent-bad'), network([{ dst: '10.99.0.0/16', via: '192.168.77.1' }]), {
    stateDir,
  });
  // Same state directory, an OVSDB that hangs up on the port lookup, which runs beside Docker's:
  // the lookup has opened the namespace when the call fails.
  const hangUpSocket = join(dir, 'hang-up-ovsdb.sock');
  const hangUp = writeConfig(info, join(dir, 'agent-hang-up'), network([]), {
    stateDir,
    ovsdb: `unix:${hangUpSocket}`,
  });
  const ids: string[] = [];
  let ovsdbThatHangsUp: NetServer | undefined;
  beforeAll(async () => {
    expect((await runPlugin(info, ['init'], { config })).exitCode).toBe(0);
    ids.push(await startContainer(info), await startContainer(info));
    rmSync(hangUpSocket, { force: true });
    ovsdbThatHangsUp = createNetServer((c) => c.once('data', () => setTimeout(() => c.destroy(), 20)));
    await new Promise<void>((resolve) => ovsdbThatHangsUp!.listen(hangUpSocket, resolve));
  });
  afterAll(async () => {
    await new Promise((r) => ovsdbThatHangsUp?.close(r));
    await teardownAll(info, config, ['nh_agent']);
  });

  /** Namespace fds open in process `pid`. */
  const netFdsOf = (pid: number) =>
    readdirSync(`/proc/${pid}/fd`).filter((fd) => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('net:[');
      } catch {
        return false;
      }
    });

  for (const [name, env] of paths) {
    it(`${name}: the agent keeps no namespace fd after setups that succeed, find it done, or roll back`, async () => {
      const agent = execa('ip', ['netns', 'exec', info.netns, BINARY, 'agent'], {
        env: { PODVLAN_CONFIG: config, ...env },
        reject: false,
        buffer: false,
      });
      try {
        await new Promise<void>((resolve, reject) => {
          agent.stdout!.once('data', () => resolve());
          agent.once('exit', () => reject(new Error('agent exited')));
        });
        const pid = agent.pid!;
        for (const d of ['agent', 'agent-bad', 'agent-hang-up']) writeFileSync(join(dir, d, 'podvlan.log'), '');
        for (let round = 0; round < 3; round++) {
          for (const [i, id] of ids.entries()) {
            const pod = `nha-${name}-${i}`;
            expect((await runPlugin(info, ['setup', 'default', pod, id], { config })).exitCode).toBe(0);
            expect((await runPlugin(info, ['setup', 'default', pod, id], { config })).stdout).toMatch(/\(unchanged\)$/);
            expect((await runPlugin(info, ['teardown', 'default', pod, id], { config })).exitCode).toBe(0);
            const failed = await runPlugin(info, ['setup', 'default', pod, id], { config: bad });
            expect(failed.exitCode, failed.all).toBe(8);
            const hungUp = await runPlugin(info, ['setup', 'default', pod, id], { config: hangUp });
            expect(hungUp.exitCode, hungUp.all).toBe(7);
            expect(hungUp.all).toMatch(/closed the connection/);
          }
        }
        // Every call above ran in the agent, not in the executable.
        const served = ['agent', 'agent-bad', 'agent-hang-up'].flatMap((d) =>
          readFileSync(join(dir, d, 'podvlan.log'), 'utf8')
            .split('\n')
            .filter((l) => l.includes('"cmd":"setup"') || l.includes('"cmd":"teardown"'))
            .map((l) => JSON.parse(l).pid as number),
        );
        expect(served.length).toBeGreaterThan(0);
        expect(new Set(served)).toEqual(new Set([pid]));
        expect(netFdsOf(pid)).toEqual([]);
        expect((await docker(info, ['exec', ids[0], 'ip', 'link'])).stdout).not.toMatch(/eth1/);
      } finally {
        agent.kill('SIGTERM');
        await agent;
      }
    });
  }

  it("gc's lookup (containerNetnsInode) closes each handle it opens", async () => {
    const r = await underBun(undefined, 'inode', { socket: info.dockerSocket, id: ids[0], times: 20 });
    const pid = (await docker(info, ['inspect', '-f', '{{.State.Pid}}', ids[0]])).stdout.trim();
    expect(r).toEqual({ ok: true, inodes: [nsInode(`/proc/${pid}/ns/net`)], netFds: 0 });
  });
});
