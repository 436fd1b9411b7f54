// The /run/podvlan hints stay bounded: gone configs and dead writers' temp files leave no hint,
// and at most MAX_HINTS stay, the oldest written going first.
import { mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_HINTS, pruneHints } from '../../src/config/state-dir-hint';

let dir = '';
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function hint(name: string, configPath: string, ageS: number): string {
  const file = join(dir, `state-dir-${name}.json`);
  writeFileSync(file, JSON.stringify({ path: configPath, size: 1, mtimeMs: 1, stateDir: '/s' }));
  const t = Date.now() / 1000 - ageS;
  utimesSync(file, t, t);
  return file;
}

describe('pruneHints', () => {
  it('removes hints of configs that are gone, garbage, and old temp files; keeps the rest and the new one', () => {
    dir = mkdtempSync(join(tmpdir(), 'pv-hints-'));
    const config = join(dir, 'podvlan.yaml');
    writeFileSync(config, 'networks: []\n');
    const mine = hint('mine', join(dir, 'missing-too.yaml'), 0); // the one just written stays whatever it says
    hint('live', config, 10);
    for (let i = 0; i < 25; i++) hint(`gone${i}`, join(dir, `gone-${i}.yaml`), 10);
    writeFileSync(join(dir, 'state-dir-garbage.json'), '{"path": ');
    writeFileSync(join(dir, 'state-dir-x.json.tmp-1'), '');
    utimesSync(join(dir, 'state-dir-x.json.tmp-1'), 1, 1);
    writeFileSync(join(dir, 'state-dir-y.json.tmp-2'), ''); // a writer at work
    writeFileSync(join(dir, 'other-file'), '');
    pruneHints(dir, mine);
    expect(readdirSync(dir).sort()).toEqual([
      'other-file',
      'podvlan.yaml',
      'state-dir-live.json',
      'state-dir-mine.json',
      'state-dir-y.json.tmp-2',
    ]);
  });

  it(`keeps at most ${MAX_HINTS}, removing the oldest written first`, () => {
    dir = mkdtempSync(join(tmpdir(), 'pv-hints-'));
    const config = join(dir, 'podvlan.yaml');
    writeFileSync(config, 'networks: []\n');
    const mine = hint('mine', config, 1000); // old, but just written by this call: stays
    for (let i = 0; i < MAX_HINTS + 8; i++) hint(`h${String(i).padStart(2, '0')}`, config, i); // h00 newest
    pruneHints(dir, mine);
    const left = readdirSync(dir)
      .filter((n) => n.startsWith('state-dir-h'))
      .sort();
    expect(left).toHaveLength(MAX_HINTS - 1);
    expect(left.at(-1)).toBe(`state-dir-h${String(MAX_HINTS - 2).padStart(2, '0')}.json`);
    expect(readdirSync(dir)).toContain('state-dir-mine.json');
  });
});
