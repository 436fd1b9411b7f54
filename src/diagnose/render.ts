// The text form of a diagnosis: the verdict line, then one row per hop with what was read, and
// under each hop its suspicions and the command that would fix each.
import { table } from '../cli/output';
import type { DiagnoseResult } from './model';
import { LEVELS } from './model';
import type { Probe } from './probe';

export function renderText(r: DiagnoseResult): string {
  const rows = r.hops.map((h, i) => {
    const worst = h.suspicions.reduce<number>((w, s) => Math.max(w, LEVELS.indexOf(s.level)), -1);
    return [String(i + 1), h.kind, h.object, h.node, worst < 0 ? 'ok' : LEVELS[worst], h.summary];
  });
  const lines = table(['HOP', 'KIND', 'OBJECT', 'NODE', 'STATE', 'READ'], rows).split('\n');
  const out = [r.verdict, '', lines[0]];
  r.hops.forEach((h, i) => {
    out.push(lines[i + 1]);
    for (const s of h.suspicions) {
      out.push(`      ${s.level} ${s.code}: ${s.message}`);
      if (s.hint) out.push(`        fix: ${s.hint}`);
    }
  });
  const end = (e: DiagnoseResult['src']) =>
    e.pod ? `${e.namespace}/${e.pod}${e.address ? ` (${e.address})` : ''}` : `${e.address} (not on this node)`;
  out.push('', `${end(r.src)} -> ${end(r.dst)} on network ${r.network}, VLAN ${r.vlan ?? 'unknown'}`);
  if (r.probes.length > 0) out.push('', 'PROBES', ...r.probes.map(probeLine));
  return out.join('\n');
}

/** One line per --probe result. */
function probeLine(p: Probe): string {
  const mark = p.ok ? 'ok  ' : 'FAIL';
  if (p.id === 'neighbour')
    return `${mark} neighbour ${p.address}: ${p.state ? `${p.state} ${p.mac ?? ''}`.trim() : 'no entry'}`;
  if (p.id === 'counters')
    return `${mark} counters: ${p.error ?? p.ports.map((c) => `${c.port} rx ${c.rx} tx ${c.tx}`).join(', ')}`;
  const what = `${p.id} ${p.size + 28} bytes${p.dontFragment ? ' DF' : ''}`;
  return `${mark} ${what}: ${p.received}/${p.sent} replies${p.error ? ` (${p.error})` : ''}`;
}
