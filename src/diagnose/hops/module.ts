// The one interface every hop kind implements (KubeSkoop's plugin idea, for OVS): what it reads,
// how its facts are picked out of the path's, and a pure judge from those facts to suspicions.
// A new hop kind is one file implementing it, placed on the path in hops/index.ts; a new check
// of an existing kind is one more function in that kind's `checks`.
import type { PathFacts, Side, Source } from '../facts';
import type { HopKind, Suspicion } from '../model';

export type Check<F> = (facts: F) => Suspicion | Suspicion[] | undefined;

export interface HopModule<F> {
  kind: HopKind;
  /** The sources its facts come from (gather.ts reads them for every hop at once). */
  reads: readonly Source[];
  /** The hops of this kind at `side` of the path (one, or one per uplink), each with its object
   * and facts picked out of the path's; `id` names one of several. */
  views(path: PathFacts, side: Side): { id?: string; object: string; facts: F }[];
  /** Judged in order; each returns what it finds wrong, or nothing. */
  checks: readonly Check<F>[];
  /** A few words of what was read, for the text table ("up, mtu 1500, 10.1.0.2/24"). */
  summary(facts: F): string;
}

/** Every check of a module on its facts, in order. */
export function judge<F>(module: HopModule<F>, facts: F): Suspicion[] {
  return module.checks.flatMap((check) => {
    const found = check(facts);
    return found === undefined ? [] : Array.isArray(found) ? found : [found];
  });
}

/** A fact that could not be read, as a suspicion: the path cannot be vouched for there. */
export function unreadable(object: string, unread: Record<string, string>): Suspicion[] {
  return Object.entries(unread).map(([fact, why]) => ({
    level: 'WARNING' as const,
    code: 'unreadable',
    message: `${fact} of ${object} could not be read: ${why}`,
  }));
}

/** The command that runs `args` in a pod's network namespace, opened by `path`. */
export function inPod(path: string | undefined, args: string): string | undefined {
  return path === undefined ? undefined : `nsenter --net=${path} ${args}`;
}

/** The entries of `unread` about `facts` (each hop shows its own). */
export function pick(unread: Record<string, string>, facts: string[]): Record<string, string> {
  return Object.fromEntries(Object.entries(unread).filter(([k]) => facts.includes(k)));
}
