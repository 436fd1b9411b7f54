// Two builds of podvlan head to head in one sandbox, for a change to a hot path: exec setup and
// teardown (Docker containers) and CNI ADD and DEL (the executable called directly, as a runtime
// calls it), the builds alternating call by call so both see the same machine state.
//   PODVLAN_AB_OLD=/path/to/old/podvlan bun bench/ab.ts      (new: dist/podvlan; BENCH_N rounds, default 40)
// Each build has its own config, state directory, bridge and subnet.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BINARY, writeConfig } from '../test/support/plugin';
import { type SandboxInfo, startContainer } from '../test/support/sandbox';
import { insideSandbox } from './in-sandbox';
import { summarize } from './stats';

const PATH = '/usr/sbin:/usr/bin:/sbin:/bin';
const N = Number(process.env.BENCH_N ?? 40);

interface Timed {
  ms: number; // wall time of the whole process
  cpuMs: number; // its user + system CPU time (getrusage): far less moved by other load than wall time
}

interface BunChild {
  exited: Promise<number>;
  stdout: ReadableStream;
  stderr: ReadableStream;
  resourceUsage(): { cpuTime: { total: bigint } };
}
type BunSpawn = (o: { cmd: string[]; env: Record<string, string>; stdin: Blob | 'ignore' }) => BunChild;
const bunSpawn = (globalThis as unknown as { Bun: { spawn: BunSpawn } }).Bun.spawn;

async function timed(file: string, args: string[], env: Record<string, string>, input?: string): Promise<Timed> {
  const started = performance.now();
  const child = bunSpawn({ cmd: [file, ...args], env: { PATH, ...env }, stdin: input ? new Blob([input]) : 'ignore' });
  const [code, out, err] = await Promise.all([
    child.exited,
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
  ]);
  const ms = performance.now() - started;
  if (code !== 0) throw new Error(`${file} ${args.join(' ')} ${env.CNI_COMMAND ?? ''} failed (${code}): ${out}${err}`);
  return { ms, cpuMs: Number(child.resourceUsage().cpuTime.total) / 1000 };
}

async function inner(info: SandboxInfo): Promise<void> {
  const old = process.env.PODVLAN_AB_OLD;
  if (!old) throw new Error('PODVLAN_AB_OLD must name the other build');
  const dir = join(info.dir, 'ab');
  mkdirSync(dir, { recursive: true });
  const builds = { old: join(dir, 'podvlan-old'), new: join(dir, 'podvlan-new') };
  // Fresh copies of both, written the same minute: a binary's page-cache state moves its start-up.
  copyFileSync(old, builds.old);
  copyFileSync(BINARY, builds.new);
  type Build = keyof typeof builds;
  const names: Build[] = ['old', 'new'];
  const configs = Object.fromEntries(
    names.map((b, i) => [
      b,
      writeConfig(info, join(dir, b), [
        {
          name: `ab${b}`,
          bridge: `ab${b}_br`,
          datapathType: 'netdev',
          interface: 'eth1',
          primary: true,
          vlan: { id: 22 },
          ipam: { type: 'host-local', subnet: `10.${200 + i}.0.0/16`, gateway: `10.${200 + i}.0.1` },
        },
      ]),
    ]),
  ) as Record<Build, string>;
  const exec = (b: Build, args: string[]) =>
    timed(builds[b], args, { PODVLAN_CONFIG: configs[b], PODVLAN_AGENT: 'off' });
  for (const b of names) await exec(b, ['init']);
  const cniConf = (b: Build, i: number) =>
    JSON.stringify({
      cniVersion: '1.0.0',
      name: `abcni${b}`,
      type: 'podvlan',
      bridge: `abcni${b}_br`,
      datapathType: 'netdev',
      vlan: { id: 33 },
      ipam: { type: 'podvlan', pool: { type: 'host-local', subnet: `10.${210 + i}.0.0/16` } },
      nodeConfig: configs[b],
    });
  const cniCall = (b: Build, verb: string, pod: number) =>
    timed(
      builds[b],
      [],
      {
        CNI_COMMAND: verb,
        CNI_CONTAINERID: `ab-${b}-${pod}`,
        CNI_NETNS: `/run/netns/ab-${b}-${pod}`,
        CNI_IFNAME: 'eth0',
        CNI_PATH: '/usr/lib/cni',
      },
      cniConf(b, names.indexOf(b)),
    );

  console.log(`starting ${2 * N + 2} containers and ${2 * N + 2} namespaces...`);
  const containers: Record<Build, string[]> = { old: [], new: [] };
  for (let i = 0; i <= N; i++) for (const b of names) containers[b].push(await startContainer(info));
  for (let i = 0; i <= N; i++) for (const b of names) spawnSync('ip', ['netns', 'add', `ab-${b}-${i}`]);
  const pod = (b: Build, i: number) => ['ab', `p${i}`, containers[b][i]];
  // Warm-up round (config caches, bridges), not counted.
  for (const b of names) {
    await exec(b, ['setup', ...pod(b, N)]);
    await exec(b, ['teardown', ...pod(b, N)]);
    await cniCall(b, 'ADD', N);
    await cniCall(b, 'DEL', N);
  }
  const samples: Record<string, number[]> = {};
  const add = (k: string, t: Timed) => {
    samples[k] ??= [];
    samples[k].push(t.ms);
    samples[`${k}, CPU`] ??= [];
    samples[`${k}, CPU`].push(t.cpuMs);
  };
  for (const [phase, run] of [
    ['setup', (b: Build, i: number) => exec(b, ['setup', ...pod(b, i)])],
    ['teardown', (b: Build, i: number) => exec(b, ['teardown', ...pod(b, i)])],
    ['CNI ADD', (b: Build, i: number) => cniCall(b, 'ADD', i)],
    ['CNI DEL', (b: Build, i: number) => cniCall(b, 'DEL', i)],
  ] as const) {
    for (let i = 0; i < N; i++) {
      const order: Build[] = i % 2 ? ['new', 'old'] : ['old', 'new'];
      for (const b of order) add(`${phase} ${b}`, await run(b, i));
    }
  }
  console.log(`\n${'call'.padEnd(22)}   p50 ms   p90 ms   mean     n`);
  for (const [k, v] of Object.entries(samples)) {
    const s = summarize(v);
    const mean = v.reduce((a, x) => a + x, 0) / v.length;
    console.log(
      `${k.padEnd(22)} ${s.p50.toFixed(1).padStart(8)} ${s.p90.toFixed(1).padStart(8)} ${mean.toFixed(1).padStart(6)} ${String(s.n).padStart(5)}`,
    );
  }
  for (let i = 0; i <= N; i++) for (const b of names) spawnSync('ip', ['netns', 'del', `ab-${b}-${i}`]);
  writeFileSync(join(dir, 'samples.json'), JSON.stringify(samples));
}

if (import.meta.main) await inner(await insideSandbox(__filename, 'PODVLAN_AB_SANDBOX'));
