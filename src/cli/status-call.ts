// `status`, the kubelet's most frequent call: it needs only stateDir from the config (no YAML
// parser, no schema; usually not even the config's text, see config/state-dir-hint.ts) and the
// pod record, and makes no OVSDB, Docker or etcd round trip.
import { statusOutput } from '../commands/status';
import { findConfigPathQuick, quickStateDir, readConfigTextQuick } from '../config/locate';
import { readStateDirHint, writeStateDirHint, type ConfigStat } from '../config/state-dir-hint';
import type { PodRef } from '../names';
import { statQuick } from '../state/small-file';
import type { Io } from './edge';

export interface StatusConfig { path: string; stat?: ConfigStat; stateDir?: string; text?: Promise<string> }

/** Where status will find stateDir: the hint, or else the config, whose read starts at once so
 * that its I/O overlaps the checks of the arguments. A read failure is reported when awaited. */
export function locateForStatus(configFlag: string | undefined): StatusConfig {
  const path = findConfigPathQuick(configFlag);
  const stat = statQuick(path); // before any read: a hint is only ever keyed by what was read after it
  const stateDir = readStateDirHint(path, stat);
  if (stateDir) return { path, stateDir };
  const text = readConfigTextQuick(path);
  text.catch(() => {}); // not unhandled: statusCall awaits it
  return { path, stat, text };
}

export async function statusCall(ref: PodRef, where: StatusConfig, io: Io): Promise<void> {
  let stateDir = where.stateDir;
  if (!stateDir) {
    const text = await where.text!;
    stateDir = quickStateDir(text) ?? (await (await import('./calls')).loadContext(where.path)).config.stateDir;
    writeStateDirHint(where.path, where.stat, stateDir);
  }
  const line = statusOutput(stateDir, ref);
  if (line) io.out(line);
}
