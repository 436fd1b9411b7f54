// A Graph drawn as SVG by podvlan itself: columns left to right, each as wide as its longest line
// (monospace text, so width is characters times one advance), boxes stacked and centred in their
// column, edges as curves from a box's right side to the next box's left side, drawn under the
// boxes. Problems red. All text is escaped; the output is one well-formed XML document.
import { type Graph, type GraphBox, type GraphLine, printable } from './graph';

const FONT = 12;
const CHAR_W = 7.3; // advance of a 12px monospace glyph (DejaVu Sans Mono 7.22, Liberation Mono 7.2)
const LINE_H = 16;
const PAD = 8;
const BOX_GAP = 14;
const COL_GAP = 64;
const MARGIN = 20;
const HEAD = 30; // the title line
const COL_HEAD = 22; // a column's title
const RED = '#c62828';
const RED_FILL = '#fdecea';
const INK = '#222';
// Frames and fills by tone (graph.ts); red boxes keep RED and RED_FILL.
const TONE_FRAME = {
  good: 'fill="#e8f5e9" stroke="#2e7d32"',
  muted: 'fill="#f0f0f0" stroke="#9e9e9e"',
  warn: 'fill="#fff3e0" stroke="#ef6c00" stroke-width="2"',
  bad: `fill="${RED_FILL}" stroke="${RED}" stroke-width="2"`,
} as const;

export function escapeXml(text: string): string {
  return printable(text).replace(
    /[&<>"']/g,
    (c) => `&${{ '&': 'amp', '<': 'lt', '>': 'gt', '"': 'quot', "'": 'apos' }[c]};`,
  );
}

/** An id XML accepts (a letter, then letters, digits, - _ .): the raw one stays in data-id. */
export function xmlId(id: string): string {
  return `n-${id.replace(/[^A-Za-z0-9_.-]/g, '_')}`;
}

interface Placed {
  box: GraphBox;
  col: number;
  x: number;
  y: number;
  w: number;
  h: number;
}

const textWidth = (lines: { text: string }[]) => Math.max(0, ...lines.map((l) => printable(l.text).length)) * CHAR_W;
const boxHeight = (b: GraphBox) => Math.max(1, b.lines.length) * LINE_H + 2 * PAD - 4;

function layout(g: Graph): { placed: Map<string, Placed>; width: number; bottom: number } {
  const widths = g.columns.map((c) =>
    Math.ceil(Math.max(80, textWidth([{ text: c.title }]), ...c.boxes.map((b) => textWidth(b.lines) + 2 * PAD))),
  );
  const heights = g.columns.map(
    (c) => c.boxes.reduce((sum, b) => sum + boxHeight(b), 0) + BOX_GAP * Math.max(0, c.boxes.length - 1),
  );
  const tallest = Math.max(0, ...heights);
  const top = MARGIN + HEAD + COL_HEAD;
  const placed = new Map<string, Placed>();
  let x = MARGIN;
  g.columns.forEach((c, col) => {
    let y = top + (tallest - heights[col]) / 2;
    for (const box of c.boxes) {
      const h = boxHeight(box);
      placed.set(box.id, { box, col, x, y, w: widths[col], h });
      y += h + BOX_GAP;
    }
    x += widths[col] + COL_GAP;
  });
  const titleW = textWidth([{ text: g.title }]) + 2 * MARGIN;
  const notesW = textWidth(g.notes) + 2 * MARGIN;
  return { placed, width: Math.ceil(Math.max(x - COL_GAP + MARGIN, titleW, notesW)), bottom: top + tallest };
}

export function renderSvg(g: Graph): string {
  const { placed, width, bottom } = layout(g);
  const notesTop = bottom + (g.notes.length ? 2 * MARGIN : 0);
  const height = Math.ceil(notesTop + g.notes.length * LINE_H + MARGIN);
  const out = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans Mono, Liberation Mono, monospace" font-size="${FONT}">`,
    `<title>${escapeXml(g.title)}</title>`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${MARGIN}" y="${MARGIN + 14}" font-size="14" font-weight="bold" fill="${INK}">${escapeXml(g.title)}</text>`,
  ];
  let x = MARGIN;
  g.columns.forEach((c, col) => {
    const w = [...placed.values()].find((p) => p.col === col)?.w ?? 80;
    out.push(`<text x="${x}" y="${MARGIN + HEAD + 12}" fill="#666">${escapeXml(c.title)}</text>`);
    x += w + COL_GAP;
  });
  for (const e of g.edges) {
    const a = placed.get(e.from);
    const b = placed.get(e.to);
    if (a && b) out.push(edge(a, b, e.red === true, e.label));
  }
  for (const p of placed.values()) out.push(box(p));
  g.notes.forEach((n, i) => out.push(textLine(MARGIN, notesTop + i * LINE_H, n)));
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

function edge(a: Placed, b: Placed, red: boolean, label?: string): string {
  const forward = a.col <= b.col;
  const x1 = forward ? a.x + a.w : a.x;
  const x2 = forward ? b.x : b.x + b.w;
  const y1 = a.y + a.h / 2;
  const y2 = b.y + b.h / 2;
  const dx = (x2 - x1) / 2;
  const d = `M${r(x1)},${r(y1)} C${r(x1 + dx)},${r(y1)} ${r(x2 - dx)},${r(y2)} ${r(x2)},${r(y2)}`;
  const stroke = red ? RED : '#9e9e9e';
  const path = `<path d="${d}" fill="none" stroke="${stroke}" stroke-width="${red ? 2 : 1.2}"${red ? ' stroke-dasharray="5,3"' : ''}/>`;
  if (!label) return path;
  const lx = r(x2 - 6);
  const ly = r(y2 - 4);
  return `${path}\n<text x="${lx}" y="${ly}" text-anchor="end" font-size="10" fill="${red ? RED : '#777'}">${escapeXml(label)}</text>`;
}

function box(p: Placed): string {
  const { box: b } = p;
  const cls = b.red ? 'box problem' : b.tone ? `box ${b.tone}` : 'box';
  const frame = b.red ? TONE_FRAME.bad : b.tone ? TONE_FRAME[b.tone] : 'fill="#f5f7fa" stroke="#90a4ae"';
  return [
    `<g id="${xmlId(b.id)}" data-id="${escapeXml(b.id)}" class="${cls}">`,
    ...(b.tooltip ? [`<title>${escapeXml(b.tooltip)}</title>`] : []),
    `<rect x="${r(p.x)}" y="${r(p.y)}" width="${p.w}" height="${p.h}" rx="4" ${frame}/>`,
    ...b.lines.map((l, i) => textLine(p.x + PAD, p.y + PAD + 8 + i * LINE_H, l)),
    '</g>',
  ].join('\n');
}

function textLine(x: number, y: number, l: GraphLine): string {
  const attrs = [`x="${r(x)}"`, `y="${r(y + 3)}"`, `fill="${l.red ? RED : INK}"`];
  if (l.strong) attrs.push('font-weight="bold"');
  if (l.red) attrs.push('class="problem"');
  return `<text ${attrs.join(' ')}>${escapeXml(l.text)}</text>`;
}

const r = (v: number) => Math.round(v * 10) / 10;
