// The CLI's edge, kept small because every call loads it (status included): the output
// interface, argument sanity, and the one place a failure becomes one line and an exit code.
import { failureExitCode, InvalidInputError, oneLine, PodvlanError } from '../errors';
import type { Logger } from '../log';

export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
}

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

/** What a call was, for its log line: the subcommand and, for the kubelet's calls, the pod. */
function callOf(argv: string[]): { cmd?: string; namespace?: string; pod?: string; container?: string } {
  const words: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '-c' || argv[i] === '--config') i++;
    else if (!argv[i].startsWith('-')) words.push(argv[i]);
  }
  const [cmd, namespace, pod, container] = words;
  if (cmd === 'setup' || cmd === 'teardown' || cmd === 'status') return { cmd, namespace, pod, container };
  return { cmd: cmd === 'ipam' && words[1] ? `ipam ${words[1]}` : cmd };
}

/** A permission error of a call not made as root: podvlan needs root for OVSDB, Docker, the
 * state directory and the network namespaces, and the bare errno does not say so. */
function withRootHint(message: string): string {
  const denied = /\b(EACCES|EPERM)\b|permission denied|operation not permitted/i.test(message);
  return denied && process.getuid?.() !== 0 ? `${message} (podvlan must run as root)` : message;
}

/** One line on `report` (stderr, or stdout for status), the failure in the log, the exit code. */
export function failure(err: unknown, report: (line: string) => void, argv: string[]): number {
  const call = callOf(argv);
  const kind = err instanceof PodvlanError ? err.kind : 'internal';
  logger?.error('failed', { ...call, argv, error: oneLine(err), kind });
  // A log that could not be written is said here, once: never by status, whose output the kubelet parses.
  const lost = call.cmd !== 'status' ? logger?.writeError : undefined;
  const unlogged = lost ? `; nothing was logged: cannot write log file ${lost}` : '';
  if (err instanceof PodvlanError) {
    report(`podvlan: ${withRootHint(oneLine(err))}${unlogged}`);
    return failureExitCode(err, call.cmd);
  }
  report(`podvlan: internal error: ${withRootHint(oneLine(err))}${unlogged}`);
  return failureExitCode(err, call.cmd);
}
