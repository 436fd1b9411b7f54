// Reading a small regular file (config, pod record) safely and fast. Safely: never a FIFO, a
// device or a huge file into memory. Fast: `status` runs for every pod, often, and under bun
// loading node:fs costs about 1.3 ms, a third of the executable's whole start-up; Bun.mmap is
// native and synchronous. Whatever mmap cannot answer plainly (not bun, an empty file, not a
// regular file) takes the node:fs path, which gives the exact reason.
//
// A mapped file truncated while it is copied raises SIGBUS. The copy takes microseconds, and pod
// records are only ever replaced by rename; a config edited in place at that very moment can
// fail one status call, which the kubelet repeats.
import { nodeFs } from '../builtins';

export class SmallFileError extends Error {
  constructor(readonly path: string, readonly reason: 'missing' | 'not a regular file' | 'too large' | string) {
    super(`${path}: ${reason}`);
  }
}

type Mapper = { mmap(path: string): Uint8Array };
const mapper = (globalThis as { Bun?: Mapper }).Bun;
const utf8 = new TextDecoder();

/** The file's text, null if it does not exist, undefined if mmap cannot tell. */
function mapText(path: string, maxBytes: number): string | null | undefined {
  if (!mapper) return undefined;
  try {
    const bytes = mapper.mmap(path);
    return bytes.byteLength <= maxBytes ? utf8.decode(bytes) : undefined;
  } catch (err) {
    return (err as { code?: string }).code === 'ENOENT' ? null : undefined;
  }
}

/** The text of a regular file of at most maxBytes; a SmallFileError otherwise. */
export function readSmallFile(path: string, maxBytes: number): string {
  const quick = mapText(path, maxBytes);
  if (typeof quick === 'string') return quick;
  if (quick === null) throw new SmallFileError(path, 'missing');
  const fs = nodeFs();
  let fd: number | undefined;
  try {
    // O_NONBLOCK: opening a FIFO must not wait for a writer.
    fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new SmallFileError(path, 'not a regular file');
    if (st.size > maxBytes) throw new SmallFileError(path, 'too large');
    return fs.readFileSync(fd, 'utf8');
  } catch (err) {
    if (err instanceof SmallFileError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new SmallFileError(path, code === 'ENOENT' ? 'missing' : code ?? (err as Error).message);
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** Whether something exists at path (mmap answers for the usual cases without node:fs). */
export function pathExists(path: string): boolean {
  const quick = mapText(path, 0);
  return quick === undefined ? nodeFs().existsSync(path) : quick !== null;
}
