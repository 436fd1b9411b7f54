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

/**
 * `diagnose` exits with its verdict (0 clean, 1 warnings, 2 blocked), which the two error kinds
 * numbered 1 and 2 elsewhere would be mistaken for: there they get numbers of their own. The
 * other kinds keep theirs (3-8), so a script tells a verdict (0-2) from a failure (3 and up).
 */
export const VERDICT_COMMANDS: ReadonlySet<string> = new Set(['diagnose']);
export const VERDICT_INVALID_INPUT_EXIT_CODE = 9;
export const VERDICT_INTERNAL_EXIT_CODE = 10;

/** The exit code of a failure of `cmd` (err a PodvlanError, or anything else: internal). */
export function failureExitCode(err: unknown, cmd: string | undefined): number {
  const verdicts = cmd !== undefined && VERDICT_COMMANDS.has(cmd);
  if (!(err instanceof PodvlanError)) return verdicts ? VERDICT_INTERNAL_EXIT_CODE : INTERNAL_EXIT_CODE;
  return verdicts && err instanceof InvalidInputError ? VERDICT_INVALID_INPUT_EXIT_CODE : err.exitCode;
}

/** One line, no newlines, whatever was thrown. */
export function oneLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.replace(/\s*\n\s*/g, '; ').trim();
}
