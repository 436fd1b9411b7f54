// topology: the node drawn, as SVG (drawn by podvlan, no graphviz needed) or graphviz dot text.
// Exit code 0 whatever it finds, as `list` (docs/operating.md).
import { renderDot } from '../view/dot';
import { readNodeView } from '../view/node-view';
import { renderSvg } from '../view/svg';
import { topologyGraph } from '../view/topology';
import type { Context } from './context';

export type TopologyFormat = 'svg' | 'dot';

export async function topology(ctx: Context, format: TopologyFormat): Promise<string> {
  const graph = topologyGraph(await readNodeView(ctx));
  return format === 'dot' ? renderDot(graph) : renderSvg(graph);
}
