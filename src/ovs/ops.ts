// Typed OVSDB operations (RFC 7047 section 5.2). Builders only; nothing here does I/O.
import type { Value } from './values';

export type Condition = [
  column: string,
  fn: '==' | '!=' | 'includes' | 'excludes' | '<' | '<=' | '>' | '>=',
  value: Value,
];
export type Row = Record<string, Value>;
export type Mutation = [column: string, mutator: '+=' | '-=' | 'insert' | 'delete', value: Value];

export type Operation =
  | { op: 'insert'; table: string; row: Row; 'uuid-name'?: string }
  | { op: 'select'; table: string; where: Condition[]; columns?: string[] }
  | { op: 'update'; table: string; where: Condition[]; row: Row }
  | { op: 'mutate'; table: string; where: Condition[]; mutations: Mutation[] }
  | { op: 'delete'; table: string; where: Condition[] }
  | {
      op: 'wait';
      table: string;
      where: Condition[];
      columns: string[];
      until: '==' | '!=';
      rows: Row[];
      timeout?: number;
    }
  | { op: 'comment'; comment: string };

export interface OperationResult {
  rows?: Record<string, unknown>[];
  uuid?: unknown;
  count?: number;
  error?: string;
  details?: string;
}

export const insert = (table: string, row: Row, uuidName?: string): Operation =>
  uuidName ? { op: 'insert', table, row, 'uuid-name': uuidName } : { op: 'insert', table, row };
export const select = (table: string, where: Condition[], columns?: string[]): Operation =>
  columns ? { op: 'select', table, where, columns } : { op: 'select', table, where };
export const mutate = (table: string, where: Condition[], mutations: Mutation[]): Operation => ({
  op: 'mutate',
  table,
  where,
  mutations,
});
export const comment = (text: string): Operation => ({ op: 'comment', comment: text });

/** Assert, inside a transaction, that no row of `table` matches `where` (else the whole transaction fails). */
export const assertAbsent = (table: string, where: Condition[]): Operation => ({
  op: 'wait',
  table,
  where,
  columns: ['_uuid'],
  until: '==',
  rows: [],
  timeout: 0,
});

/** Block server-side until at least one row matches `where`, for up to timeoutMs. */
export const waitUntilPresent = (
  table: string,
  where: Condition[],
  timeoutMs: number,
  columns = ['_uuid'],
): Operation => ({ op: 'wait', table, where, columns, until: '!=', rows: [], timeout: timeoutMs });
