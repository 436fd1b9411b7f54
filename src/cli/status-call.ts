// `status`, the kubelet's most frequent call: it needs only stateDir from the config (no YAML
// parser, no schema; usually not even the config's text, see config/state-dir-hint.ts) and the
// pod record, and makes no OVSDB, Docker or etcd round trip.
import { statusOutput } from '../commands/status';
import { findConfigPathQuick, quickStateDir, readConfigTextQuick } from '../config/locate';
import { readStateDirHint, stateDirMtime, writeStateDirHint, type ConfigStat } from '../config/state-dir-hint';
import type { PodRef } from '../names';
import { statQuick } from '../state/small-file';
import type { Io } from './edge';

/** The config file, and its stateDir from the hint, or else the read of its text, under way. */
export interface LocatedConfig {
  path: string;
  stat?: ConfigStat;
  stateDir?: string;
  text?: Promise<string>;
}

/** Find the config and its stateDir cheaply (no node:fs under bun). A read of the config starts
 * at once, so that its I/O overlaps the caller's checks of the arguments; its failure is
 * reported where it is awaited (quickStateDirOf). */
export function locateConfig(configFlag: string | undefined): LocatedConfig {
  const path = findConfigPathQuick(configFlag);
  const stat = statQuick(path); // before any read: a hint is only ever keyed by what was read after it
  const stateDir = readStateDirHint(path, stat);
  if (stateDir) return { path, stateDir };
  const text = readConfigTextQuick(path);
  text.catch(() => {}); // not unhandled: quickStateDirOf awaits it
  return { path, stat, text };
}

/** stateDir without a full parse, remembered in the hint; undefined when the text is ambiguous.
 * Without a trusted hint, the state directory is checked here (which loads node:fs), and only a
 * directory that passes is remembered; one that fails throws the line that says what to fix. */
export async function quickStateDirOf(where: LocatedConfig): Promise<string | undefined> {
  if (where.stateDir) return where.stateDir;
  const stateDir = quickStateDir(await where.text!);
  if (!stateDir) return undefined;
  const checked = { at: Date.now(), stateDirMtimeMs: stateDirMtime(stateDir) };
  const { checkStateDir } = await import('../state/state-dir');
  checkStateDir(stateDir, { create: false });
  writeStateDirHint(where.path, where.stat, stateDir, checked);
  return stateDir;
}

/** stateDir, from the full parse when the quick reader is unsure; remembered in the hint either
 * way, so that a config the quick reader cannot read costs the full parse once, not per call. */
export async function stateDirOf(where: LocatedConfig): Promise<string> {
  const quick = await quickStateDirOf(where);
  if (quick) return quick;
  const at = Date.now();
  // loadContext checks the state directory (config/cached.ts) before it returns; status creates nothing.
  const { loadContext } = await import('./calls');
  const { stateDir } = (await loadContext(where.path, { createStateDir: false })).config;
  const checked = { at, stateDirMtimeMs: stateDirMtime(stateDir) };
  writeStateDirHint(where.path, where.stat, stateDir, checked);
  return stateDir;
}

export async function statusCall(ref: PodRef, where: LocatedConfig, io: Io): Promise<void> {
  // The kubelet runs podvlan as root. Anyone else gets the kubelet's "nothing to say" (no
  // output, exit 0), and the reason goes to the log.
  if (process.getuid?.() !== 0) return logNotRoot(ref, where);
  const stateDir = await stateDirOf(where);
  const line = statusOutput(stateDir, ref);
  if (line) io.out(line);
}

async function logNotRoot(ref: PodRef, where: LocatedConfig): Promise<void> {
  try {
    // The config alone, parsed afresh: the state directory (and its cache) is root's, not ours to read.
    const { config } = (await import('../config/load')).loadConfig(where.path);
    const log = new (await import('../log')).Logger(config.logFile);
    log.warn('status not run as root: printed nothing', {
      cmd: 'status',
      namespace: ref.namespace,
      pod: ref.pod,
      container: ref.containerId,
      uid: process.getuid?.(),
      why: "podvlan's records are root's: run podvlan as root, as the kubelet does",
    });
  } catch {
    // No readable config, no log to say it in: status still prints nothing.
  }
}
