// A Graph as graphviz text (`dot -Tsvg` draws it): left to right, one rank per column, boxes with
// their lines left-aligned, problems red. Every id and label is a quoted string, escaped.
import { type Graph, type GraphLine, printable } from './graph';

/** A dot quoted string's body: backslash and quote escaped. */
export function escapeDot(text: string): string {
  return printable(text).replace(/[\\"]/g, (c) => `\\${c}`);
}

// Colours by tone (graph.ts); a red box keeps the attributes above.
const TONE_ATTRS = {
  good: ['color="#2e7d32"', 'fillcolor="#e8f5e9"'],
  muted: ['color="#9e9e9e"', 'fillcolor="#f0f0f0"'],
  warn: ['color="#ef6c00"', 'fillcolor="#fff3e0"', 'penwidth=2'],
  bad: ['color=red', 'fontcolor=red', 'fillcolor="#fdecea"', 'penwidth=2'],
} as const;

const q = (text: string) => `"${escapeDot(text)}"`;
/** Lines of a label, each left-aligned (\l ends a left-justified line). */
const label = (lines: GraphLine[]) => `"${lines.map((l) => `${escapeDot(l.text)}\\l`).join('')}"`;

export function renderDot(g: Graph): string {
  const red = g.notes.some((n) => n.red);
  const out = [
    'digraph podvlan {',
    `  graph [rankdir=LR, nodesep=0.3, ranksep=0.9, fontname="monospace", fontsize=12, labelloc=t, labeljust=l, label=${label([{ text: g.title }, ...g.notes])}${red ? ', fontcolor=red' : ''}];`,
    '  node [shape=box, style="rounded,filled", fillcolor="#f5f7fa", color="#90a4ae", fontname="monospace", fontsize=10];',
    '  edge [arrowhead=none, color="#9e9e9e", fontname="monospace", fontsize=9];',
  ];
  g.columns.forEach((c, i) => {
    out.push(`  subgraph col${i} {`, `    rank=same; // ${escapeDot(c.title).replace(/\n/g, ' ')}`);
    for (const b of c.boxes) {
      const attrs = [`label=${label(b.lines)}`];
      if (b.red) attrs.push('color=red', 'fontcolor=red', 'fillcolor="#fdecea"', 'penwidth=2');
      else if (b.tone) attrs.push(...TONE_ATTRS[b.tone]);
      if (b.tooltip) attrs.push(`tooltip=${q(b.tooltip)}`);
      out.push(`    ${q(b.id)} [${attrs.join(', ')}];`);
    }
    out.push('  }');
  });
  for (const e of g.edges) {
    const attrs = [
      ...(e.red ? ['color=red', 'style=dashed', 'penwidth=2'] : []),
      ...(e.label ? [`label=${q(e.label)}`] : []),
    ];
    out.push(`  ${q(e.from)} -> ${q(e.to)}${attrs.length ? ` [${attrs.join(', ')}]` : ''};`);
  }
  out.push('}');
  return `${out.join('\n')}\n`;
}
