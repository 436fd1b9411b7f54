// The path of a packet, as hop kinds in order: between two pods on one node, or from a pod to
// the uplinks when the destination is elsewhere. Each kind is one module (module.ts says what it
// implements); a new kind goes in here, at its place on the path.
import type { PathFacts, Side } from '../facts';
import type { Hop } from '../model';
import { accessPort } from './access-port';
import { bridgeHop } from './bridge';
import { type HopModule, judge } from './module';
import { podInterface } from './pod-interface';
import { uplink } from './uplink';
import { veth } from './veth';

// biome-ignore lint/suspicious/noExplicitAny: each module has its own facts type
type AnyModule = HopModule<any>;

const SAME_NODE: [id: string, module: AnyModule, side: Side][] = [
  ['src-pod', podInterface, 'src'],
  ['src-veth', veth, 'src'],
  ['src-port', accessPort, 'src'],
  ['bridge', bridgeHop, 'src'],
  ['dst-port', accessPort, 'dst'],
  ['dst-veth', veth, 'dst'],
  ['dst-pod', podInterface, 'dst'],
];

const TO_ANOTHER_NODE: [id: string, module: AnyModule, side: Side][] = [
  ['src-pod', podInterface, 'src'],
  ['src-veth', veth, 'src'],
  ['src-port', accessPort, 'src'],
  ['bridge', bridgeHop, 'src'],
  ['uplink', uplink, 'src'],
];

/** `diagnose --all`: one attachment's own hops, no destination (so no datapath question). */
const LOCAL: [id: string, module: AnyModule, side: Side][] = [
  ['src-pod', podInterface, 'src'],
  ['src-veth', veth, 'src'],
  ['src-port', accessPort, 'src'],
  ['uplink', uplink, 'src'],
];

/** The hops of the path, each judged on its facts; `local`: the source's own hops alone. */
export function judgePath(path: PathFacts, local = false): Hop[] {
  const hops = local ? LOCAL : path.dst ? SAME_NODE : TO_ANOTHER_NODE;
  return hops.flatMap(([id, module, side]) =>
    module.views(path, side).map((v) => ({
      id: v.id ?? id,
      kind: module.kind,
      node: path.node,
      object: v.object,
      summary: module.summary(v.facts),
      facts: v.facts,
      suspicions: judge(module, v.facts),
    })),
  );
}
