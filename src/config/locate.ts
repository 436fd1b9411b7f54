// Config lookup, and the one value `status` needs (stateDir) read without loading the YAML
// parser or the schema: status runs for every pod, often, and start-up is most of its cost.
// No static node:fs or node:path here: this module is on status's path (see state/small-file.ts).
import { ConfigError } from '../errors';
import { pathExists, pathExistsQuick, readSmallFile, readSmallFileQuick, SmallFileError } from '../state/small-file';

export const SYSTEM_CONFIG = '/etc/podvlan/podvlan.yaml';
export const DEFAULT_STATE_DIR = '/var/lib/podvlan';

/** --config, else $PODVLAN_CONFIG, else podvlan.yaml beside the executable, else the system file. */
export function findConfigPath(explicit: string | undefined, env = process.env, execPath = process.execPath, exists = pathExists): string {
  if (explicit) return explicit;
  if (env.PODVLAN_CONFIG) return env.PODVLAN_CONFIG;
  const beside = besideExecutable(execPath);
  return exists(beside) ? beside : SYSTEM_CONFIG;
}

/** findConfigPath for the status path (no node:fs under bun), made absolute. */
export function findConfigPathQuick(explicit: string | undefined): string {
  const path = findConfigPath(explicit, process.env, process.execPath, pathExistsQuick);
  return path.startsWith('/') ? path : `${process.cwd()}/${path}`;
}

const besideExecutable = (execPath: string) => `${execPath.slice(0, execPath.lastIndexOf('/') + 1)}podvlan.yaml`;

const TOP_LEVEL_STATE_DIR = /^stateDir[ \t]*:[ \t]*(?:"([^"\\\n]*)"|'([^'\n]*)'|([^\s#'"{[][^\s#]*))[ \t]*(?:#.*)?$/m;
const TOP_LEVEL_KEY = /^stateDir[ \t]*:/gm;
const OTHER_STATE_DIR_KEY = /(^[ \t]+|[{,][ \t]*)["']?stateDir["']?[ \t]*:/m;

/**
 * stateDir from config text when it can be read without a full parse: a JSON document, or a
 * plain top-level `stateDir: /path` line. Returns undefined when unsure (the caller then parses
 * fully); returns the default when the key is plainly absent.
 */
export function quickStateDir(text: string): string | undefined {
  const trimmed = text.trimStart();
  if (trimmed.startsWith('{')) {
    try {
      const v = JSON.parse(trimmed) as { stateDir?: unknown };
      return typeof v.stateDir === 'string' && v.stateDir.startsWith('/') ? v.stateDir : v.stateDir === undefined ? DEFAULT_STATE_DIR : undefined;
    } catch {
      return undefined;
    }
  }
  // Exactly one top-level `stateDir:` line, and no nested or flow-style one: then the line is the
  // answer (mentions in comments do not count).
  const keys = (text.match(TOP_LEVEL_KEY) ?? []).length;
  if (keys > 1 || OTHER_STATE_DIR_KEY.test(text)) return undefined;
  const m = TOP_LEVEL_STATE_DIR.exec(text);
  if (m) {
    const value = m[1] ?? m[2] ?? m[3];
    return value.startsWith('/') ? value : undefined;
  }
  return keys > 0 ? undefined : DEFAULT_STATE_DIR;
}

const MAX_CONFIG_BYTES = 1 << 20;

export function readConfigText(path: string): string {
  try {
    return readSmallFile(path, MAX_CONFIG_BYTES);
  } catch (err) {
    throw configReadError(err, path);
  }
}

/** readConfigText for the status path (no node:fs under bun). */
export async function readConfigTextQuick(path: string): Promise<string> {
  try {
    return await readSmallFileQuick(path, MAX_CONFIG_BYTES);
  } catch (err) {
    throw configReadError(err, path);
  }
}

function configReadError(err: unknown, path: string): unknown {
  if (!(err instanceof SmallFileError)) return err;
  if (err.reason === 'not a regular file') return new ConfigError(`config ${path} is not a regular file`);
  if (err.reason === 'too large') return new ConfigError(`config ${path} is larger than ${MAX_CONFIG_BYTES} bytes`);
  return new ConfigError(`cannot read config ${path}: ${err.reason === 'missing' ? 'no such file' : err.reason}`);
}
