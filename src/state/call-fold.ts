// `podvlan metrics`'s side of the call log (call-log.ts): fold what the calls appended since the
// last run into <stateDir>/metrics/summary.json, under a lock (two metrics runs must not count a
// line twice), and return the totals.
//
// How far each file was folded is kept by inode, with the file's first line: a file renamed aside
// by a rotation keeps its inode and is read on from where the last run stopped; a new file that
// happens to get a deleted file's inode has another first line and is read from its start. The
// summary is written (by rename) before the rotated files it finished are deleted, so a run that
// dies in between counts nothing twice.
import { nodeFs } from '../builtins';
import { ConfigError, UnavailableError } from '../errors';
import { CALL_LOG, metricsDir, ROTATED_LOG } from './call-log';
import { type CallSummary, emptySummary, foldBytes, parseSummary } from './call-summary';
import { tryLockFile } from './lock';
import { writeFreshFile } from './own-file';

export const SUMMARY = 'summary.json';
const LOCK = 'fold.lock';
const MAX_SUMMARY_BYTES = 1 << 20;
const MAX_READ_BYTES = 16 << 20; // per file and run; the rest waits for the next run
const SETTLED_MS = 2000; // a rotated file untouched this long has no writer left
const HEAD_BYTES = 128; // a line is ~50 bytes

/** Fold the call log into the summary and return it (an empty one before any call was recorded). */
export async function foldCallLog(stateDir: string, timeoutMs: number, now = Date.now()): Promise<CallSummary> {
  const fs = nodeFs();
  const dir = metricsDir(stateDir);
  if (!fs.existsSync(dir)) return emptySummary();
  const lock = await lockWaiting(`${dir}/${LOCK}`, timeoutMs);
  try {
    const summary = readSummary(`${dir}/${SUMMARY}`);
    const before = summary.logs;
    summary.logs = {};
    const names = fs.readdirSync(dir).filter((n) => ROTATED_LOG.test(n));
    const finished: string[] = [];
    for (const name of [...names, CALL_LOG]) {
      const r = foldFile(summary, before, `${dir}/${name}`, name !== CALL_LOG, now);
      if (!r) continue;
      summary.logs[r.ino] = { offset: r.offset, head: r.head };
      if (r.finished) finished.push(name);
    }
    // A file rotated after the directory was listed is read next time, from where it was left.
    for (const [ino, at] of Object.entries(before)) {
      if (!summary.logs[ino] && fs.existsSync(`${dir}/calls-${ino}.log`)) summary.logs[ino] = at;
    }
    writeSummary(`${dir}/${SUMMARY}`, summary);
    for (const name of finished) fs.rmSync(`${dir}/${name}`, { force: true });
    return summary;
  } finally {
    lock.release();
  }
}

interface Folded {
  ino: string;
  offset: number;
  head: string;
  finished: boolean; // a rotated file read to its end that no writer touches any more
}

function foldFile(
  summary: CallSummary,
  before: CallSummary['logs'],
  path: string,
  rotated: boolean,
  now: number,
): Folded | undefined {
  const fs = nodeFs();
  let fd: number;
  try {
    fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined; // rotated or folded meanwhile
    throw notOurs(path, (err as NodeJS.ErrnoException).code ?? (err as Error).message);
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile() || st.uid !== process.geteuid?.()) throw notOurs(path, 'not a regular file of root');
    const ino = String(st.ino);
    const headBytes = readAt(fd, 0, Math.min(st.size, HEAD_BYTES));
    const newline = headBytes.indexOf(0x0a);
    const head = newline < 0 ? '' : Buffer.from(headBytes.subarray(0, newline)).toString('latin1');
    const prev = before[ino];
    const start = prev && prev.head === head && prev.offset <= st.size ? prev.offset : 0;
    const length = Math.min(st.size - start, MAX_READ_BYTES);
    const settled = rotated && now - st.mtimeMs > SETTLED_MS && start + length === st.size;
    const offset = start + foldBytes(summary, readAt(fd, start, length), settled);
    return { ino, offset, head, finished: settled && offset === st.size };
  } finally {
    fs.closeSync(fd);
  }
}

function readAt(fd: number, position: number, length: number): Uint8Array {
  const buf = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const n = nodeFs().readSync(fd, buf, got, length - got, position + got);
    if (n === 0) break;
    got += n;
  }
  return buf.subarray(0, got);
}

function notOurs(path: string, why: string): ConfigError {
  return new ConfigError(`call log ${path}: ${why}: remove it (podvlan starts a new one)`);
}

/** The summary as the last run left it; an empty one if there is none. */
function readSummary(path: string): CallSummary {
  const fs = nodeFs();
  const fix = `remove it (the counters then start again from zero)`;
  let fd: number;
  try {
    fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return emptySummary();
    throw new ConfigError(`metrics summary ${path}: ${code ?? (err as Error).message}: ${fix}`);
  }
  try {
    const st = fs.fstatSync(fd);
    const ours = st.isFile() && st.uid === process.geteuid?.() && (st.mode & 0o777) === 0o600 && st.nlink === 1;
    const summary = ours && st.size <= MAX_SUMMARY_BYTES ? parseSummary(fs.readFileSync(fd, 'latin1')) : undefined;
    if (!summary) throw new ConfigError(`metrics summary ${path} is not one podvlan wrote: ${fix}`);
    return summary;
  } finally {
    fs.closeSync(fd);
  }
}

function writeSummary(path: string, summary: CallSummary): void {
  const fs = nodeFs();
  const temp = `${path}.tmp-${process.pid}`;
  try {
    writeFreshFile(temp, JSON.stringify(summary));
    fs.renameSync(temp, path);
  } catch (err) {
    fs.rmSync(temp, { force: true });
    const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new UnavailableError(`cannot write metrics summary ${path}: ${why}`);
  }
}

async function lockWaiting(path: string, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
    const lock = await tryLockFile(path);
    if (lock) return lock;
    if (Date.now() + delay > deadline)
      throw new UnavailableError(`another podvlan metrics still runs after ${timeoutMs} ms (lock ${path})`);
    await new Promise((r) => setTimeout(r, delay));
  }
}
