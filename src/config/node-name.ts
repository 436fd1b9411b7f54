import { nodeOs } from '../builtins';
import type { Config } from './schema';

/** This node's name: the config's nodeName, else the host name (as a kubelet names its node). */
export function nodeName(config: Pick<Config, 'nodeName'>): string {
  return config.nodeName ?? nodeOs().hostname();
}
