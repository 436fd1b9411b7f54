// An independent audit of one node's podvlan state: OVS ports and interfaces (via ovs-vsctl),
// host veths and their peers (via ip, in the node's and the pod's namespaces), leases and pod
// records (files). Returns the list of inconsistencies, empty when the node is in a state a
// crash-free history could have produced.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { docker, type SandboxInfo } from './sandbox';
import { hostVeths } from './plugin';

export interface OurPort {
  name: string;
  namespace: string;
  pod: string;
  containerId: string;
  network: string;
  bridge: string;
  ip?: string;
  tag: number | undefined;
  interface: string;
  netns?: string;
}

/** An OVSDB optional column in ovs-vsctl's JSON: ["set", []] when empty, else the atom. */
const optional = <T>(v: unknown): T | undefined => (Array.isArray(v) && v[0] === 'set' ? (v[1] as T[])[0] : (v as T));

/** podvlan's ports, on the given bridges only (test files share one OVS). */
export async function ourPorts(info: SandboxInfo, bridges: string[]): Promise<OurPort[]> {
  const { stdout } = await execa('ovs-vsctl', [
    `--db=${info.ovsdb}`,
    '--format=json',
    '--columns=name,tag,external_ids',
    'find',
    'Port',
    'external_ids:podvlan/managed=true',
  ]);
  const data = JSON.parse(stdout) as { data: [string, unknown, ['map', [string, string][]]][] };
  return data.data
    .map(([name, tag, ids]) => {
      const m = Object.fromEntries(ids[1]);
      return {
        name,
        namespace: m['podvlan/namespace'],
        pod: m['podvlan/pod'],
        containerId: m['podvlan/containerId'],
        network: m['podvlan/network'],
        bridge: m['podvlan/bridge'],
        ip: m['podvlan/ip'],
        tag: optional<number>(tag),
        interface: m['podvlan/interface'],
        netns: m['podvlan/netns'],
      };
    })
    .filter((p) => bridges.includes(p.bridge));
}

/** ofport and error of every Interface row, by name. */
async function interfaces(info: SandboxInfo): Promise<Map<string, { ofport?: number; error?: string }>> {
  const { stdout } = await execa('ovs-vsctl', [
    `--db=${info.ovsdb}`,
    '--format=json',
    '--columns=name,ofport,error',
    'list',
    'Interface',
  ]);
  const data = JSON.parse(stdout) as { data: [string, unknown, unknown][] };
  return new Map(
    data.data.map(([name, ofport, error]) => [
      name,
      { ofport: optional<number>(ofport), error: optional<string>(error) },
    ]),
  );
}

interface LinkInfo {
  ifindex: number;
  ifname: string;
  link_index?: number;
}

async function linksIn(args: string[]): Promise<LinkInfo[]> {
  const r = await execa(args[0], [...args.slice(1), '-j', '-d', 'link', 'show'], { reject: false });
  return r.exitCode === 0 ? (JSON.parse(r.stdout) as LinkInfo[]) : [];
}

/**
 * Where the veth's peer is: it must be the interface podvlan/interface names, in the namespace
 * podvlan/netns records, and that namespace must be the pod's container's. Both ends must name
 * each other (ifindex and peer ifindex), so a same-numbered link elsewhere does not pass.
 */
async function peerProblem(info: SandboxInfo, p: OurPort, host: LinkInfo | undefined): Promise<string | undefined> {
  if (!host) return undefined; // reported as "has no veth"
  const pid = (await docker(info, ['inspect', '-f', '{{.State.Pid}}', p.containerId], false)).stdout.trim();
  const who = `port ${p.name} (${p.pod})`;
  if (!/^[1-9]\d*$/.test(pid)) return `${who}: container ${p.containerId.slice(0, 12)} is not running`;
  const inode = (await execa('stat', ['-L', '-c', '%i', `/proc/${pid}/ns/net`], { reject: false })).stdout.trim();
  if (inode !== p.netns) return `${who}: recorded netns ${p.netns} is not the container's (${inode})`;
  const peer = (await linksIn(['nsenter', '-t', pid, '-n', 'ip'])).find((l) => l.ifindex === host.link_index);
  if (!peer || peer.link_index !== host.ifindex || peer.ifname !== p.interface) {
    return `${who}: its veth's peer is not ${p.interface} in netns ${p.netns}`;
  }
  return undefined;
}

export interface LeaseFile {
  network: string;
  address: string;
  namespace: string;
  pod: string;
  containerId: string;
}

export function leaseFiles(stateDir: string): LeaseFile[] {
  const root = join(stateDir, 'ipam');
  if (!existsSync(root)) return [];
  return readdirSync(root).flatMap((network) =>
    readdirSync(join(root, network))
      .filter((f) => !f.startsWith('.'))
      .map((address) => ({ network, address, ...JSON.parse(readFileSync(join(root, network, address), 'utf8')) })),
  );
}

export interface RecordFile {
  namespace: string;
  pod: string;
  containerId: string;
  ready: boolean;
  attachments: { port: string; tag: number }[];
}

export function podRecords(stateDir: string): RecordFile[] {
  const dir = join(stateDir, 'pods');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')));
}

/**
 * `temps`: also flag temp files of killed writers (only gc removes those). `leases: false` for
 * networks whose addresses live in etcd, not in lease files.
 */
export async function audit(
  info: SandboxInfo,
  stateDir: string,
  bridges: string[],
  opts: { temps?: boolean; leases?: boolean } = {},
): Promise<string[]> {
  const { temps: withTemps = true, leases: withLeases = true } = opts;
  const problems: string[] = [];
  const ports = await ourPorts(info, bridges);
  const veths = new Set(await hostVeths(info));
  const leases = withLeases ? leaseFiles(stateDir) : [];
  const records = podRecords(stateDir);
  const ifaces = await interfaces(info);
  const hostLinks = new Map((await linksIn(['ip', '-n', info.netns])).map((l) => [l.ifname, l]));
  for (const p of ports) {
    if (!veths.has(p.name)) problems.push(`port ${p.name} (${p.pod}) has no veth`);
    const leased = (l: LeaseFile) =>
      l.address === p.ip!.split('/')[0] && l.containerId === p.containerId && l.network === p.network;
    if (withLeases && p.ip && !leases.some(leased)) problems.push(`port ${p.name} (${p.pod}) has no lease for ${p.ip}`);
    const r = records.find((x) => x.namespace === p.namespace && x.pod === p.pod);
    if (!r?.ready || r.containerId !== p.containerId) problems.push(`port ${p.name} (${p.pod}) has no ready record`);
    else {
      const recordedTag = r.attachments.find((a) => a.port === p.name)?.tag;
      if (recordedTag !== p.tag) problems.push(`port ${p.name} (${p.pod}) has tag ${p.tag}, its record ${recordedTag}`);
    }
    const iface = ifaces.get(p.name);
    if (!iface) problems.push(`port ${p.name} (${p.pod}) has no Interface row`);
    else {
      const ofport = iface.ofport;
      if (!Number.isInteger(ofport) || ofport! <= 0) {
        problems.push(`port ${p.name} (${p.pod}) has ofport ${ofport ?? '[]'}`);
      }
      if (iface.error) problems.push(`port ${p.name} (${p.pod}) has error ${JSON.stringify(iface.error)}`);
    }
    const peer = await peerProblem(info, p, hostLinks.get(p.name));
    if (peer) problems.push(peer);
  }
  for (const l of leases) {
    if (
      !ports.some(
        (p) => p.containerId === l.containerId && p.network === l.network && p.ip?.split('/')[0] === l.address,
      )
    )
      problems.push(`lease ${l.network}/${l.address} (${l.pod}) has no port`);
  }
  for (const v of veths) if (!ports.some((p) => p.name === v)) problems.push(`veth ${v} has no port`);
  for (const r of records) {
    if (!r.ready) problems.push(`record ${r.namespace}/${r.pod} is not ready`);
    else if (!ports.some((p) => p.namespace === r.namespace && p.pod === r.pod && p.containerId === r.containerId))
      problems.push(`record ${r.namespace}/${r.pod} has no port`);
  }
  const temps = withTemps && existsSync(stateDir) ? tempFiles(stateDir) : [];
  for (const t of temps) problems.push(`temp file ${t} left`);
  return problems;
}

function tempFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (e.name.includes('.tmp-')) out.push(join(d, e.name));
    }
  };
  walk(dir);
  return out;
}
