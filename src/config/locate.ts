// Config lookup, and the one value `status` needs (stateDir) read without loading the YAML
// parser or the schema: status runs for every pod, often, and start-up is most of its cost.
// No static node:fs or node:path here: this module is on status's path (see state/small-file.ts).
import { ConfigError } from '../errors';
import { pathExists, pathExistsQuick, readSmallFile, readSmallFileQuick, SmallFileError } from '../state/small-file';

export const SYSTEM_CONFIG = '/etc/podvlan/podvlan.yaml';
export const DEFAULT_STATE_DIR = '/var/lib/podvlan';

/** --config, else $PODVLAN_CONFIG, else podvlan.yaml beside the executable, else the system file. */
export function findConfigPath(
  explicit: string | undefined,
  env = process.env,
  execPath = process.execPath,
  exists = pathExists,
): string {
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

// A top-level key line: a plain key (`stateDir:`) or one quoted without escapes (`"stateDir":`),
// then its colon.
const KEY_LINE = /^(?:([A-Za-z_][A-Za-z0-9_]*)|"([A-Za-z0-9_]+)"|'([A-Za-z0-9_]+)') *:/;
// stateDir's value, each form one the yaml library reads the same way: plain printable ASCII, or
// quoted without escapes or line breaks; then at most a comment (` #`).
const STATE_DIR_VALUE = /^ +(?:"([^"\\]*)"|'([^']*)'|(\/[!-~]*))(?: +#.*)? *$/;
const JSON_START = /^[ \t\r\n]*\{/;
const ABSOLUTE_PATH = /^\/[^\0]*$/; // the schema's absPath

/**
 * stateDir from config text when it can be read without the YAML parser: a JSON document, or a
 * YAML block mapping at column 0 made only of forms this reader knows. Returns undefined when
 * unsure (the caller then parses fully); the default when the key is plainly absent. For every
 * text the full parser accepts, whatever this answers is what the full parser reads
 * (test/unit/quick-state-dir.test.ts compares both over thousands of generated forms); for a
 * text it refuses, this may still answer, and every command but status then reports the error.
 */
export function quickStateDir(text: string): string | undefined {
  if (JSON_START.test(text)) return jsonStateDir(text);
  let found: string | undefined;
  let keys = 0; // stateDir keys seen
  let open: 'none' | 'other' | 'stateDir' = 'none'; // the top-level key whose value the lines continue
  for (const line of text.split('\n')) {
    if (line[0] === ' ') {
      if (line.trim() === '') continue;
      // Indented content continues the current key's value: fine for a nested block; but after
      // stateDir's value it would continue the scalar, and before any key the document is no
      // mapping at column 0.
      if (open === 'none' || open === 'stateDir') return undefined;
      continue;
    }
    if (line === '' || line[0] === '#') continue;
    // A document start (a second document the full parser refuses), or an item of a sequence at
    // column 0 as some write `networks:` (it can be no key of the mapping).
    if (/^--- *$/.test(line) || line.startsWith('- ')) continue;
    const key = KEY_LINE.exec(line);
    // Directives, `...`, `? key`, `<<`, anchors, tags, flow, odd keys, tabs, CR, a BOM: unsure.
    if (!key) return undefined;
    const rest = line.slice(key[0].length);
    if ((key[1] ?? key[2] ?? key[3]) !== 'stateDir') {
      open = 'other';
      continue;
    }
    keys++;
    const value = STATE_DIR_VALUE.exec(rest);
    if (!value) return undefined;
    found = value[1] ?? value[2] ?? value[3];
    open = 'stateDir';
  }
  if (keys > 1) return undefined; // the full parser refuses duplicate keys: let it say so
  if (found === undefined) return DEFAULT_STATE_DIR;
  return found.startsWith('/') ? found : undefined;
}

/** JSON.parse reads a JSON document as the yaml library does, duplicate keys aside (which the
 * yaml library refuses: the full parse reports them). */
function jsonStateDir(text: string): string | undefined {
  let value: unknown;
  try {
    value = (JSON.parse(text) as { stateDir?: unknown }).stateDir;
  } catch {
    return undefined;
  }
  if (value === undefined) return DEFAULT_STATE_DIR;
  return typeof value === 'string' && ABSOLUTE_PATH.test(value) ? value : undefined;
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
