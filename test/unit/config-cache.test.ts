import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfigCached } from '../../src/config/cached';
import { ConfigError } from '../../src/errors';

describe('loadConfigCached', () => {
  let dir: string;
  let path: string;
  const body = (vlan: number) =>
    `stateDir: ${dir}/state\nnetworks:\n  - name: n\n    bridge: br\n    vlan: { id: ${vlan} }\n`;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'podvlan-cache-'));
    path = join(dir, 'podvlan.yaml');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('validates once, then serves the same text from the cache', async () => {
    writeFileSync(path, body(22));
    const first = await loadConfigCached(path);
    const cacheFile = join(dir, 'state', '.config-cache.json');
    expect(existsSync(cacheFile)).toBe(true);
    // Poison the cached config: if the cache is used, the poisoned value comes back.
    const cache = JSON.parse(readFileSync(cacheFile, 'utf8'));
    cache.config.networks[0].vlan.id = 99;
    writeFileSync(cacheFile, JSON.stringify(cache));
    expect(first.config.networks[0].vlan).toEqual({ id: 22 });
    expect((await loadConfigCached(path)).config.networks[0].vlan).toEqual({ id: 99 });
  });

  it('validates an edited config afresh, and refuses it when invalid', async () => {
    writeFileSync(path, body(22));
    await loadConfigCached(path);
    writeFileSync(path, body(33));
    expect((await loadConfigCached(path)).config.networks[0].vlan).toEqual({ id: 33 });
    writeFileSync(path, body(5000));
    await expect(loadConfigCached(path)).rejects.toThrow(ConfigError);
  });

  it('does not serve one path the cache of another with the same stateDir', async () => {
    writeFileSync(path, body(22));
    await loadConfigCached(path);
    const other = join(dir, 'other.yaml');
    writeFileSync(other, body(22).replace('vlan: { id: 22 }', 'vlan: { id: 5000 }'));
    await expect(loadConfigCached(other)).rejects.toThrow(/networks\.0\.vlan/);
  });
});
