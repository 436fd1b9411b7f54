// The calls' lines (call-log.ts) folded into cumulative counters and histogram buckets: what
// `podvlan metrics` keeps in <stateDir>/metrics/summary.json between runs. Pure: the file work is
// in call-fold.ts. Lines are checked word by word: a line not in the form the calls write counts
// as invalid and changes nothing else, so no file can make up a label value.
import { CALLS, type CallName } from './call-log';

/** Upper bounds of the duration histogram, in seconds (+Inf is implied). A setup takes ~20 ms, a teardown ~35 ms. */
export const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** What gc reclaims, by kind, from its action names (rewrite-record repairs, it reclaims nothing). */
export const GC_KINDS: Record<string, string> = {
  'remove-port': 'port',
  'delete-veth': 'veth',
  'release-address': 'address',
  'remove-lease': 'address',
  'leave-vlan': 'vlan',
  'remove-record': 'record',
  'remove-temp-file': 'temp_file',
};
/** The kinds, sorted: address, port, record, temp_file, veth, vlan. */
export const GC_RECLAIMED_KINDS = [...new Set(Object.values(GC_KINDS))].sort();
const GC_KIND_NAMES = new Set(GC_RECLAIMED_KINDS);

/** What one gc run reclaimed, by kind (every kind, 0 included), from its actions. */
export function reclaimedBy(actions: { action: string }[]): Record<string, number> {
  const counts = Object.fromEntries([...GC_KIND_NAMES].map((k) => [k, 0]));
  for (const { action } of actions) if (GC_KINDS[action]) counts[GC_KINDS[action]]++;
  return counts;
}

export interface CallStats {
  ok: number;
  failed: number;
  kinds: Record<string, number>; // failures by error kind
  buckets: Record<string, number>; // by upper bound ("0.025", "+Inf"), not cumulative
  sumMicros: number; // the durations' sum in microseconds: an integer adds up exactly
}

export interface CallSummary {
  format: 1;
  calls: Record<CallName, CallStats>;
  gc: { runs: number; reclaimed: Record<string, number> };
  dropped: number; // rotated logs deleted before metrics folded them
  invalid: number; // lines not in the calls' form
  logs: Record<string, { offset: number; head: string }>; // by inode: bytes folded, and the file's first line
}

export function emptySummary(): CallSummary {
  const calls = {} as Record<CallName, CallStats>;
  for (const c of CALLS) calls[c] = { ok: 0, failed: 0, kinds: {}, buckets: {}, sumMicros: 0 };
  return { format: 1, calls, gc: { runs: 0, reclaimed: {} }, dropped: 0, invalid: 0, logs: {} };
}

/** The bucket a duration falls in: the smallest bound at or above it. */
export function bucketOf(seconds: number): string {
  const bound = BUCKETS.find((b) => seconds <= b);
  return bound === undefined ? '+Inf' : String(bound);
}

const KIND = /^[a-z][a-z-]{0,31}$/;
const SECONDS = /^\d{1,6}(\.\d{1,6})?$/;
const TIME = /^\d{1,12}$/;
const COUNT = /^\d{1,9}$/;
const isCall = (s: string): s is CallName => (CALLS as readonly string[]).includes(s);

/** Fold one line (without its newline) into s; false (and counted as invalid) if it is not in the calls' form. */
export function foldLine(s: CallSummary, line: string): boolean {
  const w = line.split(' ');
  if (w[0] === 'call' && w.length === 6 && isCall(w[1]) && SECONDS.test(w[4]) && TIME.test(w[5])) {
    const [, call, result, kind, secs] = w;
    const ok = result === 'ok' && kind === '-';
    if (ok || (result === 'failed' && KIND.test(kind))) {
      const stats = s.calls[call];
      if (ok) stats.ok++;
      else {
        stats.failed++;
        stats.kinds[kind] = (stats.kinds[kind] ?? 0) + 1;
      }
      const seconds = Number(secs);
      stats.buckets[bucketOf(seconds)] = (stats.buckets[bucketOf(seconds)] ?? 0) + 1;
      stats.sumMicros += Math.round(seconds * 1e6);
      return true;
    }
  } else if (w[0] === 'gc' && w.length >= 2 && TIME.test(w[1])) {
    const counts = w.slice(2).map((kv) => kv.split('='));
    if (counts.every(([k, n, more]) => GC_KIND_NAMES.has(k) && COUNT.test(n ?? '') && more === undefined)) {
      s.gc.runs++;
      for (const [k, n] of counts) s.gc.reclaimed[k] = (s.gc.reclaimed[k] ?? 0) + Number(n);
      return true;
    }
  } else if (w[0] === 'dropped' && w.length === 3 && COUNT.test(w[1]) && TIME.test(w[2])) {
    s.dropped += Number(w[1]);
    return true;
  }
  s.invalid++;
  return false;
}

/**
 * Fold the complete lines of `bytes` (a file's contents from some offset); returns how many
 * bytes they span. A last line without its newline is a write still under way: left for the
 * next run, unless `all` (a file no one writes any more), when it is folded (or counted invalid).
 */
export function foldBytes(s: CallSummary, bytes: Uint8Array, all = false): number {
  const end = all ? bytes.length : bytes.lastIndexOf(0x0a) + 1;
  // Lines are ASCII; latin1 keeps one character per byte whatever a stray byte is.
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, end).toString('latin1');
  for (const line of text.split('\n')) if (line !== '') foldLine(s, line);
  return end;
}

/** A summary as read back from its file, or undefined if it is not one this code wrote. */
export function parseSummary(text: string): CallSummary | undefined {
  let s: CallSummary;
  try {
    s = JSON.parse(text) as CallSummary;
  } catch {
    return undefined;
  }
  const counts = (r: unknown) =>
    typeof r === 'object' && r !== null && Object.values(r).every((n) => Number.isSafeInteger(n) && n >= 0);
  const call = (c: CallStats | undefined) =>
    c !== undefined &&
    Number.isSafeInteger(c.ok) &&
    Number.isSafeInteger(c.failed) &&
    Number.isSafeInteger(c.sumMicros) &&
    counts(c.kinds) &&
    Object.keys(c.kinds).every((k) => KIND.test(k)) &&
    counts(c.buckets) &&
    Object.keys(c.buckets).every((b) => b === '+Inf' || BUCKETS.includes(Number(b)));
  const logs = (l: unknown) =>
    typeof l === 'object' &&
    l !== null &&
    Object.entries(l).every(
      ([ino, v]) => /^\d+$/.test(ino) && Number.isSafeInteger(v?.offset) && typeof v?.head === 'string',
    );
  if (typeof s?.calls !== 'object' || s.calls === null) return undefined;
  // A call this code records and an older summary does not know yet starts at zero.
  for (const c of CALLS) s.calls[c] ??= emptySummary().calls[c];
  const valid =
    s.format === 1 &&
    CALLS.every((c) => call(s.calls[c])) &&
    Number.isSafeInteger(s.gc?.runs) &&
    counts(s.gc?.reclaimed) &&
    Object.keys(s.gc.reclaimed).every((k) => GC_KIND_NAMES.has(k)) &&
    Number.isSafeInteger(s.dropped) &&
    Number.isSafeInteger(s.invalid) &&
    logs(s.logs);
  return valid ? s : undefined;
}
