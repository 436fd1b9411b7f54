// Simulated nodes for cluster tests: each its own network namespace with its own ovsdb-server and
// ovs-vswitchd (userspace datapath), as separate machines would have, so one node's podvlan
// never sees another node's ports. Docker stays the sandbox's one dockerd (pods move into
// containers by PID from any namespace). Nodes reach the sandbox's namespace (where a test's
// etcd runs) over a veth each, at one address on the sandbox's loopback: SERVICE_ADDRESS.
import { execa } from 'execa';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type SandboxInfo, startOvs } from './sandbox';

/** An address on the sandbox namespace's loopback that every node routes to over its uplink. */
export const SERVICE_ADDRESS = '10.254.0.1';

export interface NodeInfo extends SandboxInfo {
  name: string;
  nodeDir: string; // the node's daemons' files (the sandbox's dir stays `dir`, for the tests' paths)
  stop(): Promise<void>;
}

/** Start one node's namespace and OVS daemons; `index` (1-250) picks its uplink subnet. */
export async function startNode(info: SandboxInfo, name: string, index: number): Promise<NodeInfo> {
  const nodeDir = join(info.dir, 'nodes', name);
  mkdirSync(nodeDir, { recursive: true });
  const netns = `${info.netns}-${name}`;
  const ovsdb = `unix:${nodeDir}/db.sock`;
  const node: NodeInfo = {
    ...info,
    name,
    nodeDir,
    netns,
    ovsdb,
    vswitchdCtl: `${nodeDir}/vswitchd.ctl`,
    stop: () => stopNode(node),
  };
  await execa('ip', ['netns', 'add', netns]);
  await execa('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
  await uplink(info, netns, index);
  await startOvs(nodeDir, netns);
  return node;
}

/** Start several nodes at once (their daemons start in parallel: the suite's wall time matters). */
export async function startNodes(info: SandboxInfo, names: string[]): Promise<NodeInfo[]> {
  await addServiceAddress(info);
  return Promise.all(names.map((n, i) => startNode(info, n, i + 1)));
}

async function addServiceAddress(info: SandboxInfo): Promise<void> {
  await execa('ip', ['-n', info.netns, 'addr', 'replace', `${SERVICE_ADDRESS}/32`, 'dev', 'lo']);
}

/** A veth from the sandbox namespace to the node's, 10.254.<index>.0/24, and a route to SERVICE_ADDRESS. */
async function uplink(info: SandboxInfo, netns: string, index: number): Promise<void> {
  const outer = `up${index}`;
  await execa('ip', ['-n', info.netns, 'link', 'add', outer, 'type', 'veth', 'peer', 'name', 'uplink', 'netns', netns]);
  await execa('ip', ['-n', info.netns, 'addr', 'add', `10.254.${index}.1/24`, 'dev', outer]);
  await execa('ip', ['-n', info.netns, 'link', 'set', outer, 'up']);
  await execa('ip', ['-n', netns, 'addr', 'add', `10.254.${index}.2/24`, 'dev', 'uplink']);
  await execa('ip', ['-n', netns, 'link', 'set', 'uplink', 'up']);
  await execa('ip', ['-n', netns, 'route', 'add', `${SERVICE_ADDRESS}/32`, 'via', `10.254.${index}.1`]);
}

/** The wire between two nodes: a veth whose ends, both named `nic`, live in each node's namespace,
 * up, and on no bridge (the nodes' `init` makes them their uplinks). */
export async function wire(x: NodeInfo, y: NodeInfo, nic: string): Promise<void> {
  await execa('ip', ['-n', x.netns, 'link', 'add', nic, 'type', 'veth', 'peer', 'name', nic, 'netns', y.netns]);
  for (const n of [x, y]) await execa('ip', ['-n', n.netns, 'link', 'set', nic, 'up']);
}

/** A trunk between two nodes' bridges: a veth whose ends live in each node's namespace, untagged OVS ports. */
export async function trunk(x: NodeInfo, bridgeX: string, y: NodeInfo, bridgeY: string): Promise<[string, string]> {
  const [px, py] = [`tr${x.name}${y.name}`, `tr${y.name}${x.name}`];
  await execa('ip', ['-n', x.netns, 'link', 'add', px, 'type', 'veth', 'peer', 'name', py, 'netns', y.netns]);
  for (const [n, port, br] of [
    [x, px, bridgeX],
    [y, py, bridgeY],
  ] as const) {
    await execa('ip', ['-n', n.netns, 'link', 'set', port, 'up']);
    await execa('ovs-vsctl', [`--db=${n.ovsdb}`, 'add-port', br, port]);
  }
  return [px, py];
}

function pidOf(file: string): number | undefined {
  try {
    return Number(readFileSync(file, 'utf8').trim()) || undefined;
  } catch {
    return undefined;
  }
}

async function stopNode(node: NodeInfo): Promise<void> {
  const pids = ['vswitchd.pid', 'ovsdb.pid']
    .map((f) => pidOf(join(node.nodeDir, f)))
    .filter((p): p is number => p !== undefined);
  for (const pid of pids)
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      /* gone */
    }
  const deadline = Date.now() + 10000;
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  while (pids.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  for (const pid of pids.filter(alive))
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  // Deleting the namespace removes every link in it: host veths, trunks, the uplink, tap devices.
  await execa('ip', ['netns', 'del', node.netns], { reject: false });
}
