// The README's "Two nodes from nothing", run for real: two simulated nodes (each its own netns,
// ovsdb-server and userspace ovs-vswitchd; test/support/node.ts) joined by a veth whose ends are
// both nodes' `eth2`, the README's own podvlan.yaml (read from the README, so the two cannot drift
// apart), `init`, pods set up with `setup`, pings across, the views; then one pod broken by hand
// and node A drawn. Prints every command and its output as the README shows them; exits non-zero
// if a ping does not go where it should. Run as root after `npm run build`:
//   node_modules/.bin/bun scripts/two-nodes.ts [--svg FILE]     (FILE: node A's topology picture)
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { parse } from 'yaml';
import { type NodeInfo, startNodes } from '../test/support/node';
import { runPlugin, writeConfig } from '../test/support/plugin';
import { docker, IMAGE, type SandboxInfo, startSandbox, stopSandbox } from '../test/support/sandbox';

const README = resolve(__dirname, '../README.md');
const NIC = 'eth2';

/** The YAML block after `<!-- two-nodes: podvlan.yaml -->` in the README. */
function readmeConfig(): Record<string, unknown> {
  const text = readFileSync(README, 'utf8');
  const marker = '<!-- two-nodes: podvlan.yaml -->\n```yaml\n';
  const start = text.indexOf(marker);
  if (start < 0) throw new Error('README.md has no two-nodes config block');
  const body = text.slice(start + marker.length);
  return parse(body.slice(0, body.indexOf('\n```'))) as Record<string, unknown>;
}

interface Net {
  [key: string]: unknown;
  name: string;
  ipam?: Record<string, unknown>;
}
interface Bridge {
  name: string;
  datapathType?: string;
}

/** Node B's file is node A's with its own host-local range, as the README says. */
function configFor(node: NodeInfo, index: number, dir: string): string {
  const file = readmeConfig();
  const networks = file.networks as Net[];
  if (index === 1) {
    const ipam = networks.find((n) => n.name === 'tenant')?.ipam;
    if (!ipam) throw new Error('README config: no tenant network with ipam');
    Object.assign(ipam, { rangeStart: '10.20.0.100', rangeEnd: '10.20.0.199' });
  }
  // The sandbox's plumbing: its sockets and paths, a node name (the simulated nodes share the
  // host's), and the userspace datapath (this machine has no openvswitch kernel module).
  const bridges = (file.bridges as Bridge[]).map((b) => ({ ...b, datapathType: 'netdev' }));
  return writeConfig(node, join(dir, node.name), networks, { ...file, bridges, nodeName: node.name });
}

let failed = false;
const nodes: NodeInfo[] = []; // stopped at the end, however main ends
const expectThat = (ok: boolean, what: string) => {
  if (!ok) {
    failed = true;
    console.log(`!! UNEXPECTED: ${what}`);
  }
};

async function main(info: SandboxInfo, svgOut: string | undefined): Promise<void> {
  // The nodes, and the NIC each has facing the other: a veth, one end in each node's namespace.
  nodes.push(...(await startNodes(info, ['node-a', 'node-b'])));
  const [a, b] = nodes;
  await execa('ip', ['-n', a.netns, 'link', 'add', NIC, 'type', 'veth', 'peer', 'name', NIC, 'netns', b.netns]);
  for (const n of [a, b]) await execa('ip', ['-n', n.netns, 'link', 'set', NIC, 'up']);
  // `busybox` in the commands below is the sandbox's offline busybox image.
  await docker(info, ['tag', IMAGE, 'busybox']);
  const configs = new Map([a, b].map((n, i) => [n, configFor(n, i, join(info.dir, 'two-nodes'))]));
  const prompt = (n: NodeInfo) => `${n.name.slice(-1)}# `;

  const podvlan = async (n: NodeInfo, args: string[], shown = `podvlan ${args.join(' ')}`) => {
    const r = await runPlugin(n, args, { config: configs.get(n) });
    console.log(`${prompt(n)}${shown}`);
    if (r.all) console.log(r.all);
    if (r.exitCode !== 0) throw new Error(`podvlan ${args[0]} on ${n.name} failed (exit ${r.exitCode})`);
    return r;
  };
  /** `podvlan setup NS POD $(docker run ...)`: the infra container, as the kubelet makes it. */
  const setup = async (n: NodeInfo, ns: string, pod: string) => {
    const run = ['run', '-d', '--net=none', '--name', pod, 'busybox', 'sleep', '3600'];
    const id = (await docker(info, run)).stdout.trim();
    const r = await podvlan(n, ['setup', ns, pod, id], `podvlan setup ${ns} ${pod} $(docker ${run.join(' ')})`);
    return /port (pv[0-9a-f]+)/.exec(r.stdout)?.[1] ?? '';
  };
  const ping = async (n: NodeInfo, pod: string, ip: string) => {
    const args = ['exec', pod, 'ping', '-c', '2', '-W', '1', ip];
    const r = await docker(info, args, false);
    console.log(`${prompt(n)}docker ${args.join(' ')}`);
    console.log(r.all);
    return r.exitCode === 0;
  };

  await podvlan(a, ['init']);
  await podvlan(b, ['init']);
  await setup(a, 'default', '22-web');
  const dbPort = await setup(a, 'default', '33-db');
  await setup(a, 'vnf', 'router-0');
  await setup(b, 'default', '22-api');
  expectThat(await ping(a, '22-web', '10.20.0.100'), '22-web on node A does not reach 22-api on node B');
  expectThat(!(await ping(a, '33-db', '10.20.0.100')), '33-db (VLAN 33) reaches 22-api (VLAN 22)');
  await podvlan(a, ['networks']);
  await podvlan(a, ['list']);
  await podvlan(b, ['list']);

  console.log('\n-- one pod broken by hand, for the picture --');
  await execa('ip', ['-n', a.netns, 'link', 'del', dbPort]);
  console.log(`${prompt(a)}ip link del ${dbPort}`);
  await podvlan(a, ['list']);
  const svg = await runPlugin(a, ['topology', '-o', 'svg'], { config: configs.get(a) });
  console.log(`${prompt(a)}podvlan topology -o svg > node-a.svg`);
  expectThat(svg.exitCode === 0 && svg.stdout.startsWith('<?xml'), 'topology drew no SVG');
  expectThat((svg.stdout.match(/class="box problem"/g) ?? []).length === 2, 'not exactly the broken port and pod red');
  if (svgOut) writeFileSync(svgOut, svg.stdout);
  console.log(`(${svg.stdout.length} bytes of SVG${svgOut ? `, written to ${svgOut}` : ''})`);
}

const svgAt = process.argv.indexOf('--svg');
const svgOut = svgAt > 0 ? resolve(process.argv[svgAt + 1]) : undefined;
const started = Date.now();
const info = await startSandbox();
try {
  await main(info, svgOut);
} catch (err) {
  failed = true;
  console.error(`two-nodes failed: ${(err as Error).message}`);
} finally {
  await Promise.all(nodes.map((n) => n.stop()));
  await stopSandbox(info);
}
console.log(`\ntwo-nodes ${failed ? 'FAILED' : 'passed'} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
process.exit(failed ? 1 : 0);
