// OVSDB value encoding (RFC 7047 section 5.1). A set of one element travels as the bare atom and
// an empty optional column as ["set",[]], so decoding needs to know the column's type: these
// helpers are named by the type they decode.

export type Atom = string | number | boolean | Uuid | NamedUuid;
export type Uuid = ['uuid', string];
export type NamedUuid = ['named-uuid', string];
export type OvsSet = ['set', Atom[]];
export type OvsMap = ['map', [Atom, Atom][]];
export type Value = Atom | OvsSet | OvsMap;

export const uuid = (id: string): Uuid => ['uuid', id];
export const namedUuid = (name: string): NamedUuid => ['named-uuid', name];

export function set(atoms: Atom[]): OvsSet {
  return ['set', atoms];
}

export function map(entries: Record<string, string>): OvsMap {
  return ['map', Object.entries(entries)];
}

function isTagged(v: unknown, tag: string): v is [string, unknown] {
  return Array.isArray(v) && v.length === 2 && v[0] === tag;
}

/** Decode a set column (including "optional" columns, sets of 0 or 1) into an array of atoms. */
export function decodeSet<T extends Atom>(v: unknown): T[] {
  if (isTagged(v, 'set')) return v[1] as T[];
  return [v as T];
}

/** Decode an optional column (min 0, max 1): the atom, or undefined when empty. */
export function decodeOptional<T extends Atom>(v: unknown): T | undefined {
  const atoms = decodeSet<T>(v);
  return atoms.length === 0 ? undefined : atoms[0];
}

/** Decode a map column with string keys and values. */
export function decodeStringMap(v: unknown): Record<string, string> {
  if (!isTagged(v, 'map')) throw new Error(`expected an OVSDB map, got ${JSON.stringify(v)}`);
  const out: Record<string, string> = {};
  for (const [k, val] of v[1] as [unknown, unknown][]) out[String(k)] = String(val);
  return out;
}

export function decodeUuid(v: unknown): string {
  if (!isTagged(v, 'uuid') || typeof v[1] !== 'string')
    throw new Error(`expected an OVSDB uuid, got ${JSON.stringify(v)}`);
  return v[1];
}
