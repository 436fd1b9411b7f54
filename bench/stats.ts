// Small statistics and an SVG strip plot for the bench. Pure functions.

export interface Summary {
  n: number;
  p50: number;
  p90: number;
  min: number;
  max: number;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

export function summarize(values: number[]): Summary {
  const s = [...values].sort((a, b) => a - b);
  return { n: s.length, p50: percentile(s, 50), p90: percentile(s, 90), min: s[0], max: s[s.length - 1] };
}

/** One row per series: every sample as a dot, the median as a bar, on a log-scaled ms axis. */
export function stripPlotSvg(title: string, series: { name: string; values: number[] }[]): string {
  const width = 900;
  const rowH = 34;
  const left = 260;
  const top = 40;
  const height = top + rowH * series.length + 40;
  const all = series.flatMap((s) => s.values).filter((v) => v > 0);
  const lo = Math.max(1, Math.floor(Math.min(...all)));
  const hi = Math.ceil(Math.max(...all) * 1.1);
  const x = (v: number) =>
    left + ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * (width - left - 20);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="20" font-size="15">${title}</text>`,
  ];
  for (const tick of [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000].filter((t) => t >= lo && t <= hi)) {
    parts.push(
      `<line x1="${x(tick)}" y1="${top - 5}" x2="${x(tick)}" y2="${height - 35}" stroke="#ddd"/>`,
      `<text x="${x(tick)}" y="${height - 20}" text-anchor="middle">${tick} ms</text>`,
    );
  }
  series.forEach((s, i) => {
    const y = top + i * rowH + rowH / 2;
    const med = summarize(s.values).p50;
    parts.push(`<text x="10" y="${y + 4}">${s.name} (p50 ${med.toFixed(1)} ms)</text>`);
    s.values.forEach((v, j) =>
      parts.push(
        `<circle cx="${x(v).toFixed(1)}" cy="${(y - 8 + ((j * 7) % 16)).toFixed(1)}" r="2" fill="${i % 2 ? '#c0392b' : '#2e6da4'}" fill-opacity="0.6"/>`,
      ),
    );
    parts.push(`<line x1="${x(med)}" y1="${y - 12}" x2="${x(med)}" y2="${y + 12}" stroke="black" stroke-width="2"/>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}
