// The node:fs paths of small-file.ts (vitest runs on node; the Bun.file path of the quick
// variants is driven through the executable in test/e2e/status-files.test.ts).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  pathExists,
  pathExistsQuick,
  readSmallFile,
  readSmallFileQuick,
  SmallFileError,
} from '../../src/state/small-file';

const dir = mkdtempSync(join(tmpdir(), 'pv-small-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function reason(path: string, max = 100): string {
  try {
    readSmallFile(path, max);
  } catch (err) {
    expect(err).toBeInstanceOf(SmallFileError);
    return (err as SmallFileError).reason;
  }
  throw new Error(`${path} was read`);
}

describe('readSmallFile', () => {
  it('reads a regular file, empty or not', () => {
    writeFileSync(join(dir, 'a'), 'stateDir: /x\n');
    writeFileSync(join(dir, 'empty'), '');
    expect(readSmallFile(join(dir, 'a'), 100)).toBe('stateDir: /x\n');
    expect(readSmallFile(join(dir, 'empty'), 100)).toBe('');
  });
  it('refuses what is not a small regular file, without blocking on a FIFO', () => {
    execFileSync('mkfifo', [join(dir, 'fifo')]);
    writeFileSync(join(dir, 'big'), 'x'.repeat(101));
    expect(reason(join(dir, 'fifo'))).toBe('not a regular file');
    expect(reason('/dev/zero')).toBe('not a regular file');
    expect(reason(dir)).toBe('not a regular file');
    expect(reason(join(dir, 'big'))).toBe('too large');
    expect(reason(join(dir, 'missing'))).toBe('missing');
  });
  it('tells whether something exists at a path', () => {
    expect(pathExists(join(dir, 'a'))).toBe(true);
    expect(pathExists(dir)).toBe(true);
    expect(pathExists(join(dir, 'missing'))).toBe(false);
    expect(pathExistsQuick(join(dir, 'a'))).toBe(true);
  });
  it('has async variants that give the same answers', async () => {
    expect(await readSmallFileQuick(join(dir, 'a'), 100)).toBe('stateDir: /x\n');
    await expect(readSmallFileQuick('/dev/zero', 100)).rejects.toMatchObject({ reason: 'not a regular file' });
  });
});
