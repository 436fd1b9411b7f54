// `status` needs one value from the config, stateDir, and reading the config costs it a worker
// thread round trip (~0.8 ms of a ~6 ms call: Bun has no synchronous read-only file read but
// node:fs, which costs more to load). So the value is kept in a small file of podvlan's own,
// /run/podvlan/state-dir-<hash of the config path>.json, with the config's size and mtime: while
// one stat of the config still shows both, status uses it without opening the config. Any
// difference, a missing or unreadable hint, or not running under bun: the config is read, and
// the hint rewritten. /run is root's and emptied at boot; the directory is made 0700 and a hint
// is only written there if it is ours alone.
//
// A hint also stands for the check of the state directory (state/state-dir.ts), which status
// cannot afford on every call (it needs node:fs or bun:ffi: +1.3 or +0.4 ms of a ~5 ms call). A
// hint is written only right after that check passed, and is trusted for CHECK_TRUST_MS while the
// state directory's mtime is unchanged (one cheap stat: swapping pods/ for a link changes it).
// Only root can loosen a directory that passed the check; when it does, the next other command
// refuses and removes the hint, and status notices within CHECK_TRUST_MS at the latest.
import { nodeFs } from '../builtins';
import { writeFreshFile } from '../state/own-file';
import { readOwnFileQuick, statQuick } from '../state/small-file';

export const HINT_DIR = '/run/podvlan';
export const CHECK_TRUST_MS = 30_000;

export interface ConfigStat {
  size: number;
  mtimeMs: number;
}
interface Hint extends ConfigStat {
  path: string;
  stateDir: string;
  checkedAt: number;
  stateDirMtimeMs: number | null;
}

export const hintPath = (configPath: string) => `${HINT_DIR}/state-dir-${pathHash(configPath)}.json`;

/** Two FNV-1a lanes in 32-bit integer arithmetic: a file name for the path, cheap when cold
 * (names.ts's 64-bit hash uses BigInt: ~0.2 ms on status's path). Collisions are harmless: the
 * hint records its config path and is ignored for any other. */
function pathHash(text: string): string {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995) ^ (b >>> 15);
  }
  return (a >>> 0).toString(16).padStart(8, '0') + (b >>> 0).toString(16).padStart(8, '0');
}

/** The config's stateDir from its hint, if the config (stat given) is unchanged since. */
export function readStateDirHint(configPath: string, stat: ConfigStat | undefined): string | undefined {
  if (!stat) return undefined;
  try {
    const hint = JSON.parse(readOwnFileQuick(hintPath(configPath), 4096)) as Hint;
    const same = hint.path === configPath && hint.size === stat.size && hint.mtimeMs === stat.mtimeMs;
    if (!same || typeof hint.stateDir !== 'string' || !hint.stateDir.startsWith('/')) return undefined;
    const age = Date.now() - hint.checkedAt;
    if (!(age >= 0 && age < CHECK_TRUST_MS) || stateDirMtime(hint.stateDir) !== hint.stateDirMtimeMs) return undefined;
    return hint.stateDir;
  } catch {
    return undefined;
  }
}

/** The state directory's mtime (null when missing or not under bun), from one synchronous stat. */
export const stateDirMtime = (stateDir: string): number | null => statQuick(stateDir)?.mtimeMs ?? null;

/** Remember stateDir for the config as it was at `stat` (taken before its text was read), and that
 * the state directory passed its check (`checked`: its mtime and the time, taken before the check). */
export function writeStateDirHint(
  configPath: string,
  stat: ConfigStat | undefined,
  stateDir: string,
  checked: { at: number; stateDirMtimeMs: number | null },
): void {
  if (!stat) return;
  const fs = nodeFs();
  const file = hintPath(configPath);
  const temp = `${file}.tmp-${process.pid}`;
  try {
    fs.mkdirSync(HINT_DIR, { recursive: true, mode: 0o700 });
    const dir = fs.lstatSync(HINT_DIR);
    if (!dir.isDirectory() || dir.uid !== process.geteuid?.() || (dir.mode & 0o077) !== 0) return;
    const hint: Hint = {
      path: configPath,
      size: stat.size,
      mtimeMs: stat.mtimeMs,
      stateDir,
      checkedAt: checked.at,
      stateDirMtimeMs: checked.stateDirMtimeMs,
    };
    const renewal = fs.existsSync(file); // a renewed check stamp: nothing new to bound
    writeFreshFile(temp, JSON.stringify(hint));
    fs.renameSync(temp, file);
    if (renewal) return;
  } catch {
    try {
      fs.unlinkSync(temp);
    } catch {
      /* never written */
    }
    // Without a hint, status reads the config: slower, never wrong.
    return;
  }
  pruneHints(HINT_DIR, file);
}

/** How many hints stay: one per config a node uses, with room for a few more. */
export const MAX_HINTS = 32;
const STALE_TEMP_MS = 60_000; // a temp file this old lost its writer (killed between write and rename)

/**
 * Keep the hints bounded (every config path ever used leaves one, and /run is emptied only at
 * boot): remove those whose config is gone or that are unreadable, temp files of dead writers,
 * and then the oldest written beyond MAX_HINTS. Runs only where a new hint was just written (a
 * config not seen before), never where status uses its hint or renews its check stamp.
 */
export function pruneHints(dir: string, keep: string): void {
  const fs = nodeFs();
  const now = Date.now();
  const live: { file: string; mtimeMs: number }[] = [];
  const remove = (file: string) => {
    try {
      fs.unlinkSync(file);
    } catch {
      /* gone meanwhile */
    }
  };
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const file = `${dir}/${name}`;
    if (!name.startsWith('state-dir-') || file === keep) continue;
    try {
      const st = fs.lstatSync(file);
      if (name.includes('.tmp-')) {
        if (now - st.mtimeMs > STALE_TEMP_MS) remove(file);
      } else if (!st.isFile() || !fs.existsSync(configOf(fs.readFileSync(file, 'utf8')))) {
        remove(file);
      } else {
        live.push({ file, mtimeMs: st.mtimeMs });
      }
    } catch {
      remove(file); // unreadable or not a hint
    }
  }
  live
    .sort((a, b) => b.mtimeMs - a.mtimeMs)
    .slice(MAX_HINTS - 1)
    .forEach((h) => remove(h.file));
}

/** The config path a hint was written for; throws for anything that is no hint. */
function configOf(text: string): string {
  const { path } = JSON.parse(text) as Partial<Hint>;
  if (typeof path !== 'string' || !path.startsWith('/')) throw new Error('not a hint');
  return path;
}

/** Forget the config's hint: its state directory failed the check, status must check for itself. */
export function removeStateDirHint(configPath: string): void {
  try {
    nodeFs().unlinkSync(hintPath(configPath));
  } catch {
    /* none */
  }
}
