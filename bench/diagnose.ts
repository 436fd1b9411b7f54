// The diagnose row: a same-node diagnosis (two pods of VLAN 22, every hop read: OVSDB, both
// namespaces, ovs-vswitchd's trace), whole process, interleaved with `podvlan version` so the
// ratio compares one machine state. run.ts takes its samples in its start-up loop; alone
// (BENCH_ONLY=diagnose npm run bench) it sets up the two pods, measures, prints, and stops.
import { type Summary, summarize } from './stats';

export type Podvlan = (...args: string[]) => Promise<{ ms: number; code: number; output: string }>;

/** The arguments of the measured call: two pods set up as `bench/22-seq-0` and `bench/22-seq-1`. */
export const DIAGNOSE_ARGS = ['diagnose', 'bench/22-seq-0', 'bench/22-seq-1'];

/** One diagnosis's wall time; clean is exit 0 (INFO at most), anything else fails the bench. */
export async function diagnoseOnce(podvlan: Podvlan): Promise<number> {
  const r = await podvlan(...DIAGNOSE_ARGS);
  if (r.code !== 0) throw new Error(`diagnose failed (${r.code}): ${r.output.trim()}`);
  return r.ms;
}

/** The row alone: two pods, then `n` rounds of version and diagnose interleaved. */
export async function diagnoseOnly(
  podvlan: Podvlan,
  containers: string[],
  n: number,
): Promise<Record<string, Summary>> {
  for (const [i, id] of containers.slice(0, 2).entries()) {
    const r = await podvlan('setup', 'bench', `22-seq-${i}`, id);
    if (r.code !== 0) throw new Error(`setup failed (${r.code}): ${r.output.trim()}`);
  }
  const samples: Record<string, number[]> = { 'podvlan version': [], 'podvlan diagnose, same node': [] };
  for (let i = 0; i < n; i++) {
    samples['podvlan version'].push((await podvlan('version')).ms);
    samples['podvlan diagnose, same node'].push(await diagnoseOnce(podvlan));
  }
  return Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, summarize(v)]));
}
