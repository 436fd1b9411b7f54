// Finds, reads and validates the config. Lookup order: --config, $PODVLAN_CONFIG, podvlan.yaml
// beside the executable (the kubelet plugin directory), /etc/podvlan/podvlan.yaml.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../errors';
import { type Config, configSchema } from './schema';

export const SYSTEM_CONFIG = '/etc/podvlan/podvlan.yaml';
const MAX_CONFIG_BYTES = 1 << 20;

export function findConfigPath(explicit: string | undefined, env = process.env, execPath = process.execPath): string {
  if (explicit) return explicit;
  if (env.PODVLAN_CONFIG) return env.PODVLAN_CONFIG;
  const beside = join(dirname(execPath), 'podvlan.yaml');
  if (existsSync(beside)) return beside;
  return SYSTEM_CONFIG;
}

export function loadConfig(explicit?: string): { path: string; config: Config } {
  const path = findConfigPath(explicit);
  let text: string;
  try {
    const buf = readFileSync(path);
    if (buf.length > MAX_CONFIG_BYTES) throw new Error(`larger than ${MAX_CONFIG_BYTES} bytes`);
    text = buf.toString('utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new ConfigError(`cannot read config ${path}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
  }
  return { path, config: parseConfig(text, path) };
}

export function parseConfig(text: string, path: string): Config {
  let raw: unknown;
  try {
    raw = parseYaml(text, { maxAliasCount: 100 });
  } catch (err) {
    throw new ConfigError(`config ${path} is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  const result = configSchema.safeParse(raw ?? {});
  if (!result.success) {
    const issue = result.error.issues[0];
    const field = issue.path.length ? issue.path.join('.') : '(top level)';
    const more = result.error.issues.length > 1 ? ` (and ${result.error.issues.length - 1} more)` : '';
    throw new ConfigError(`config ${path}: ${field}: ${issue.message}${more}`);
  }
  return result.data;
}
