// The calls' log and its folding: lines as the calls write them, a line still being written,
// rotation at a size, pruning when metrics never runs, and a summary that counts nothing twice.
import {
  appendFileSync,
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ConfigError, ExhaustedError } from '../../src/errors';
import { appendCallLog, CALL_LOG, callLine, gcLine, MAX_ROTATED, metricsDir } from '../../src/state/call-log';
import { foldCallLog, SUMMARY } from '../../src/state/call-fold';
import { bucketOf, emptySummary, foldLine, reclaimedBy } from '../../src/state/call-summary';

const LATER = () => Date.now() + 60_000; // every rotated file looks settled

describe('call lines', () => {
  it('says call, result, error kind, seconds and time in a fixed form', () => {
    expect(callLine('setup', 0.01834, undefined, 1_700_000_000_999)).toBe('call setup ok - 0.0183 1700000000\n');
    const failed = { error: new ExhaustedError('pool full') };
    expect(callLine('ADD', 0.5, failed, 0)).toBe('call ADD failed exhausted 0.5000 0\n');
    expect(callLine('DEL', 1, { error: new Error('boom') }, 0)).toBe('call DEL failed internal 1.0000 0\n');
    expect(gcLine({ port: 1, veth: 2 }, 5000)).toBe('gc 5 port=1 veth=2\n');
  });

  it('counts gc actions by what they reclaim', () => {
    const r = reclaimedBy([{ action: 'remove-port' }, { action: 'remove-lease' }, { action: 'release-address' }]);
    expect(r).toEqual({ address: 2, port: 1, record: 0, temp_file: 0, veth: 0, vlan: 0 });
    expect(reclaimedBy([{ action: 'rewrite-record' }]).record).toBe(0);
  });

  it('folds lines into counters and buckets, and counts any other line as invalid without using it', () => {
    const s = emptySummary();
    expect(foldLine(s, 'call setup ok - 0.0183 1')).toBe(true);
    expect(foldLine(s, 'call setup failed invalid-input 0.0040 1')).toBe(true);
    expect(foldLine(s, 'gc 1 port=2 vlan=1')).toBe(true);
    expect(foldLine(s, 'dropped 2 1')).toBe(true);
    for (const bad of [
      'call setup failed "} 1 0.1 1', // no made-up label values
      'call status ok - 0.1 1', // status is never recorded
      'call setup ok kind 0.1 1', // an ok call has no kind
      'call setup ok - -1 1',
      'gc 1 rm=1',
      'gc 1 port=1=2',
      '',
    ])
      expect(foldLine(s, bad)).toBe(false);
    expect(s.calls.setup).toEqual({
      ok: 1,
      failed: 1,
      kinds: { 'invalid-input': 1 },
      buckets: { '0.005': 1, '0.025': 1 },
      sumMicros: 22300,
    });
    expect(s.gc).toEqual({ runs: 1, reclaimed: { port: 2, vlan: 1 } });
    expect([s.dropped, s.invalid]).toEqual([2, 7]);
    expect([bucketOf(0.005), bucketOf(0.0051), bucketOf(10), bucketOf(10.1)]).toEqual(['0.005', '0.01', '10', '+Inf']);
  });
});

describe('the call log on disk', () => {
  let stateDir: string;
  let dir: string;
  beforeEach(() => {
    stateDir = mkdtempSync(join(tmpdir(), 'podvlan-calls-'));
    dir = metricsDir(stateDir);
  });
  afterEach(() => rmSync(stateDir, { recursive: true, force: true }));
  const append = (line: string, rotateAt?: number) => expect(appendCallLog(stateDir, line, rotateAt)).toBeUndefined();

  it('is made 0600 in a 0700 metrics directory on the first call', () => {
    append(callLine('setup', 0.02));
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, CALL_LOG)).mode & 0o777).toBe(0o600);
  });

  it('keeps the line of a first call that another first call beat to making metrics/', () => {
    // As the other call does between our failed open and our mkdir: make the directory first.
    const fs = (process as unknown as { getBuiltinModule(id: string): typeof import('node:fs') }).getBuiltinModule(
      'node:fs',
    );
    const real = fs.mkdirSync;
    const spy = vi.spyOn(fs, 'mkdirSync').mockImplementation(((path: string, opts: object) => {
      real(path, opts);
      return real(path, opts); // EEXIST, as when the other call won
    }) as typeof fs.mkdirSync);
    try {
      append(callLine('setup', 0.02));
    } finally {
      spy.mockRestore();
    }
    expect(readFileSync(join(dir, CALL_LOG), 'utf8')).toMatch(/^call setup ok /);
  });

  it('is never written through a symbolic link', () => {
    mkdirSync(dir, { mode: 0o700 });
    const target = join(stateDir, 'elsewhere');
    writeFileSync(target, '');
    symlinkSync(target, join(dir, CALL_LOG));
    expect(appendCallLog(stateDir, callLine('setup', 0.02))).toMatch(/ELOOP/);
    expect(readFileSync(target, 'utf8')).toBe('');
  });

  it('leaves a line still being written for the next run, and folds it then', async () => {
    append(callLine('setup', 0.02));
    appendFileSync(join(dir, CALL_LOG), 'call teardown ok - 0.03'); // a write under way
    let s = await foldCallLog(stateDir, 1000);
    expect([s.calls.setup.ok, s.calls.teardown.ok, s.invalid]).toEqual([1, 0, 0]);
    appendFileSync(join(dir, CALL_LOG), '00 1700000000\n');
    s = await foldCallLog(stateDir, 1000);
    expect([s.calls.setup.ok, s.calls.teardown.ok, s.invalid]).toEqual([1, 1, 0]);
    s = await foldCallLog(stateDir, 1000); // nothing new: nothing counted twice
    expect([s.calls.setup.ok, s.calls.teardown.ok]).toEqual([1, 1]);
    // No temp file left (fold.lock is made only under bun: Node's lock is in-process).
    expect(
      readdirSync(dir)
        .filter((n) => n !== 'fold.lock')
        .sort(),
    ).toEqual([CALL_LOG, SUMMARY]);
  });

  it('rotates at a size, and the fold reads the rotated file on from where it stopped, then deletes it', async () => {
    const line = callLine('setup', 0.02); // 34 bytes
    append(line, 100);
    const first = statSync(join(dir, CALL_LOG)).ino;
    expect((await foldCallLog(stateDir, 1000)).calls.setup.ok).toBe(1);
    append(line, 100);
    append(line, 100); // 102 bytes: set aside
    expect(readdirSync(dir)).toContain(`calls-${first}.log`);
    expect(existsSync(join(dir, CALL_LOG))).toBe(false);
    append(line, 100); // a new calls.log
    let s = await foldCallLog(stateDir, 1000);
    expect(s.calls.setup.ok).toBe(4);
    expect(readdirSync(dir)).toContain(`calls-${first}.log`); // just written: a writer may still hold it
    s = await foldCallLog(stateDir, 1000, LATER());
    expect(s.calls.setup.ok).toBe(4);
    expect(readdirSync(dir).filter((n) => n.startsWith('calls-'))).toEqual([]);
  });

  it(`keeps ${MAX_ROTATED} rotated files when metrics never runs, and counts the ones it dropped`, async () => {
    const line = callLine('teardown', 0.03);
    for (let i = 0; i < 5 * 3; i++) {
      append(line, 3 * line.length); // every third line rotates
      for (const name of readdirSync(dir).filter((n) => n.startsWith('calls-'))) {
        const age = statSync(join(dir, name)).mtimeMs / 1000;
        utimesSync(join(dir, name), age, age - 1); // older than any new one
      }
    }
    const rotated = readdirSync(dir).filter((n) => n.startsWith('calls-'));
    expect(rotated).toHaveLength(MAX_ROTATED);
    const s = await foldCallLog(stateDir, 1000, LATER());
    expect(s.dropped).toBe(2);
    expect(s.calls.teardown.ok).toBe(MAX_ROTATED * 3);
  });

  it('reads a file from its start when its first line is not the one folded (a reused inode)', async () => {
    append(callLine('DEL', 0.03));
    await foldCallLog(stateDir, 1000);
    writeFileSync(join(dir, CALL_LOG), callLine('ADD', 0.02) + callLine('ADD', 0.02)); // same inode, new text
    const s = await foldCallLog(stateDir, 1000);
    expect([s.calls.DEL.ok, s.calls.ADD.ok]).toEqual([1, 2]);
  });

  it('refuses a summary it did not write, saying what to do', async () => {
    append(callLine('setup', 0.02));
    await foldCallLog(stateDir, 1000);
    chmodSync(join(dir, SUMMARY), 0o644);
    await expect(foldCallLog(stateDir, 1000)).rejects.toThrow(ConfigError);
    chmodSync(join(dir, SUMMARY), 0o600);
    writeFileSync(join(dir, SUMMARY), '{"format":1,"calls":{"setup":{"ok":"1"}}}');
    await expect(foldCallLog(stateDir, 1000)).rejects.toThrow(/is not one podvlan wrote: remove it/);
  });

  it('answers an empty summary before any call was recorded, and makes nothing', async () => {
    expect(await foldCallLog(stateDir, 1000)).toEqual(emptySummary());
    expect(existsSync(dir)).toBe(false);
  });
});
