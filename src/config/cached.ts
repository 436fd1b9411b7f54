// The validated config, cached as JSON beside the node's state. Parsing YAML and building the
// zod schema cost ~26 ms of start-up (measured in the compiled executable), paid on every
// kubelet call. The cache must never change what the config says, so it is used only when:
// - the state directory passed its check (state/state-dir.ts: root's alone, no links), which is
//   done here, before anything in it is read, for every command that loads the config;
// - the cache file is a regular file of root's, 0600, with one link, opened without following a link;
// - it was made by this very executable (version and the executable file's identity: a rebuild
//   with the same version number may parse differently), from the very same config file (path,
//   device, inode, size, mtime and ctime: ctime cannot be set back, not even by root) and the very
//   same text, and it names the state directory it is in.
// Anything else is ignored (and replaced): an edited, replaced or forged config is validated afresh.
import pkg from '../../package.json';
import { fileIdentity, readRootOnlyJson, writeCacheFile } from '../state/cache-file';
import { CONFIG_CACHE_NAME, checkStateDir } from '../state/state-dir';
import { findConfigPath, quickStateDir, readConfigText } from './locate';
import type { Config } from './schema';
import { removeStateDirHint } from './state-dir-hint';

const FORMAT = 2;

interface CacheKey {
  format: number;
  version: string;
  executable?: string;
  path: string;
  file?: string;
}
interface CacheFile extends CacheKey {
  text: string;
  config: Config;
}

export interface LoadOptions {
  createStateDir: boolean; // false (status): a missing state directory is left missing, and no cache is written
  networks?: 'required' | 'optional'; // optional: init and the views, which also read a CNI node's conflists (loadNodeContext)
}

export async function loadConfigCached(
  explicit?: string,
  opts: LoadOptions = { createStateDir: true },
): Promise<{ path: string; config: Config }> {
  const path = findConfigPath(explicit);
  const file = fileIdentity(path); // before the text: a change in between makes the next call miss, never hit
  const text = readConfigText(path);
  let stateDir = quickStateDir(text);
  let present = stateDir ? trustStateDir(path, stateDir, opts.createStateDir) : false;
  const cacheFile = stateDir ? `${stateDir.replace(/\/+$/, '')}/${CONFIG_CACHE_NAME}` : undefined;
  const key = { format: FORMAT, version: pkg.version, executable: fileIdentity(process.execPath), path, file };
  if (cacheFile && file && key.executable) {
    const cache = readRootOnlyJson<CacheFile>(cacheFile, 4 << 20);
    const hit = cache && sameKey(cache, key) && cache.text === text && cache.config?.stateDir === stateDir;
    if (hit) return { path, config: cache.config };
  }
  const { parseConfig } = await import('./load');
  const config = parseConfig(text, path, { networks: opts.networks });
  if (!stateDir) {
    stateDir = config.stateDir;
    present = trustStateDir(path, stateDir, opts.createStateDir);
  }
  // A config without networks is valid for init and the views only: never cached, so no other command reads it as valid.
  const cacheable = config.networks.length > 0;
  if (cacheable && present && cacheFile && file && key.executable && config.stateDir === stateDir) {
    writeCacheFile(cacheFile, { ...key, text, config }, true);
  }
  return { path, config };
}

/** The state directory check; on failure the status hint of this config goes too, so that status checks for itself. */
function trustStateDir(configPath: string, stateDir: string, create: boolean): boolean {
  try {
    return checkStateDir(stateDir, { create }) === 'ok';
  } catch (err) {
    removeStateDirHint(configPath);
    throw err;
  }
}

const sameKey = (cache: CacheFile, key: CacheKey) =>
  cache.format === key.format &&
  cache.version === key.version &&
  cache.executable === key.executable &&
  cache.path === key.path &&
  cache.file === key.file;
