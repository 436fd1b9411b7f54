// The bench's CNI rows: ADD and DEL of podvlan and of Debian's Go `bridge` + `host-local`, each
// driven by the same Go libcni caller (test/support/libcni), interleaved so both see the same
// machine state. Timed: the caller's whole process (libcni's parse and exec, then the plugin).
// Peak memory: each plugin alone, fed the very stdin libcni gives it (GNU time, a separate run).
// Called from bench/run.ts inside the node's namespace; `bun bench/cni.ts` runs these rows alone
// (sandbox and all), for repeating them on a noisy machine.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { buildLibcniCaller, DEBIAN_CNI_DIR } from '../test/support/libcni';
import { BINARY } from '../test/support/plugin';
import type { SandboxInfo } from '../test/support/sandbox';
import { insideSandbox } from './in-sandbox';
import { summarize, type Summary } from './stats';

const PATH = '/usr/sbin:/usr/bin:/sbin:/bin';

interface Run {
  ms: number;
  code: number;
  output: string;
}

function run(file: string, args: string[], env: Record<string, string>, input?: string): Promise<Run> {
  return new Promise((done) => {
    const started = performance.now();
    const child = spawn(file, args, { env: { PATH, ...env }, stdio: [input ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (c) => (output += c));
    child.stderr!.on('data', (c) => (output += c));
    if (input) child.stdin!.end(input);
    child.on('close', (code) => done({ ms: performance.now() - started, code: code ?? -1, output }));
  });
}

function must(r: Run, what: string): number {
  if (r.code !== 0) throw new Error(`${what} failed (${r.code}): ${r.output.trim()}`);
  return r.ms;
}

/** Peak resident memory (KiB) of one process, via GNU time. */
function peakKib(file: string, env: Record<string, string>, input: string): number {
  const r = spawnSync('/usr/bin/time', ['-f', '%M', file], { env: { PATH, ...env }, input, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${file} failed under time: ${r.stdout} ${r.stderr}`);
  return Number(r.stderr.trim().split('\n').pop());
}

export interface CniBench {
  samples: Record<string, number[]>;
  summary: Record<string, Summary>;
  ratios: Record<string, number>;
  memoryKib: Record<string, number>;
  firstCallMs: Record<string, number>;
}

/** n ADDs, then n DELs, of each plugin, into fresh network namespaces; prints its rows. */
export async function cniBench(info: SandboxInfo, benchDir: string, n: number): Promise<CniBench> {
  const dir = join(benchDir, 'cni');
  mkdirSync(join(dir, 'bin'), { recursive: true });
  const caller = await buildLibcniCaller();
  // podvlan as a CNI bin dir holds it; node-wide keys in a podvlan.yaml, as a node has them.
  const pluginDir = join(dir, 'bin');
  // PODVLAN_BENCH_BINARY: another build of podvlan, to compare two builds in one machine state.
  spawnSync('cp', ['-f', process.env.PODVLAN_BENCH_BINARY ?? BINARY, join(pluginDir, 'podvlan')]);
  const nodeConfig = join(dir, 'podvlan.yaml');
  writeFileSync(
    nodeConfig,
    `ovsdb: ${info.ovsdb}\nstateDir: ${join(dir, 'state')}\nlogFile: ${join(dir, 'podvlan.log')}\n`,
  );
  const podvlanPlugin = {
    type: 'podvlan',
    bridge: 'cnibench_br',
    datapathType: 'netdev',
    vlan: { id: 22 },
    ipam: { type: 'podvlan', pool: { type: 'host-local', subnet: '10.244.0.0/16', gateway: '10.244.0.1' } },
    nodeConfig,
  };
  const bridgePlugin = {
    type: 'bridge',
    bridge: 'cnibench0',
    isGateway: false,
    ipMasq: false,
    ipam: { type: 'host-local', subnet: '10.245.0.0/16', dataDir: join(dir, 'host-local') },
  };
  const plugins = { podvlan: podvlanPlugin, bridge: bridgePlugin };
  type Name = keyof typeof plugins;
  const conflist = (name: Name) => {
    const path = join(dir, `${name}.conflist`);
    writeFileSync(path, JSON.stringify({ cniVersion: '1.0.0', name: `bench-${name}`, plugins: [plugins[name]] }));
    return path;
  };
  const lists = { podvlan: conflist('podvlan'), bridge: conflist('bridge') };
  const cacheDir = join(dir, 'libcni-cache');
  const netnsOf = (i: number) => `pvcb-${i}`;
  const libcni = (name: Name, verb: 'add' | 'del', i: number) =>
    run(
      caller,
      [
        `-containerid=cnibench-${name}-${i}`,
        `-netns=/run/netns/${netnsOf(i)}`,
        '-ifname=eth0',
        `-plugin-dirs=${pluginDir}:${DEBIAN_CNI_DIR}`,
        `-cache-dir=${cacheDir}`,
        verb,
        lists[name],
      ],
      {},
    ).then((r) => must(r, `libcni ${verb} ${name} #${i}`));

  // One namespace per pod; both plugins' pods share it (different interfaces would clash:
  // each gets its own index, so pods 0..n-1 for podvlan and n..2n-1 for bridge).
  const total = 2 * n + 2;
  for (let i = 0; i < total; i++) spawnSync('ip', ['netns', 'add', netnsOf(i)]);
  const samples: Record<string, number[]> = {
    'cni podvlan ADD': [],
    'cni bridge ADD': [],
    'cni podvlan DEL': [],
    'cni bridge DEL': [],
  };
  const cold: Record<string, number> = {};
  try {
    // First calls apart: podvlan's first ADD validates and caches its config and creates the OVS
    // bridge, bridge's creates its Linux bridge.
    cold['cni podvlan ADD, first call'] = await libcni('podvlan', 'add', 2 * n);
    cold['cni bridge ADD, first call'] = await libcni('bridge', 'add', 2 * n + 1);
    const pod = (name: Name, i: number) => (name === 'podvlan' ? i : n + i);
    for (const verb of ['add', 'del'] as const)
      for (let i = 0; i < n; i++) {
        // Alternate who goes first, so neither always runs right after the other's exit.
        const order: Name[] = i % 2 ? ['bridge', 'podvlan'] : ['podvlan', 'bridge'];
        for (const name of order)
          samples[`cni ${name} ${verb.toUpperCase()}`].push(await libcni(name, verb, pod(name, i)));
      }
    await libcni('podvlan', 'del', 2 * n);
    await libcni('bridge', 'del', 2 * n + 1);

    // Memory: the plugin alone, with the stdin libcni builds for it (name and cniVersion added).
    const memoryKib: Record<string, number> = {};
    for (const name of ['podvlan', 'bridge'] as const) {
      const stdin = JSON.stringify({ cniVersion: '1.0.0', name: `bench-${name}`, ...plugins[name] });
      const file = name === 'podvlan' ? join(pluginDir, 'podvlan') : join(DEBIAN_CNI_DIR, 'bridge');
      // Twice each: the first ADD with this text (key order differs from libcni's) fills podvlan's
      // config cache; the second is the steady state a runtime sees.
      for (const verb of ['ADD', 'DEL', 'ADD', 'DEL'])
        memoryKib[`cni ${name} ${verb}`] = peakKib(
          file,
          {
            CNI_COMMAND: verb,
            CNI_CONTAINERID: `cnibench-mem-${name}`,
            CNI_NETNS: `/run/netns/${netnsOf(0)}`,
            CNI_IFNAME: 'eth9',
            CNI_PATH: DEBIAN_CNI_DIR,
          },
          stdin,
        );
    }

    const summary = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, summarize(v)]));
    const ratios = {
      'cni ADD podvlan / bridge': summary['cni podvlan ADD'].p50 / summary['cni bridge ADD'].p50,
      'cni DEL podvlan / bridge': summary['cni podvlan DEL'].p50 / summary['cni bridge DEL'].p50,
    };
    const row = (k: string, s: Summary) =>
      `${k.padEnd(28)} ${s.p50.toFixed(1).padStart(8)} ${s.p90.toFixed(1).padStart(8)} ${String(s.n).padStart(5)}`;
    console.log(`\nCNI through libcni 1.1.2 (whole caller process):\n${'call'.padEnd(28)}   p50 ms   p90 ms     n`);
    for (const [k, s] of Object.entries(summary)) console.log(row(k, s));
    for (const [k, ms] of Object.entries(cold)) console.log(`${k.padEnd(28)} ${ms.toFixed(1).padStart(8)}`);
    for (const [k, v] of Object.entries(ratios)) console.log(`  ${k.padEnd(30)} ${v.toFixed(2)}`);
    console.log(
      `peak memory (KiB): ${Object.entries(memoryKib)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}`,
    );
    const result = { samples, summary, ratios, memoryKib, firstCallMs: cold };
    const out = resolve(__dirname, 'out');
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, 'cni.json'), JSON.stringify({ date: new Date().toISOString(), ...result }, null, 2));
    return result;
  } finally {
    for (let i = 0; i < total; i++) spawnSync('ip', ['netns', 'del', netnsOf(i)]);
    spawnSync('ovs-vsctl', [`--db=${info.ovsdb}`, '--if-exists', 'del-br', 'cnibench_br']);
    spawnSync('ip', ['link', 'del', 'cnibench0']);
  }
}

// Alone: a private sandbox, and this file again inside the node's namespace (as run.ts does).
if (import.meta.main) {
  const info = await insideSandbox(__filename, 'PODVLAN_CNI_BENCH_SANDBOX');
  await cniBench(info, join(info.dir, 'bench'), Number(process.env.BENCH_N ?? 20));
}
