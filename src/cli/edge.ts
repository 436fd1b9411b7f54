// The CLI's edge, kept small because every call loads it (status included): the output
// interface, argument sanity, and the one place a failure becomes one line and an exit code.
import { INTERNAL_EXIT_CODE, InvalidInputError, oneLine, PodvlanError } from '../errors';
import type { Logger } from '../log';

export interface Io { out: (text: string) => void; err: (text: string) => void }

const MAX_ARG_LENGTH = 4096;

/** Refuse absurd arguments before anything echoes or parses them. */
export function checkArgLengths(argv: string[]): void {
  const tooLong = argv.find((a) => a.length > MAX_ARG_LENGTH);
  if (tooLong !== undefined) throw new InvalidInputError(`argument of ${tooLong.length} characters is too long`);
}

let logger: Logger | undefined; // set once the config is loaded, so failures reach the log too

export function setFailureLog(log: Logger): void {
  logger = log;
}

/** One line on `report` (stderr, or stdout for status), the failure in the log, the exit code. */
export function failure(err: unknown, report: (line: string) => void, argv: string[]): number {
  logger?.error('failed', { argv, error: oneLine(err), kind: err instanceof PodvlanError ? err.kind : 'internal' });
  if (err instanceof PodvlanError) {
    report(`podvlan: ${oneLine(err)}`);
    return err.exitCode;
  }
  report(`podvlan: internal error: ${oneLine(err)}`);
  return INTERNAL_EXIT_CODE;
}
