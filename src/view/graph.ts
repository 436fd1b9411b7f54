// A picture as columns of boxes joined by edges: what `topology` draws (uplinks, bridges, ports,
// pods) and what a `diagnose` can draw for a chain of hops (one box per column). Two renderers
// read it: svg.ts (drawn by podvlan itself, no graphviz needed) and dot.ts (graphviz text).

export interface GraphLine {
  text: string;
  red?: boolean; // a problem: drawn red
  strong?: boolean; // the box's name
}

/** A box's colour by how well it is: diagnose colours every hop (topology uses red alone). */
export type Tone = 'good' | 'muted' | 'warn' | 'bad';

export interface GraphBox {
  id: string; // unique in the graph
  lines: GraphLine[];
  red?: boolean; // something is wrong here: red frame
  tone?: Tone; // a frame and fill other than the default (bad: as red)
  tooltip?: string; // the full problem messages (svg <title>, dot tooltip)
}

export interface GraphColumn {
  title: string;
  boxes: GraphBox[];
}

export interface GraphEdge {
  from: string; // box ids
  to: string;
  red?: boolean;
  label?: string;
}

export interface Graph {
  title: string;
  columns: GraphColumn[]; // left to right
  edges: GraphEdge[];
  notes: GraphLine[]; // under the picture: the problems, one line each
}

/** Text without the control characters XML 1.0 and graphviz cannot carry. */
export function printable(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: exactly those are replaced
  return text.replace(/[\u0000-\u001f\u007f]/g, ' ');
}
