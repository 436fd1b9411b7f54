// One error class per failure kind. The CLI edge maps each to an exit code and prints
// err.message as the single line an operator (or the kubelet's log) sees.

export abstract class PodvlanError extends Error {
  abstract readonly exitCode: number;
  abstract readonly kind: string;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Arguments that are not valid names, ids or values. */
export class InvalidInputError extends PodvlanError {
  readonly exitCode = 2;
  readonly kind = 'invalid-input';
}

/** The config file is missing, unreadable or does not validate. */
export class ConfigError extends PodvlanError {
  readonly exitCode = 3;
  readonly kind = 'config';
}

/** Something the call needs does not exist (a container, a running process, a bridge). */
export class NotFoundError extends PodvlanError {
  readonly exitCode = 4;
  readonly kind = 'not-found';
}

/** The request clashes with what exists (a taken address, a name owned by someone else). */
export class ConflictError extends PodvlanError {
  readonly exitCode = 5;
  readonly kind = 'conflict';
}

/** A pool has no free VLAN or address left. */
export class ExhaustedError extends PodvlanError {
  readonly exitCode = 6;
  readonly kind = 'exhausted';
}

/** A dependency (OVSDB, Docker, etcd, the state directory) cannot be reached or timed out. */
export class UnavailableError extends PodvlanError {
  readonly exitCode = 7;
  readonly kind = 'unavailable';
}

/** The kernel or OVS refused an operation (ip failed, OVSDB transaction error). */
export class OperationError extends PodvlanError {
  readonly exitCode = 8;
  readonly kind = 'operation-failed';
}

export const INTERNAL_EXIT_CODE = 1;

/** One line, no newlines, whatever was thrown. */
export function oneLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.replace(/\s*\n\s*/g, '; ').trim();
}
