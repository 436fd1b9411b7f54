// Reads and validates the config (lookup order in ./locate).
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../errors';
import { describeIssues, describeYamlError } from './explain';
import { findConfigPath, readConfigText } from './locate';
import { type Config, configSchema, nodeConfigSchema } from './schema';

export { findConfigPath, SYSTEM_CONFIG } from './locate';

export function loadConfig(explicit?: string): { path: string; config: Config } {
  const path = findConfigPath(explicit);
  return { path, config: parseConfig(readConfigText(path), path) };
}

/** With `networks: 'optional'` (init), a file without networks is valid: a CNI node's are in its conflists. */
export function parseConfig(text: string, path: string, opts: { networks?: 'required' | 'optional' } = {}): Config {
  let raw: unknown;
  try {
    // logLevel 'error': errors throw, warnings stay quiet (the yaml library would print them on
    // stderr, which the kubelet reads as the command's output).
    raw = parseYaml(text, { maxAliasCount: 100, logLevel: 'error' });
  } catch (err) {
    throw new ConfigError(`config ${path} is not valid YAML: ${describeYamlError(err as Error, text)}`);
  }
  const schema = opts.networks === 'optional' ? nodeConfigSchema : configSchema;
  const result = schema.safeParse(raw ?? {});
  if (!result.success) throw new ConfigError(`config ${path}: ${describeIssues(result.error.issues, schema)}`);
  // Exec mode has no source of pod annotations (the kubelet passes namespace, name and id only).
  const byAnnotation = result.data.networks.findIndex((n) => 'fromAnnotation' in n.vlan);
  if (byAnnotation >= 0)
    throw new ConfigError(
      `config ${path}: networks.${byAnnotation}.vlan: fromAnnotation works only in CNI mode ` +
        '(exec calls carry no pod annotations): use id, fromPodName or pool',
    );
  return result.data;
}
