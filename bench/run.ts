// npm run bench: whole-process wall time of podvlan's kubelet calls against Debian's Go CNI
// `bridge` + `host-local` plugin on the same kind of pods, plus concurrency and scale runs.
// The outer process starts a private sandbox and re-runs this file inside the node's network
// namespace, so every timed process is spawned directly, with no wrapper in the measurement.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { BINARY, writeConfig } from '../test/support/plugin';
import { type SandboxInfo, startContainer } from '../test/support/sandbox';
import { insideSandbox } from './in-sandbox';
import { allocatorBench, printAllocRows } from './etcd-alloc';
import { startEtcd } from '../test/integration/etcd-server';
import { stripPlotSvg, summarize, type Summary } from './stats';
import { criSamples } from './cri';
import { cniBench } from './cni';
import { diagnoseOnce, diagnoseOnly } from './diagnose';

const OUT = resolve(__dirname, 'out');
const SEQUENTIAL = Number(process.env.BENCH_N ?? 20);
const PIPEWORK_MS = 125; // hand-written baseline, measured on a machine like this (issue 5)

interface Timed {
  ms: number;
  code: number;
  output: string;
}

function timed(file: string, args: string[], env: Record<string, string> = {}, input?: string): Promise<Timed> {
  return new Promise((done) => {
    const started = performance.now();
    const child = spawn(file, args, {
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', ...env },
      stdio: [input ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout!.on('data', (c) => {
      output += c;
    });
    child.stderr!.on('data', (c) => {
      output += c;
    });
    if (input) child.stdin!.end(input);
    child.on('close', (code) => done({ ms: performance.now() - started, code: code ?? -1, output }));
  });
}

/** Peak resident memory (KiB) of one run, via GNU time (a separate run: time adds its own cost). */
function peakKib(file: string, args: string[], env: Record<string, string> = {}, input?: string): number {
  const r = spawnSync('/usr/bin/time', ['-f', '%M', file, ...args], {
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', ...env },
    input,
    encoding: 'utf8',
  });
  return Number(r.stderr.trim().split('\n').pop());
}

function must(r: Timed, what: string): number {
  if (r.code !== 0) throw new Error(`${what} failed (${r.code}): ${r.output.trim()}`);
  return r.ms;
}

async function pool<T>(n: number, make: (i: number) => Promise<T>, width = 8): Promise<T[]> {
  const out: T[] = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) {
        const i = next++;
        out[i] = await make(i);
      }
    }),
  );
  return out;
}

async function inner(info: SandboxInfo): Promise<void> {
  const dir = join(info.dir, 'bench');
  if (process.env.BENCH_ONLY === 'etcd-alloc') {
    // The etcd allocator's row alone (bench/etcd-alloc.ts): IPv4 and IPv6 on one etcd, no pods.
    const etcd = await startEtcd({ netns: info.netns });
    try {
      printAllocRows(
        await allocatorBench(
          etcd.url,
          Number(process.env.BENCH_ALLOC_CONCURRENCY ?? 50),
          Number(process.env.BENCH_ALLOC_ROUNDS ?? 5),
        ),
      );
    } finally {
      await etcd.destroy();
    }
    return;
  }
  const config = writeConfig(
    info,
    dir,
    [
      {
        name: 'vlannet',
        bridge: 'bench_br',
        datapathType: 'netdev',
        interface: 'eth1',
        primary: true,
        vlan: { fromPodName: '^(\\d+)-' },
        ipam: { type: 'host-local', subnet: '10.240.0.0/16', gateway: '10.240.0.1' },
      },
    ],
    { vswitchdCtl: info.vswitchdCtl },
  ); // diagnose asks ovs-vswitchd
  const env = { PODVLAN_CONFIG: config };
  const podvlan = (...args: string[]) => timed(BINARY, args, env);
  must(await podvlan('init'), 'init');
  const cniConf = JSON.stringify({
    cniVersion: '0.4.0',
    name: 'benchnet',
    type: 'bridge',
    bridge: 'cnibr0',
    isGateway: false,
    ipMasq: false,
    ipam: { type: 'host-local', subnet: '10.250.0.0/16', dataDir: join(dir, 'cni-ipam') },
  });
  const cniEnv = (cmd: string, id: string, pid: string) => ({
    CNI_COMMAND: cmd,
    CNI_CONTAINERID: id,
    CNI_NETNS: `/proc/${pid}/ns/net`,
    CNI_IFNAME: 'eth1',
    CNI_PATH: '/usr/lib/cni',
  });
  const pidOf = (id: string) =>
    spawnSync('docker', ['-H', `unix://${info.dockerSocket}`, 'inspect', '-f', '{{.State.Pid}}', id], {
      encoding: 'utf8',
    }).stdout.trim();

  // A compiled bun binary that does nothing, built like podvlan: the floor any such executable starts from.
  const hello = join(dir, 'hello');
  writeFileSync(`${hello}.ts`, 'console.log("")\n');
  spawnSync(
    resolve(__dirname, '../node_modules/.bin/bun'),
    ['build', '--compile', '--minify', '--bytecode', '--format=esm', `${hello}.ts`, '--outfile', hello],
    { stdio: 'ignore' },
  );

  if (process.env.BENCH_ONLY === 'diagnose') {
    // The diagnose row alone (bench/diagnose.ts): two containers instead of hundreds.
    const rows = await diagnoseOnly(podvlan, await pool(2, () => startContainer(info)), SEQUENTIAL * 5);
    for (const [k, s] of Object.entries(rows))
      console.log(`${k.padEnd(28)} p50 ${s.p50.toFixed(1)} p90 ${s.p90.toFixed(1)} n ${s.n}`);
    const ratio = rows['podvlan diagnose, same node'].p50 / rows['podvlan version'].p50;
    console.log(`diagnose / podvlan version: ${ratio.toFixed(2)}`);
    return;
  }
  console.log(`starting ${SEQUENTIAL * 3 + 200 + 50 + 10} containers...`);
  const containers = await pool(SEQUENTIAL * 3 + 200 + 50 + 10, () => startContainer(info));
  const take = (n: number) => containers.splice(0, n);

  const samples: Record<string, number[]> = {
    'bare bun executable': [],
    'podvlan version': [],
    'podvlan setup': [],
    'podvlan status': [],
    'podvlan teardown': [],
    'cni bridge ADD': [],
    'cni bridge DEL': [],
    'podvlan setup, agent': [],
    'podvlan teardown, agent': [],
    'podvlan status, config beside it': [],
    'podvlan diagnose, same node': [],
  };
  // Sequential calls, podvlan and the Go peer interleaved so both see the same machine state.
  const mine = take(SEQUENTIAL);
  const theirs = take(SEQUENTIAL);
  for (let i = 0; i < SEQUENTIAL; i++) {
    samples['podvlan setup'].push(must(await podvlan('setup', 'bench', `22-seq-${i}`, mine[i]), 'setup'));
    samples['cni bridge ADD'].push(
      must(await timed('/usr/lib/cni/bridge', [], cniEnv('ADD', theirs[i], pidOf(theirs[i])), cniConf), 'cni ADD'),
    );
  }
  // Start-up and status interleaved, so that the ratio (the budget) compares the same machine
  // state: this VM drifts by 10-25% over minutes. They are cheap, so five times the samples.
  // As installed for a kubelet: the config beside the executable, no environment.
  const installed = join(dir, 'installed');
  mkdirSync(installed, { recursive: true });
  copyFileSync(BINARY, join(installed, 'podvlan'));
  chmodSync(join(installed, 'podvlan'), 0o755);
  copyFileSync(config, join(installed, 'podvlan.yaml'));
  for (let i = 0; i < SEQUENTIAL * 5; i++) {
    samples['bare bun executable'].push(must(await timed(hello, []), 'hello'));
    samples['podvlan status, config beside it'].push(
      must(
        await timed(join(installed, 'podvlan'), ['status', 'bench', `22-seq-${i % SEQUENTIAL}`, mine[i % SEQUENTIAL]]),
        'status beside',
      ),
    );
    samples['podvlan status'].push(
      must(await podvlan('status', 'bench', `22-seq-${i % SEQUENTIAL}`, mine[i % SEQUENTIAL]), 'status'),
    );
    samples['podvlan version'].push(must(await podvlan('version'), 'version'));
    samples['podvlan diagnose, same node'].push(await diagnoseOnce(podvlan)); // bench/22-seq-0 to -1
  }
  const memory = {
    status: peakKib(BINARY, ['status', 'bench', '22-seq-0', mine[0]], env),
    setupRetry: peakKib(BINARY, ['setup', 'bench', '22-seq-0', mine[0]], env),
    cniAdd: 0,
  };
  for (let i = 0; i < SEQUENTIAL; i++) {
    samples['podvlan teardown'].push(must(await podvlan('teardown', 'bench', `22-seq-${i}`, mine[i]), 'teardown'));
    samples['cni bridge DEL'].push(
      must(await timed('/usr/lib/cni/bridge', [], cniEnv('DEL', theirs[i], pidOf(theirs[i])), cniConf), 'cni DEL'),
    );
  }
  memory.cniAdd = peakKib('/usr/lib/cni/bridge', [], cniEnv('ADD', theirs[0], pidOf(theirs[0])), cniConf);
  await cniBench(info, dir, SEQUENTIAL); // CNI ADD/DEL via libcni, podvlan vs bridge: bench/cni.ts

  // The same calls with `podvlan agent` running: the executable hands them over.
  const agent = spawn(BINARY, ['agent'], {
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise((resolve, reject) => {
    agent.stdout!.once('data', resolve);
    agent.once('exit', (code) => reject(new Error(`podvlan agent exited (${code}) before listening`)));
    setTimeout(() => reject(new Error('podvlan agent did not start within 10 s')), 10000).unref();
  });
  const viaAgent = take(SEQUENTIAL);
  for (let i = 0; i < SEQUENTIAL; i++)
    samples['podvlan setup, agent'].push(
      must(await podvlan('setup', 'bench', `22-agent-${i}`, viaAgent[i]), 'setup via agent'),
    );
  for (let i = 0; i < SEQUENTIAL; i++)
    samples['podvlan teardown, agent'].push(
      must(await podvlan('teardown', 'bench', `22-agent-${i}`, viaAgent[i]), 'teardown via agent'),
    );
  agent.kill('SIGTERM');
  await new Promise((r) => agent.once('exit', r));

  // Concurrency: k setups started at once.
  const concurrency: Record<string, Summary & { wallMs: number }> = {};
  const spare = take(50);
  for (const k of [1, 10, 50]) {
    const started = performance.now();
    const lat = await Promise.all(
      spare
        .slice(0, k)
        .map((id, i) => podvlan('setup', 'bench', `33-conc-${k}-${i}`, id).then((r) => must(r, `setup x${k}`))),
    );
    concurrency[`setup x${k}`] = { ...summarize(lat), wallMs: performance.now() - started };
    await Promise.all(spare.slice(0, k).map((id, i) => podvlan('teardown', 'bench', `33-conc-${k}-${i}`, id)));
  }

  // Cluster-wide allocation against one etcd: setups with a namespace VLAN pool and etcd
  // addresses at 1, 10 and 50 at once, and the allocator's own throughput (3 nodes in parallel).
  const cluster = await clusterBench(info, dir, spare);
  Object.assign(samples, await criSamples(info, dir)); // RunPodSandbox via containerd: podvlan vs bridge

  // Scale: setup latency with 10, 200 and 1000 ports already on the bridge; status over 200 pods.
  const scale: Record<string, Summary> = {};
  const fill = take(200);
  const probes = take(10);
  const fillers = (from: number, to: number) =>
    pool(
      to - from,
      (i) => podvlan('setup', 'bench', `44-fill-${from + i}`, fill[from + i]).then((r) => must(r, 'fill')),
      4,
    );
  const logFile = join(dir, 'podvlan.log');
  const applyTimes = (n: number) =>
    readFileSync(logFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((l) => l.msg === 'set up')
      .slice(-n)
      .map((l) => Number(l.vswitchdApplyMs));
  const probe = async (label: string) => {
    const lat: number[] = [];
    for (let i = 0; i < probes.length; i++)
      lat.push(must(await podvlan('setup', 'bench', `55-probe-${i}`, probes[i]), 'probe setup'));
    const apply = applyTimes(probes.length);
    for (let i = 0; i < probes.length; i++)
      must(await podvlan('teardown', 'bench', `55-probe-${i}`, probes[i]), 'probe teardown');
    scale[label] = summarize(lat);
    scale[`${label}, minus ovs-vswitchd apply`] = summarize(lat.map((ms, i) => ms - apply[i]));
  };
  await fillers(0, 10);
  await probe('setup with 10 ports');
  await fillers(10, 200);
  await probe('setup with 200 ports');
  const statusLat: number[] = [];
  for (let i = 0; i < 200; i++)
    statusLat.push(must(await podvlan('status', 'bench', `44-fill-${i}`, fill[i]), 'status 200'));
  scale['status over 200 pods'] = summarize(statusLat);
  addForeignPorts(info, 'bench_br', 800);
  await probe('setup with 1000 ports');

  const summary = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, summarize(v)]));
  const p50 = (k: string) => summary[k].p50;
  const ratios = {
    'status / bare bun executable': p50('podvlan status') / p50('bare bun executable'),
    'status / podvlan version': p50('podvlan status') / p50('podvlan version'),
    'diagnose / podvlan version': p50('podvlan diagnose, same node') / p50('podvlan version'),
    'status, config beside / bare': p50('podvlan status, config beside it') / p50('bare bun executable'),
    'setup / cni bridge ADD': p50('podvlan setup') / p50('cni bridge ADD'),
    'teardown / cni bridge DEL': p50('podvlan teardown') / p50('cni bridge DEL'),
    'setup with agent / cni ADD': p50('podvlan setup, agent') / p50('cni bridge ADD'),
    'teardown with agent / cni DEL': p50('podvlan teardown, agent') / p50('cni bridge DEL'),
    'setup / pipework (125 ms)': p50('podvlan setup') / PIPEWORK_MS,
  };
  const machine = `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, ${spawnSync('uname', ['-r'], { encoding: 'utf8' }).stdout.trim()}`;
  mkdirSync(OUT, { recursive: true });
  writeFileSync(
    join(OUT, 'results.json'),
    JSON.stringify(
      {
        date: new Date().toISOString(),
        machine,
        samples,
        summary,
        ratios,
        memoryKib: memory,
        concurrency,
        scale,
        cluster,
      },
      null,
      2,
    ),
  );
  writeFileSync(
    join(OUT, 'latency.svg'),
    stripPlotSvg(
      `podvlan vs Go CNI bridge+host-local, whole-process wall time (${SEQUENTIAL} runs each)`,
      Object.entries(samples).map(([name, values]) => ({ name, values })),
    ),
  );

  const row = (name: string, s: Summary) =>
    `${name.padEnd(28)} ${s.p50.toFixed(1).padStart(8)} ${s.p90.toFixed(1).padStart(8)} ${String(s.n).padStart(5)}`;
  console.log(
    `\nmachine: ${machine}\n\n${'call'.padEnd(28)} ${'p50 ms'.padStart(8)} ${'p90 ms'.padStart(8)} ${'n'.padStart(5)}`,
  );
  for (const [k, s] of Object.entries(summary)) console.log(row(k, s));
  console.log('');
  for (const [k, s] of Object.entries(concurrency)) console.log(`${row(k, s)}   wall ${s.wallMs.toFixed(0)} ms`);
  for (const [k, s] of Object.entries(scale)) console.log(row(k, s));
  for (const [k, s] of Object.entries(cluster.setups))
    console.log(`${row(`etcd ${k}`, s)}   wall ${s.wallMs.toFixed(0)} ms, ${s.podsPerSecond.toFixed(1)} pods/s`);
  printAllocRows(cluster.allocator); // (peer: 500 pods / 270 s = 1.9 pods/s)
  console.log('\nratios (p50):');
  for (const [k, v] of Object.entries(ratios)) console.log(`  ${k.padEnd(30)} ${v.toFixed(2)}`);
  console.log(
    `\npeak memory: podvlan status ${memory.status} KiB, podvlan setup ${memory.setupRetry} KiB, cni bridge ADD ${memory.cniAdd} KiB`,
  );
  console.log(`\nwrote ${join(OUT, 'results.json')} and ${join(OUT, 'latency.svg')}`);
}

async function clusterBench(info: SandboxInfo, dir: string, containers: string[]) {
  const etcd = await startEtcd({ netns: info.netns });
  try {
    const prefix = '/podvlan-bench';
    const config = writeConfig(
      info,
      join(dir, 'cluster'),
      [
        {
          name: 'tenant',
          bridge: 'bench_br',
          datapathType: 'netdev',
          interface: 'eth1',
          primary: true,
          vlan: { pool: '100-199', per: 'namespace' },
          ipam: { type: 'etcd', subnet: '10.242.0.0/16', gateway: '10.242.0.1' },
        },
      ],
      { nodeName: 'bench-node', etcd: { endpoints: [etcd.url], prefix } },
    );
    const env = { PODVLAN_CONFIG: config };
    const setups: Record<string, Summary & { wallMs: number; podsPerSecond: number }> = {};
    for (const k of [1, 10, 50]) {
      const started = performance.now();
      const lat = await Promise.all(
        containers
          .slice(0, k)
          .map((id, i) =>
            timed(BINARY, ['setup', `ns-${i % 5}`, `c-${k}-${i}`, id], env).then((r) => must(r, `etcd setup x${k}`)),
          ),
      );
      const wallMs = performance.now() - started;
      setups[`setup x${k}`] = { ...summarize(lat), wallMs, podsPerSecond: k / (wallMs / 1000) };
      await Promise.all(
        containers.slice(0, k).map((id, i) => timed(BINARY, ['teardown', `ns-${i % 5}`, `c-${k}-${i}`, id], env)),
      );
    }
    // The allocator alone, in this process: 3 nodes x 50 concurrent acquisitions, IPv4 and IPv6.
    return { setups, allocator: await allocatorBench(etcd.url) };
  } finally {
    await etcd.destroy();
  }
}

/** Ports that look like other pods' (podvlan external_ids, real veths), in one ovs-vsctl call. */
function addForeignPorts(info: SandboxInfo, bridge: string, count: number): void {
  const batch = [];
  const args = [`--db=${info.ovsdb}`];
  for (let i = 0; i < count; i++) {
    const name = `pvfill${String(i).padStart(5, '0')}`;
    batch.push(`link add ${name} type veth peer name ${name}p`, `link set ${name} up`);
    args.push(
      '--',
      'add-port',
      bridge,
      name,
      'tag=77',
      '--',
      'set',
      'Port',
      name,
      `external_ids:podvlan/managed=true`,
      `external_ids:podvlan/namespace=filler`,
      `external_ids:podvlan/pod=77-f${i}`,
    );
  }
  spawnSync('ip', ['-batch', '-'], { input: `${batch.join('\n')}\n` });
  spawnSync('ovs-vsctl', args, { stdio: 'inherit' });
}

if (!process.env.PODVLAN_BENCH_SANDBOX) console.log('starting the sandbox (private OVS, dockerd)...');
await inner(await insideSandbox(__filename, 'PODVLAN_BENCH_SANDBOX'));
