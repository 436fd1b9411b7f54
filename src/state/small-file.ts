// Reading a small regular file (config, pod record) safely, and fast where it counts. Safely:
// never a FIFO, a device or a huge file into memory, and the operator's files read-only. Fast:
// `status` runs for every pod, often, and under bun loading node:fs costs about 1.3 ms, a third
// of the executable's whole start-up. So the status path uses the Quick variants: the config
// through Bun.file (native; a stat, then a read-only, non-blocking read), the pod record through
// Bun.mmap (see readOwnFileQuick); both fall back to the node:fs reader, which gives the exact
// reason, for anything unusual.
import { nodeFs } from '../builtins';

export class SmallFileError extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path}: ${reason}`);
  }
}

/** The text of a regular file of at most maxBytes; a SmallFileError ('missing', 'not a regular file',
 * 'too large', 'a symbolic link' or an errno code) otherwise. noFollow: podvlan's own files are
 * never links (the operator's config may well be one). */
export function readSmallFile(path: string, maxBytes: number, opts: { noFollow?: boolean } = {}): string {
  const fs = nodeFs();
  let fd: number | undefined;
  try {
    // O_NONBLOCK: opening a FIFO must not wait for a writer.
    const { O_RDONLY, O_NONBLOCK, O_NOFOLLOW } = fs.constants;
    fd = fs.openSync(path, O_RDONLY | O_NONBLOCK | (opts.noFollow ? O_NOFOLLOW : 0));
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new SmallFileError(path, 'not a regular file');
    if (st.size > maxBytes) throw new SmallFileError(path, 'too large');
    return fs.readFileSync(fd, 'utf8');
  } catch (err) {
    if (err instanceof SmallFileError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'missing' : code === 'ELOOP' && opts.noFollow ? 'a symbolic link' : code;
    throw new SmallFileError(path, reason ?? (err as Error).message);
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** Something exists at path. */
export function pathExists(path: string): boolean {
  return nodeFs().existsSync(path);
}

interface BunFile {
  size: number;
  lastModified: number;
  text(): Promise<string>;
}
const bunFile = (globalThis as { Bun?: { file(path: string): BunFile } }).Bun?.file;

/** readSmallFile, without loading node:fs in the usual cases under bun. */
export async function readSmallFileQuick(path: string, maxBytes: number): Promise<string> {
  // The size of a regular file, Infinity for FIFOs and devices; undefined when stat fails.
  const size = statQuick(path)?.size;
  if (size === 0) return '';
  if (size !== undefined && Number.isFinite(size) && size <= maxBytes) {
    try {
      return await bunFile!(path).text();
    } catch {
      /* a directory, or it changed: node:fs says exactly what */
    }
  }
  return readSmallFile(path, maxBytes);
}

type Mapper = (path: string) => Uint8Array;
const mmap = (globalThis as { Bun?: { mmap: Mapper } }).Bun?.mmap;
const utf8 = new TextDecoder();

/**
 * readSmallFile for a file podvlan alone writes, and only ever replaces by rename (the pod
 * record): synchronous through Bun.mmap, which costs no worker thread; a second async read in
 * `status` measured +0.5-1 ms on a busy node. Bun.mmap opens read-write, which is harmless for
 * such a file and why the operator's config is never read this way; and as the file is never
 * truncated in place, the mapping cannot fault. Anything mmap refuses (empty, not a regular
 * file, a read-only mount) takes the node:fs path, which does not follow a link. (Bun.mmap cannot
 * be told not to follow one; the directories such files live in are root's alone, see
 * state/state-dir.ts, so only root could have put one there.)
 */
export function readOwnFileQuick(path: string, maxBytes: number): string {
  if (mmap) {
    try {
      const bytes = mmap(path);
      if (bytes.byteLength <= maxBytes) return utf8.decode(bytes);
    } catch (err) {
      if ((err as { code?: string }).code === 'ENOENT') throw new SmallFileError(path, 'missing');
    }
  }
  return readSmallFile(path, maxBytes, { noFollow: true });
}

// Bun.file's lastModified for a path where stat fails (bun 1.4).
const NO_SUCH_FILE = 2 ** 52 - 1;

/** Size and modification time (ms) from one synchronous stat, undefined if it fails or not under bun. */
export function statQuick(path: string): { size: number; mtimeMs: number } | undefined {
  if (!bunFile) return undefined;
  const file = bunFile(path);
  const mtimeMs = file.lastModified;
  return mtimeMs > 0 && mtimeMs < NO_SUCH_FILE ? { size: file.size, mtimeMs } : undefined;
}

/** pathExists, without loading node:fs (or a worker thread) under bun. */
export function pathExistsQuick(path: string): boolean {
  return bunFile ? statQuick(path) !== undefined : pathExists(path);
}
