// What the CLI does around each command, shared by the kubelet's fast path (fast.ts) and the
// full commander program (program.ts): load the context, run, print, and turn a failure into
// one line and an exit code.
import type { Context } from '../commands/context';
import { statusOutput } from '../commands/status';
import { loadConfigCached } from '../config/cached';
import { findConfigPath, quickStateDir, readConfigText } from '../config/locate';
import { INTERNAL_EXIT_CODE, InvalidInputError, oneLine, PodvlanError } from '../errors';
import { Logger } from '../log';
import type { PodRef } from '../names';

const MAX_ARG_LENGTH = 4096;

/** Refuse absurd arguments before anything echoes or parses them. */
export function checkArgLengths(argv: string[]): void {
  const tooLong = argv.find((a) => a.length > MAX_ARG_LENGTH);
  if (tooLong !== undefined) throw new InvalidInputError(`argument of ${tooLong.length} characters is too long`);
}

export interface Io { out: (text: string) => void; err: (text: string) => void }

let logger: Logger | undefined; // set once the config is loaded, so failures reach the log too

export async function loadContext(configFlag: string | undefined): Promise<Context> {
  const { path, config } = await loadConfigCached(configFlag);
  logger = new Logger(config.logFile);
  return { config, configPath: path, log: logger };
}

export async function setupCall(ref: PodRef, configFlag: string | undefined, io: Io): Promise<void> {
  const { setup } = await import('../commands/setup');
  const r = await setup(await loadContext(configFlag), ref);
  const who = `${ref.namespace}/${ref.pod}`;
  if (r.attachments.length === 0) io.out(`${who}: no network selects this pod`);
  for (const a of r.attachments) {
    io.out(`${who}: ${a.interface} ${a.ip ?? '(no address)'} vlan ${a.tag} on ${a.bridge} port ${a.port}${r.changed ? '' : ' (unchanged)'}`);
  }
}

export async function teardownCall(ref: PodRef, configFlag: string | undefined, io: Io): Promise<void> {
  const { teardown } = await import('../commands/teardown');
  const r = await teardown(await loadContext(configFlag), ref);
  io.out(`${ref.namespace}/${ref.pod}: removed ${r.ports.length} port(s)${r.ports.length ? ` (${r.ports.join(', ')})` : ''}, released ${r.addresses.length} address(es)`);
}

/** `status` reads only stateDir from the config: no YAML parser, no schema, no round trip. */
export async function statusCall(ref: PodRef, configFlag: string | undefined, io: Io): Promise<void> {
  const path = findConfigPath(configFlag);
  const stateDir = quickStateDir(readConfigText(path)) ?? (await loadContext(path)).config.stateDir;
  const line = statusOutput(stateDir, ref);
  if (line) io.out(line);
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
