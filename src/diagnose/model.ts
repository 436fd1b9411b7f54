// What `podvlan diagnose` answers, after KubeSkoop's model (docs/diagnose.md): the packet's path
// as hops, each with what was read there (facts) and what looks wrong (suspicions, with
// KubeSkoop's four levels), a verdict line and an exit status. Pure: no I/O.
import type { Probe } from './probe';

export const LEVELS = ['INFO', 'WARNING', 'CRITICAL', 'FATAL'] as const;
export type Level = (typeof LEVELS)[number];

export interface Suspicion {
  level: Level;
  code: string; // stable, kebab-case: scripts match on it (docs/diagnose.md lists them)
  message: string; // one line naming the object
  hint?: string; // the command that would fix it, when there is one
}

/** Where a hop sits; one module per kind in hops/ (path order in hops/index.ts). */
export type HopKind = 'pod-interface' | 'veth' | 'access-port' | 'bridge' | 'uplink';

export interface Hop {
  id: string; // unique in the path: src-pod, src-veth, src-port, bridge, dst-port, dst-veth, dst-pod; uplink-NAME
  kind: HopKind;
  node: string;
  object: string; // what the hop is: "eth1 of default/22-a", "port pv1a2b3c4d5e6f", "bridge br0"
  summary: string; // a few words of what was read: "up, mtu 1500, 10.1.0.2/24"
  facts: Record<string, unknown>;
  suspicions: Suspicion[];
}

export interface Endpoint {
  namespace?: string;
  pod?: string;
  address?: string; // the address the packet is sent from / to
  port?: string; // the host veth = OVS port
  vlan?: number; // as recorded at setup
  node?: string; // a destination elsewhere: its node, as etcd's address record says
}

export const SCHEMA_VERSION = 1;

export interface DiagnoseResult {
  version: typeof SCHEMA_VERSION;
  src: Endpoint;
  dst: Endpoint;
  network: string;
  vlan: number | null; // the source's VLAN (as recorded), null when unknown
  verdict: string;
  worst: Level | 'OK';
  hops: Hop[];
  probes: Probe[]; // --probe's results (probe.ts); empty without --probe
}

const rank = (l: Level) => LEVELS.indexOf(l);

/** The worst suspicion on the path, the first in path order among equals, with its hop. */
export function worstOf(hops: Hop[]): { hop: Hop; suspicion: Suspicion } | undefined {
  let found: { hop: Hop; suspicion: Suspicion } | undefined;
  for (const hop of hops)
    for (const s of hop.suspicions)
      if (!found || rank(s.level) > rank(found.suspicion.level)) found = { hop, suspicion: s };
  return found;
}

/**
 * "BLOCKED at <kind> <object> on <node>: <message>" for a critical or fatal suspicion;
 * "WARNING at ..." when the worst is a warning; "OK" otherwise (INFO never changes the verdict).
 */
export function verdictLine(hops: Hop[]): string {
  const w = worstOf(hops);
  if (!w || w.suspicion.level === 'INFO') return 'OK';
  const where = `${w.hop.kind} ${w.hop.object} on ${w.hop.node}: ${w.suspicion.message}`;
  return `${rank(w.suspicion.level) >= rank('CRITICAL') ? 'BLOCKED' : 'WARNING'} at ${where}`;
}

/** 0 clean (INFO at most), 1 warnings only, 2 a critical or fatal suspicion. */
export function exitCodeOf(hops: Hop[]): 0 | 1 | 2 {
  const w = worstOf(hops)?.suspicion.level;
  if (w === undefined || w === 'INFO') return 0;
  return w === 'WARNING' ? 1 : 2;
}

export function resultOf(hops: Hop[], head: Pick<DiagnoseResult, 'src' | 'dst' | 'network' | 'vlan'>): DiagnoseResult {
  return {
    version: SCHEMA_VERSION,
    ...head,
    verdict: verdictLine(hops),
    worst: worstOf(hops)?.suspicion.level ?? 'OK',
    hops,
    probes: [],
  };
}
