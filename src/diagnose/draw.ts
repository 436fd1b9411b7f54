// A diagnosis as a picture (-o dot, -o svg): the path as a chain left to right, one box per hop
// (the uplinks of a path to another node stacked in one column), each coloured by its worst
// level: green clean, grey INFO, orange WARNING, red CRITICAL or FATAL. Drawn by the topology
// view's renderers (src/view/svg.ts, dot.ts): podvlan draws the SVG itself.
import { renderDot } from '../view/dot';
import type { Graph, GraphBox, GraphColumn, Tone } from '../view/graph';
import { renderSvg } from '../view/svg';
import { type DiagnoseResult, type Hop, LEVELS } from './model';

const TONES: Record<string, Tone> = { OK: 'good', INFO: 'muted', WARNING: 'warn', CRITICAL: 'bad', FATAL: 'bad' };

/** The hop's worst level, OK when it has no suspicion. */
export function hopLevel(h: Hop): string {
  const worst = h.suspicions.reduce<number>((w, s) => Math.max(w, LEVELS.indexOf(s.level)), -1);
  return worst < 0 ? 'OK' : LEVELS[worst];
}

function hopBox(h: Hop): GraphBox {
  const level = hopLevel(h);
  const tone = TONES[level];
  const shown = h.suspicions.filter((s) => s.level !== 'INFO');
  return {
    id: h.id,
    lines: [
      { text: h.object, strong: true },
      { text: h.summary },
      ...shown.map((s) => ({ text: `${s.level} ${s.code}`, red: tone === 'bad' })),
    ],
    red: tone === 'bad',
    tone,
    tooltip: h.suspicions.map((s) => `${s.level} ${s.code}: ${s.message}`).join('\n') || undefined,
  };
}

export function diagnosisGraph(r: DiagnoseResult): Graph {
  const columns: GraphColumn[] = [];
  for (const h of r.hops) {
    const last = columns[columns.length - 1];
    if (h.kind === 'uplink' && last?.title === 'uplink') last.boxes.push(hopBox(h));
    else columns.push({ title: h.kind, boxes: [hopBox(h)] });
  }
  const edges = columns
    .slice(1)
    .flatMap((c, i) =>
      columns[i].boxes.flatMap((a) =>
        c.boxes.map((b) => ({ from: a.id, to: b.id, red: a.red === true || b.red === true })),
      ),
    );
  const end = (e: DiagnoseResult['src']) => (e.pod ? `${e.namespace}/${e.pod}` : (e.address ?? '?'));
  return {
    title: `podvlan diagnose ${end(r.src)} -> ${end(r.dst)} (network ${r.network}, VLAN ${r.vlan ?? 'unknown'})`,
    columns,
    edges,
    notes: [{ text: r.verdict, red: r.worst === 'CRITICAL' || r.worst === 'FATAL' }],
  };
}

export function drawDiagnosis(r: DiagnoseResult, format: 'dot' | 'svg'): string {
  const g = diagnosisGraph(r);
  return format === 'svg' ? renderSvg(g) : renderDot(g);
}
