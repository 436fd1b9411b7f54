// The path of a packet between two pods on one node, as hop kinds in order. Each kind is one
// module (module.ts says what it implements); a new kind goes in here, at its place on the path.
import type { PathFacts, Side } from '../facts';
import type { Hop } from '../model';
import { accessPort } from './access-port';
import { bridgeHop } from './bridge';
import { type HopModule, judge } from './module';
import { podInterface } from './pod-interface';
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

/** The hops of a same-node path, each judged on its facts. */
export function judgePath(path: PathFacts): Hop[] {
  return SAME_NODE.map(([id, module, side]) => {
    const { object, facts } = module.view(path, side);
    return {
      id,
      kind: module.kind,
      node: path.node,
      object,
      summary: module.summary(facts),
      facts,
      suspicions: judge(module, facts),
    };
  });
}
