// What the calls keep for `podvlan metrics`: one short line per setup, teardown and CNI
// ADD/DEL/CHECK (outcome, error kind, wall time), and one per gc run (what it reclaimed),
// appended to <stateDir>/metrics/calls.log. One open(O_APPEND), one write, one close: the kubelet's
// hot path pays microseconds, takes no lock and reads nothing. `metrics` folds the lines into its
// summary later (call-summary.ts). status writes nothing: its path is the hottest.
//
// Growth is bounded without metrics ever running: a writer that takes the file past ROTATE_BYTES
// renames it aside as calls-<inode>.log (link then unlink: a second writer that saw the same file
// full finds the name taken and leaves it), and at most MAX_ROTATED such files are kept; an older
// one is deleted and a `dropped` line says so. Best effort throughout: a line that cannot be
// written never fails the call it describes.
// node:fs is loaded already wherever this runs (the state directory check needs it).
import { nodeFs } from '../builtins';
import { PodvlanError } from '../errors';

export const METRICS_DIR = 'metrics';
export const CALL_LOG = 'calls.log';
export const ROTATED_LOG = /^calls-(\d+)\.log$/;
export const ROTATE_BYTES = 1 << 20; // ~25 000 calls
export const MAX_ROTATED = 3;

export const CALLS = ['setup', 'teardown', 'ADD', 'DEL', 'CHECK'] as const;
export type CallName = (typeof CALLS)[number];

// Not in fs.constants; the same value on x86-64 and arm64.
const O_CLOEXEC = 0o2000000;

export const metricsDir = (stateDir: string) => `${stateDir.replace(/\/+$/, '')}/${METRICS_DIR}`;

let perCall = false;

/** In the resident agent a call starts when the agent takes it, not when its process started. */
export function measureFromCallStart(): void {
  perCall = true;
}

/** When the call began, on performance.now()'s clock (which starts with the process). */
export function callStart(): number {
  return perCall ? performance.now() : 0;
}

/** How a call ended: undefined when it succeeded, else what it threw. */
export type Failure = { error: unknown } | undefined;

/** `call <name> ok|failed <kind|-> <seconds> <unix time>` */
export function callLine(call: CallName, seconds: number, failed?: Failure, now = Date.now()): string {
  const kind = !failed ? '-' : failed.error instanceof PodvlanError ? failed.error.kind : 'internal';
  const result = failed ? 'failed' : 'ok';
  return `call ${call} ${result} ${kind} ${seconds.toFixed(4)} ${Math.floor(now / 1000)}\n`;
}

/** `gc <unix time> <kind>=<n>...`: what one gc run reclaimed (kinds with a count of 0 may be left out). */
export function gcLine(reclaimed: Record<string, number>, now = Date.now()): string {
  const counts = Object.entries(reclaimed).map(([k, n]) => ` ${k}=${n}`);
  return `gc ${Math.floor(now / 1000)}${counts.join('')}\n`;
}

/** Record one call that started at `started` (callStart()) and ended now. */
export function recordCall(stateDir: string, call: CallName, started: number, failed?: Failure): string | undefined {
  return appendCallLog(stateDir, callLine(call, (performance.now() - started) / 1000, failed));
}

/** Append one line (under PIPE_BUF: one write, never interleaved); why it could not be, else undefined. */
export function appendCallLog(stateDir: string, line: string, rotateAt = ROTATE_BYTES): string | undefined {
  const fs = nodeFs();
  const dir = metricsDir(stateDir);
  const path = `${dir}/${CALL_LOG}`;
  let fd: number;
  try {
    fd = openLog(path);
  } catch (err) {
    return `${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
  }
  try {
    const st = fs.fstatSync(fd);
    // The directory is root's alone (state-dir.ts); a non-file here was put by root: leave it be.
    if (!st.isFile() || st.uid !== process.geteuid?.()) return `${path} is not a regular file of root's: remove it`;
    fs.writeSync(fd, line);
    if (st.size + line.length >= rotateAt) rotate(stateDir, path, st.ino);
    return undefined;
  } catch (err) {
    return `${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
  } finally {
    fs.closeSync(fd);
  }
}

function openLog(path: string): number {
  const fs = nodeFs();
  const { O_WRONLY, O_APPEND, O_CREAT, O_NOFOLLOW, O_NONBLOCK } = fs.constants;
  const flags = O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;
  try {
    return fs.openSync(path, flags, 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    // The first call on this node: the state directory exists (checked), its metrics/ not yet.
    // Calls start many at once on a fresh node: another may make it first.
    try {
      fs.mkdirSync(path.slice(0, path.lastIndexOf('/')), { mode: 0o700 });
    } catch (mkdirErr) {
      if ((mkdirErr as NodeJS.ErrnoException).code !== 'EEXIST') throw mkdirErr;
    }
    return fs.openSync(path, flags, 0o600);
  }
}

/** Set the full file aside under its inode's name, unless another writer did; keep MAX_ROTATED. */
function rotate(stateDir: string, path: string, ino: number): void {
  const fs = nodeFs();
  const dir = path.slice(0, path.lastIndexOf('/'));
  try {
    // EEXIST: another writer rotated this very file first. Until one of us links, `path` still
    // names `ino` (only a rotation of it unlinks it), so the unlink below removes the full file.
    fs.linkSync(path, `${dir}/calls-${ino}.log`);
  } catch {
    return;
  }
  try {
    fs.unlinkSync(path);
  } catch {
    /* gone already */
  }
  let dropped = 0;
  try {
    dropped = pruneRotated(dir);
  } catch {
    /* raced with metrics or another pruning call: the next rotation prunes */
  }
  if (dropped > 0) appendCallLog(stateDir, `dropped ${dropped} ${Math.floor(Date.now() / 1000)}\n`);
}

/** Delete the oldest rotated files beyond MAX_ROTATED (metrics was not run to fold them); how many. */
function pruneRotated(dir: string): number {
  const fs = nodeFs();
  const aged = fs
    .readdirSync(dir)
    .filter((name) => ROTATED_LOG.test(name))
    .map((name) => ({ name, mtime: fs.lstatSync(`${dir}/${name}`).mtimeMs }))
    .sort((a, b) => a.mtime - b.mtime);
  const old = aged.slice(0, Math.max(0, aged.length - MAX_ROTATED));
  for (const { name } of old) fs.unlinkSync(`${dir}/${name}`);
  return old.length;
}
