// What IPv6 on the pod end costs createPairs, in process (netlink through bun:ffi) or with
// PODVLAN_VETH=ip: the same pod end created and deleted over and over, IPv4 only and dual-stack
// alternating call by call (and, given PODVLAN_BENCH_BASE=<an older checkout's src/veth/pair.ts>,
// that build's IPv4-only call beside them), so every variant sees the same machine state. Then how
// long the kernel's duplicate address detection keeps an IPv6 address tentative, which waiting
// for it instead of `nodad` would add to every setup. Runs in two scratch namespaces of its own:
//   bun bench/veth-ipv6.ts            (BENCH_N rounds, default 200; BENCH_DAD samples, default 10)
import { spawnSync } from 'node:child_process';
import { openSandbox } from '../src/runtime/sandbox';
import { loadNetlink, readNetnsLinks } from '../src/veth/netlink-query';
import { createPairs, deleteHostLinks } from '../src/veth/pair';
import { summarize } from './stats';

const N = Number(process.env.BENCH_N ?? 200);
const DAD = Number(process.env.BENCH_DAD ?? 10);
const suffix = String(process.pid);
const [HOST, POD] = [`vb6h-${suffix}`, `vb6p-${suffix}`];

const sh = (...args: string[]) => {
  const r = spawnSync(args[0], args.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${args.join(' ')}: ${r.stderr}`);
};
// This process moves into HOST (setns through ip netns exec would lose bun): re-exec there.
if (!process.env.VB6_INSIDE) {
  sh('ip', 'netns', 'add', HOST);
  sh('ip', 'netns', 'add', POD);
  try {
    const r = spawnSync('ip', ['netns', 'exec', HOST, process.execPath, ...process.argv.slice(1)], {
      stdio: 'inherit',
      env: { ...process.env, VB6_INSIDE: POD },
    });
    process.exitCode = r.status ?? 1;
  } finally {
    spawnSync('ip', ['netns', 'del', HOST]);
    spawnSync('ip', ['netns', 'del', POD]);
  }
} else {
  await main(`/run/netns/${process.env.VB6_INSIDE}`);
}

type Create = typeof createPairs;

async function main(podPath: string): Promise<void> {
  const sandbox = openSandbox(podPath, 'bench pod');
  const base = process.env.PODVLAN_BENCH_BASE
    ? ((await import(process.env.PODVLAN_BENCH_BASE)) as { createPairs: Create }).createPairs
    : undefined;
  const plan = { hostName: 'pvbench0000001', podName: 'net1', mac: '0a:58:0a:d7:00:02', mtu: 1400 };
  const v4 = { ...plan, addresses: ['10.215.0.2/24'], routes: [{ dst: '10.214.0.0/16', via: '10.215.0.1' }] };
  const dual = {
    ...plan,
    addresses: ['10.215.0.2/24', 'fd00:d7::2/64'],
    routes: [...v4.routes, { dst: 'fd00:d6::/64', via: 'fd00:d7::1' }],
  };
  const variants: [string, () => Promise<unknown>][] = [
    ['ipv4 only', () => createPairs(sandbox, sandbox.inode, [v4], 5000)],
    ['dual-stack', () => createPairs(sandbox, sandbox.inode, [dual], 5000)],
  ];
  if (base) {
    const old = { ...plan, address: v4.addresses[0], routes: v4.routes };
    variants.push(['ipv4 only, base', () => base(sandbox, sandbox.inode, [old as never], 5000)]);
  }
  const times = new Map<string, number[]>(variants.map(([name]) => [name, []]));
  for (let i = 0; i < N + 5; i++) {
    for (const [name, run] of i % 2 ? variants : [...variants].reverse()) {
      const started = performance.now();
      await run();
      const ms = performance.now() - started;
      if (i >= 5) times.get(name)!.push(ms); // the first rounds warm up (imports, JIT)
      await deleteHostLinks([plan.hostName], 5000);
    }
  }
  const path = process.env.PODVLAN_VETH === 'ip' ? 'iproute2' : 'netlink';
  const reference = times.get('ipv4 only')!;
  for (const [name, values] of times) {
    const s = summarize(values);
    // Paired: each round's call minus the same round's IPv4-only call, so a burst of load that
    // hits one round hits both sides of its difference.
    const d = summarize(values.map((v, i) => v - reference[i]));
    const paired = name === 'ipv4 only' ? '' : `, paired median difference to ipv4 only ${d.p50.toFixed(3)} ms`;
    console.log(
      `${path} createPairs ${name}: p50 ${s.p50.toFixed(3)} ms, p90 ${s.p90.toFixed(3)} ms (n ${s.n})${paired}`,
    );
  }
  if (DAD > 0) await dadWait(sandbox, podPath);
  sandbox.close();
}

/** How long an IPv6 address added without nodad stays tentative, from the link's coming up. */
async function dadWait(sandbox: ReturnType<typeof openSandbox>, podPath: string): Promise<void> {
  const nl = await loadNetlink();
  if (typeof nl === 'string') return;
  const waits: number[] = [];
  for (let i = 0; i < DAD; i++) {
    sh('ip', 'link', 'add', 'pvbenchdad0001', 'type', 'veth', 'peer', 'name', 'net1', 'netns', podPath);
    sh('ip', 'link', 'set', 'pvbenchdad0001', 'up');
    sh('nsenter', `--net=${podPath}`, 'ip', 'addr', 'add', 'fd00:d7::2/64', 'dev', 'net1');
    sh('nsenter', `--net=${podPath}`, 'ip', 'link', 'set', 'net1', 'up');
    const started = performance.now();
    for (;;) {
      const { addresses } = readNetnsLinks(nl, sandbox, 5000, 6);
      if (!addresses.some((a) => a.address === 'fd00:d7::2/64' && a.tentative)) break;
      await new Promise((r) => setTimeout(r, 2));
    }
    waits.push(performance.now() - started);
    sh('ip', 'link', 'del', 'pvbenchdad0001');
  }
  const s = summarize(waits);
  console.log(
    `DAD kept the address tentative: p50 ${s.p50.toFixed(0)} ms, min ${s.min.toFixed(0)}, max ${s.max.toFixed(0)} (n ${s.n})`,
  );
}
