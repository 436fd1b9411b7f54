// Config errors an operator can act on: a mistyped key named with the key it likely meant, a YAML
// error with the offending line. Loaded only when a config fails to parse or validate.
import type { z } from 'zod';

interface Def {
  type: string;
  shape?: Record<string, Schema>;
  element?: Schema;
  innerType?: Schema;
  in?: Schema;
  options?: Schema[];
}
type Schema = { _zod: { def: Def } };

/** The keys a strict object at `path` of the schema knows (every branch of a union). */
export function knownKeysAt(schema: z.ZodType, path: PropertyKey[]): string[] {
  const keys = new Set<string>();
  const walk = (s: Schema, rest: PropertyKey[]): void => {
    const def = s._zod.def;
    if (def.innerType)
      walk(def.innerType, rest); // optional, default, nullable, ...
    else if (def.type === 'pipe' && def.in) walk(def.in, rest);
    else if (def.type === 'union') for (const o of def.options ?? []) walk(o, rest);
    else if (def.type === 'array' && def.element && typeof rest[0] === 'number') walk(def.element, rest.slice(1));
    else if (def.type !== 'object' || !def.shape) return;
    else if (rest.length === 0) for (const k of Object.keys(def.shape)) keys.add(k);
    else if (typeof rest[0] === 'string' && def.shape[rest[0]]) walk(def.shape[rest[0]], rest.slice(1));
  };
  walk(schema as unknown as Schema, path);
  return [...keys];
}

/** The known key closest to a mistyped one, if it is close enough to be the likely intent. */
export function closestKey(word: string, known: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = editDistance(word.toLowerCase(), k.toLowerCase());
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  // One edit per three letters: `brige` -> bridge, `stateDri` -> stateDir; not `foo` -> mtu.
  return bestDistance <= Math.max(1, Math.floor(word.length / 3)) ? best : undefined;
}

/** Levenshtein distance, with a swap of two neighbours counting as one edit. */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** `networks[0].ipam`, as an operator would point at it. */
export function pathText(path: PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i > 0 ? '.' : ''}${String(p)}`)).join('');
}

/**
 * One line for a failed validation. An unknown key comes first, whatever else failed: the
 * other issues are usually its consequence (the key it was meant to be is missing).
 */
export function describeIssues(given: z.core.$ZodIssue[], schema: z.ZodType): string {
  const issues = given.flatMap(unionBranch);
  const unknown = withUnionBranches(issues).find((i) => i.code === 'unrecognized_keys');
  if (unknown && unknown.code === 'unrecognized_keys') {
    const key = unknown.keys[0];
    const where = unknown.path.length ? `in ${pathText(unknown.path)}` : 'at the top level';
    const meant = closestKey(key, knownKeysAt(schema, unknown.path));
    return `unknown key ${JSON.stringify(key)} ${where}${meant ? ` (did you mean ${JSON.stringify(meant)}?)` : ''}`;
  }
  const issue = issues[0];
  const field = issue.path.length ? issue.path.join('.') : '(top level)';
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : '';
  return `${field}: ${issue.message}${more}`;
}

/**
 * A failed union whose branches all but one failed only on the value's type (`ipam: {subnet: x}`
 * is no list; `ipam: [..]` no pool): that one branch's issues, at their own paths, are what the
 * value meant and what to say. Any other union stays as it is.
 */
function unionBranch(issue: z.core.$ZodIssue): z.core.$ZodIssue[] {
  if (issue.code !== 'invalid_union') return [issue];
  // A branch that got a value of the wrong type (what else it says follows from that).
  const typeOnly = (branch: z.core.$ZodIssue[]) => branch.some((i) => i.code === 'invalid_type' && i.path.length === 0);
  const meant = issue.errors.filter((b) => !typeOnly(b));
  if (meant.length !== 1 || issue.errors.length < 2) return [issue];
  return meant[0].flatMap((i) => unionBranch({ ...i, path: [...issue.path, ...i.path] } as z.core.$ZodIssue));
}

/** The issues, and those of each branch of a failed union (`vlan: {idd: 3}` fails every branch,
 * each with the stray key), with paths from the top. */
function withUnionBranches(issues: z.core.$ZodIssue[], prefix: PropertyKey[] = []): z.core.$ZodIssue[] {
  return issues.flatMap((i) => {
    const full = { ...i, path: [...prefix, ...i.path] } as z.core.$ZodIssue;
    return i.code === 'invalid_union'
      ? [full, ...i.errors.flatMap((branch) => withUnionBranches(branch, full.path))]
      : [full];
  });
}

/** A YAML error as `MESSAGE at line L, column C: "the line"` (the library's own message ends in
 * a colon and puts the line and a caret on the lines after it). */
export function describeYamlError(err: Error & { linePos?: { line: number; col: number }[] }, text: string): string {
  const message = err.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
  const pos = err.linePos?.[0];
  if (!pos) return message;
  const lines = text.split(/\r?\n/);
  // An error at the end of the input points past the last line: show the last one with text.
  let at = pos.line;
  while (at > 1 && (lines[at - 1] ?? '').trim() === '') at--;
  const line = lines[at - 1] ?? '';
  const shown = JSON.stringify(line.length > 100 ? `${line.slice(0, 100)}...` : line);
  return `${message} at line ${pos.line}, column ${pos.col}: ${at === pos.line ? shown : `after line ${at}, ${shown}`}`;
}
