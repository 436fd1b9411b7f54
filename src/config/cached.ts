// The validated config, cached as JSON beside the node's state. Parsing YAML and building the
// zod schema cost ~26 ms of start-up (measured in the compiled executable), paid on every
// kubelet call; the cache is used only when it was made by this version from the very same
// text, so an edited config is always validated afresh.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pkg from '../../package.json';
import { findConfigPath, quickStateDir, readConfigText } from './locate';
import type { Config } from './schema';

interface CacheFile { version: string; path: string; text: string; config: Config }

const CACHE_NAME = '.config-cache.json';

export async function loadConfigCached(explicit?: string): Promise<{ path: string; config: Config }> {
  const path = findConfigPath(explicit);
  const text = readConfigText(path);
  const stateDir = quickStateDir(text);
  const cacheFile = stateDir ? join(stateDir, CACHE_NAME) : undefined;
  if (cacheFile) {
    try {
      const cache = JSON.parse(readFileSync(cacheFile, 'utf8')) as CacheFile;
      if (cache.version === pkg.version && cache.path === path && cache.text === text) return { path, config: cache.config };
    } catch { /* no cache yet, or unreadable: validate afresh */ }
  }
  const { parseConfig } = await import('./load');
  const config = parseConfig(text, path);
  if (cacheFile && config.stateDir === stateDir) writeCache(cacheFile, { version: pkg.version, path, text, config });
  return { path, config };
}

function writeCache(file: string, cache: CacheFile): void {
  const temp = `${file}.tmp-${process.pid}`;
  try {
    mkdirSync(join(file, '..'), { recursive: true, mode: 0o700 });
    writeFileSync(temp, JSON.stringify(cache), { mode: 0o600 });
    renameSync(temp, file);
  } catch {
    // A cache we cannot write only costs time.
  }
}
