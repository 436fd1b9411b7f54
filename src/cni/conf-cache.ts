// The validated CNI network config, cached in the state directory: loading zod and YAML and
// validating cost ~17 ms of every ADD/DEL (docs/cni.md, "Timings"), while a runtime sends the same
// config on every call but for a few per-call keys. Exec mode has the same cache for podvlan.yaml
// (config/cached.ts); this is its CNI form, and the hit path loads neither zod nor YAML.
//
// What the key holds: stdin parsed, minus the per-call keys (runtimeConfig, args, prevResult,
// cni.dev/*), written back as JSON; CNI_IFNAME (it becomes the network's interface); the
// nodeConfig file's identity (dev, ino, size, mtime, ctime; or its absence when none is named);
// podvlan's version and the executable file's identity. The whole config minus the per-call keys,
// not a list of the keys podvlan reads: a key podvlan starts reading can never be served stale.
// The per-call keys are not in the cached value either: they come from this call's stdin, every
// call, for the verb to read (`perCall`), so validating them is the verb's job, not parseNetConf's.
//
// A cache file is used only when its state directory passed checkStateDir (root's alone, no
// links), and it is a regular file of root's (the effective uid), mode 0600, one link, opened
// without following a link. Anything else is ignored and replaced.
import { readFileSync, statSync } from 'node:fs';
import pkg from '../../package.json';
import { DEFAULT_STATE_DIR, quickStateDir, SYSTEM_CONFIG } from '../config/locate';
import { fileIdentity, readRootOnlyJson, writeCacheFile } from '../state/cache-file';
import { checkStateDir } from '../state/state-dir';
import type { NetConf } from './netconf';
import { declaredRuntimeConfig } from './requests';

const FORMAT = 1;
export const CNI_CONF_CACHE_PREFIX = '.cni-conf-';
const MAX_CACHE_BYTES = 1 << 20;
const MAX_NODE_CONFIG_BYTES = 1 << 20;
const ABSOLUTE_PATH = /^\/[^\0]*$/;

/** Keys a runtime varies from call to call for one and the same network (SPEC.md, CONVENTIONS.md). */
export const isPerCallKey = (key: string) =>
  key === 'runtimeConfig' || key === 'args' || key === 'prevResult' || key.startsWith('cni.dev/');

/** A NetConf, plus this call's per-call keys of stdin as given (never from the cache). */
export interface LoadedNetConf extends NetConf {
  perCall: Record<string, unknown>;
}

interface CacheKey {
  format: number;
  version: string;
  executable: string;
  ifname: string;
  nodeConfig: string; // identity of the node config file, or 'absent'
  text: string; // stdin minus the per-call keys, as JSON
}
interface CacheFile extends CacheKey {
  conf: Omit<NetConf, 'prevResult' | 'runtimeConfig'>; // both are per call
}

/** parseNetConf's answer for this stdin and interface, from the cache when it holds this very config. */
export async function loadNetConf(text: string, ifname: string): Promise<LoadedNetConf> {
  const split = splitPerCall(text);
  const lookup = split && cacheLookup(split.rest, split.text, ifname);
  if (lookup?.stateDir) {
    const cached = readRootOnlyJson<CacheFile>(lookup.file, MAX_CACHE_BYTES);
    // The key fixes the state directory too: it is in the text, or in the node config it identifies.
    if (cached && sameKey(cached, lookup.key))
      return withPerCall(cached.conf, split!.perCall, split!.rest.capabilities);
  }
  const { parseNetConf } = await import('./netconf');
  const full = parseNetConf(text, ifname); // every check, the per-call keys' too: errors are this call's
  if (!split || !lookup) return { ...full, perCall: split?.perCall ?? {} };
  // What is cached is the config without its per-call keys, so no call's input lingers in it.
  let conf: NetConf;
  try {
    conf = Object.keys(split.perCall).length === 0 ? full : parseNetConf(split.text, ifname);
  } catch {
    return { ...full, perCall: split.perCall };
  }
  const stateDir = lookup.stateDir ?? conf.config.stateDir;
  if (conf.config.stateDir === stateDir && trusted(stateDir)) {
    const { prevResult: _prev, runtimeConfig: _runtime, ...kept } = conf;
    writeCacheFile(cacheFileIn(stateDir, lookup.name), { ...lookup.key, conf: kept });
  }
  return withPerCall(conf, split.perCall, split.rest.capabilities);
}

// runtimeConfig is per call: only this call's, filtered by the config's declared capabilities.
const withPerCall = (
  conf: Omit<NetConf, 'prevResult' | 'runtimeConfig'>,
  perCall: Record<string, unknown>,
  capabilities: unknown,
): LoadedNetConf => ({
  ...conf,
  prevResult: perCall.prevResult,
  runtimeConfig: declaredRuntimeConfig(perCall.runtimeConfig, capabilities),
  perCall,
});

/** stdin as an object split into its per-call keys and the rest (as JSON); undefined if not cacheable. */
function splitPerCall(
  text: string,
): { rest: Record<string, unknown>; text: string; perCall: Record<string, unknown> } | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return undefined; // parseNetConf says what is wrong
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return undefined;
  // No prototype: a "__proto__" key of stdin stays a key (in the cache key too), never a prototype
  // whose nodeConfig or stateDir this module would read while parseNetConf does not.
  const rest: Record<string, unknown> = Object.create(null);
  const perCall: Record<string, unknown> = Object.create(null);
  for (const [k, v] of Object.entries(raw)) (isPerCallKey(k) ? perCall : rest)[k] = v;
  let restText: string;
  try {
    // 1e999 parses to Infinity, which JSON writes as null: such a text is validated every time.
    restText = JSON.stringify(rest, (_k, v) => {
      if (typeof v === 'number' && !Number.isFinite(v)) throw new RangeError('not finite');
      return v;
    });
  } catch {
    return undefined;
  }
  return { rest, text: restText, perCall };
}

interface Lookup {
  key: CacheKey;
  name: string; // the cache file's name part: one file per network, interface and node config path
  stateDir?: string; // known before parsing, and trusted; else found by the parse
  file: string;
}

function cacheLookup(rest: Record<string, unknown>, restText: string, ifname: string): Lookup | undefined {
  const executable = fileIdentity(process.execPath);
  if (!executable) return undefined;
  if (rest.nodeConfig !== undefined && typeof rest.nodeConfig !== 'string') return undefined;
  const nodePath = rest.nodeConfig ?? SYSTEM_CONFIG;
  // The identity before any read of the file: a change in between makes the next call miss, never hit.
  const node = fileIdentity(nodePath) ?? (rest.nodeConfig === undefined ? 'absent' : undefined);
  if (!node) return undefined; // a named nodeConfig that is not there: parseNetConf says so
  const key = { format: FORMAT, version: pkg.version, executable, ifname, nodeConfig: node, text: restText };
  const name = nameHash(`${String(rest.name)}\0${ifname}\0${nodePath}`);
  const stateDir = knownStateDir(rest.stateDir, node === 'absent' ? undefined : nodePath);
  const usable = stateDir && trusted(stateDir) ? stateDir : undefined;
  return { key, name, stateDir: usable, file: usable ? cacheFileIn(usable, name) : '' };
}

/** The state directory the parse will find, when cheap to know: the config's own, else the node
 * config's (read without YAML when it can be), else the default. undefined when unsure. */
function knownStateDir(own: unknown, nodePath: string | undefined): string | undefined {
  if (own !== undefined) return typeof own === 'string' && ABSOLUTE_PATH.test(own) ? own : undefined;
  if (nodePath === undefined) return DEFAULT_STATE_DIR;
  try {
    const st = statSync(nodePath);
    if (!st.isFile() || st.size > MAX_NODE_CONFIG_BYTES) return st.size === 0 ? DEFAULT_STATE_DIR : undefined;
    return quickStateDir(readFileSync(nodePath, 'utf8'));
  } catch {
    return undefined;
  }
}

/** checkStateDir passes, without creating the directory (STATUS must not) and without throwing:
 * an unsafe state directory only means no cache here; the verb's own check reports it. */
function trusted(stateDir: string): boolean {
  try {
    return checkStateDir(stateDir, { create: false }) === 'ok';
  } catch {
    return false;
  }
}

const cacheFileIn = (stateDir: string, name: string) =>
  `${stateDir.replace(/\/+$/, '')}/${CNI_CONF_CACHE_PREFIX}${name}.json`;

/** 64 bits of FNV-1a (two 32-bit lanes) as hex: a file name, not a check (the whole key is compared). */
function nameHash(s: string): string {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193) >>> 0;
    b = Math.imul(b ^ c, 0x5bd1e995) >>> 0;
  }
  return a.toString(16).padStart(8, '0') + b.toString(16).padStart(8, '0');
}

const sameKey = (cache: CacheFile, key: CacheKey) =>
  cache.format === key.format &&
  cache.version === key.version &&
  cache.executable === key.executable &&
  cache.ifname === key.ifname &&
  cache.nodeConfig === key.nodeConfig &&
  cache.text === key.text;
