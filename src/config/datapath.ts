// A bridge's datapath type, from a validated config. Its own module, without the schema: CNI ADD
// calls it on every call, and importing schema.ts would load zod (~9 ms) on a cached config.
import type { Config } from './schema';

/** The datapath type of a bridge: its bridges entry's, else a network's on it, else system. */
export function datapathTypeOf(config: Pick<Config, 'networks' | 'bridges'>, bridge: string): 'system' | 'netdev' {
  const entry = config.bridges.find((b) => b.name === bridge)?.datapathType;
  return entry ?? config.networks.find((n) => n.bridge === bridge && n.datapathType)?.datapathType ?? 'system';
}
