// An independent audit of one node's podvlan state: OVS ports (via ovs-vsctl), host veths (via
// ip), leases and pod records (files). Returns the list of inconsistencies, empty when the node
// is in a state a crash-free history could have produced.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { hostVeths } from './plugin';
import type { SandboxInfo } from './sandbox';

export interface OurPort { name: string; namespace: string; pod: string; containerId: string; network: string; bridge: string; ip?: string }

/** podvlan's ports, on the given bridges only (test files share one OVS). */
export async function ourPorts(info: SandboxInfo, bridges: string[]): Promise<OurPort[]> {
  const { stdout } = await execa('ovs-vsctl', [`--db=${info.ovsdb}`, '--format=json', '--columns=name,external_ids', 'find', 'Port', 'external_ids:podvlan/managed=true']);
  const data = JSON.parse(stdout) as { data: [string, ['map', [string, string][]]][] };
  return data.data.map(([name, ids]) => {
    const m = Object.fromEntries(ids[1]);
    return { name, namespace: m['podvlan/namespace'], pod: m['podvlan/pod'], containerId: m['podvlan/containerId'], network: m['podvlan/network'], bridge: m['podvlan/bridge'], ip: m['podvlan/ip'] };
  }).filter((p) => bridges.includes(p.bridge));
}

export interface LeaseFile { network: string; address: string; namespace: string; pod: string; containerId: string }

export function leaseFiles(stateDir: string): LeaseFile[] {
  const root = join(stateDir, 'ipam');
  if (!existsSync(root)) return [];
  return readdirSync(root).flatMap((network) => readdirSync(join(root, network)).filter((f) => !f.startsWith('.'))
    .map((address) => ({ network, address, ...JSON.parse(readFileSync(join(root, network, address), 'utf8')) })));
}

export function podRecords(stateDir: string): { namespace: string; pod: string; containerId: string; ready: boolean; attachments: { port: string }[] }[] {
  const dir = join(stateDir, 'pods');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')));
}

/** `temps`: also flag temp files of killed writers (only gc removes those). */
export async function audit(info: SandboxInfo, stateDir: string, bridges: string[], opts: { temps: boolean } = { temps: true }): Promise<string[]> {
  const problems: string[] = [];
  const ports = await ourPorts(info, bridges);
  const veths = new Set(await hostVeths(info));
  const leases = leaseFiles(stateDir);
  const records = podRecords(stateDir);
  for (const p of ports) {
    if (!veths.has(p.name)) problems.push(`port ${p.name} (${p.pod}) has no veth`);
    if (p.ip && !leases.some((l) => l.address === p.ip!.split('/')[0] && l.containerId === p.containerId && l.network === p.network)) problems.push(`port ${p.name} (${p.pod}) has no lease for ${p.ip}`);
    const r = records.find((x) => x.namespace === p.namespace && x.pod === p.pod);
    if (!r || !r.ready || r.containerId !== p.containerId) problems.push(`port ${p.name} (${p.pod}) has no ready record`);
  }
  for (const l of leases) {
    if (!ports.some((p) => p.containerId === l.containerId && p.network === l.network && p.ip?.split('/')[0] === l.address)) problems.push(`lease ${l.network}/${l.address} (${l.pod}) has no port`);
  }
  for (const v of veths) if (!ports.some((p) => p.name === v)) problems.push(`veth ${v} has no port`);
  for (const r of records) {
    if (!r.ready) problems.push(`record ${r.namespace}/${r.pod} is not ready`);
    else if (!ports.some((p) => p.namespace === r.namespace && p.pod === r.pod && p.containerId === r.containerId)) problems.push(`record ${r.namespace}/${r.pod} has no port`);
  }
  const temps = opts.temps && existsSync(stateDir) ? tempFiles(stateDir) : [];
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
