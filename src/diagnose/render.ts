// The text form of a diagnosis: the verdict line, then one row per hop with what was read, and
// under each hop its suspicions and the command that would fix each. For --all: one line per
// attachment with its worst suspicion, then the hops of each one that is not clean.
import { table } from '../cli/output';
import type { DiagnoseAllResult } from '../commands/diagnose-all';
import type { DiagnoseResult, Hop } from './model';
import { LEVELS, worstOf } from './model';
import type { Probe } from './probe';

/** The hop table, each hop's suspicions and fixes under its row. */
function hopLines(hops: Hop[]): string[] {
  const rows = hops.map((h, i) => {
    const worst = h.suspicions.reduce<number>((w, s) => Math.max(w, LEVELS.indexOf(s.level)), -1);
    return [String(i + 1), h.kind, h.object, h.node, worst < 0 ? 'ok' : LEVELS[worst], h.summary];
  });
  const lines = table(['HOP', 'KIND', 'OBJECT', 'NODE', 'STATE', 'READ'], rows).split('\n');
  const out = [lines[0]];
  hops.forEach((h, i) => {
    out.push(lines[i + 1]);
    for (const s of h.suspicions) {
      out.push(`      ${s.level} ${s.code}: ${s.message}`);
      if (s.hint) out.push(`        fix: ${s.hint}`);
    }
  });
  return out;
}

export function renderText(r: DiagnoseResult): string {
  const out = [r.verdict, '', ...hopLines(r.hops)];
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
  // The packet's size: the payload and the IP and ICMP headers (IPv6's 48, whose packets are never
  // fragmented on the way, so no DF to say).
  const v6 = p.command.includes('-6');
  const what = `${p.id}${v6 ? ' -6' : ''} ${p.size + (v6 ? 48 : 28)} bytes${p.dontFragment && !v6 ? ' DF' : ''}`;
  return `${mark} ${what}: ${p.received}/${p.sent} replies${p.error ? ` (${p.error})` : ''}`;
}

/** diagnose --all: a head line, one row per attachment, then the hops of each one with a problem. */
export function renderAllText(r: DiagnoseAllResult): string {
  const bad = r.attachments.filter((a) => a.worst !== 'OK' && a.worst !== 'INFO');
  const head =
    bad.length === 0
      ? `OK: ${r.attachments.length} attachments on ${r.node}, none with a problem`
      : `${r.worst}: ${bad.length} of ${r.attachments.length} attachments on ${r.node} with a problem`;
  const rows = r.attachments.map((a) => {
    const w = worstOf(a.hops);
    const shown = w && w.suspicion.level !== 'INFO' ? `${w.suspicion.code} at ${w.hop.object}` : '';
    const pod = `${a.src.namespace}/${a.src.pod}`;
    return [pod, a.network, a.src.port ?? '', String(a.src.vlan ?? '?'), a.worst === 'INFO' ? 'OK' : a.worst, shown];
  });
  const out = [head, '', table(['POD', 'NETWORK', 'PORT', 'VLAN', 'STATE', 'WORST'], rows)];
  for (const a of bad)
    out.push('', `${a.src.namespace}/${a.src.pod} on ${a.network}: ${a.verdict}`, ...hopLines(a.hops));
  return out.join('\n');
}
