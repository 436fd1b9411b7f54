// The podvlan networks of a CNI conf dir, for init: on a node where pods come through CNI, the
// networks (and so the VLANs its uplinks must carry, the bridges to make) live in the runtime's
// conflists, not in podvlan.yaml. Each podvlan plugin entry is validated as a CNI call validates
// it (parseNetConf: its own keys, then its nodeConfig's); init then joins them to podvlan.yaml's
// networks under podvlan.yaml's `bridges`. Loaded by init and the views (loadNodeContext), never on a CNI call's path.
import { readdirSync } from 'node:fs';
import { datapathTypeOf } from '../config/datapath';
import { bridgeProblems, type Config, type Network } from '../config/schema';
import { ConfigError, NotFoundError, oneLine } from '../errors';
import { readSmallFile, SmallFileError } from '../state/small-file';
import { invokedName } from './ipam-call';
import { parseNetConf } from './netconf';

export const DEFAULT_CNI_CONF_DIR = '/etc/cni/net.d';
const EXTENSIONS = ['.conflist', '.conf', '.json']; // the ones libcni loads
const MAX_FILE_BYTES = 1 << 20;

export interface CniNetwork {
  file: string;
  network: Network;
  config: Config; // the network's whole config as a CNI call resolves it (node keys, its nodeConfig's bridges)
}

/** Every podvlan main-plugin entry of the dir's configs, in file name order. A missing dir is empty
 * unless it was named (`explicit`). A file that is not JSON is skipped unless it names podvlan. */
export function readCniNetworks(dir: string, explicit: boolean): CniNetwork[] {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !explicit) return [];
    throw new NotFoundError(`cannot read CNI conf dir ${dir}: ${oneLine(err)}`);
  }
  const out: CniNetwork[] = [];
  const self = invokedName();
  for (const name of names.filter((n) => EXTENSIONS.some((e) => n.endsWith(e)))) {
    const file = `${dir.replace(/\/+$/, '')}/${name}`;
    let text: string;
    try {
      text = readSmallFile(file, MAX_FILE_BYTES);
    } catch (err) {
      if (err instanceof SmallFileError && err.reason === 'not a regular file') continue;
      throw new ConfigError(`cannot read CNI config ${file}: ${oneLine(err)}`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      // Not ours to judge, unless it names podvlan: its networks would be left off the uplinks.
      if (!text.includes('podvlan')) continue;
      throw new ConfigError(`CNI config ${file} is not JSON (${oneLine(err)}): fix it, or move it out of ${dir}`);
    }
    for (const plugin of pluginsOf(parsed, name.endsWith('.conflist'))) {
      if (plugin.type !== 'podvlan' && plugin.type !== self) continue; // podvlan as another's IPAM makes no port
      try {
        const conf = parseNetConf(JSON.stringify(plugin), 'eth0'); // the interface name is not used here
        out.push({ file, network: conf.network, config: conf.config });
      } catch (err) {
        throw new ConfigError(`CNI config ${file}: ${oneLine(err)}`);
      }
    }
  }
  return out;
}

/** A conflist's plugins as libcni hands them to a plugin: the list's name and cniVersion put in. */
function pluginsOf(parsed: unknown, isList: boolean): Record<string, unknown>[] {
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return [];
  const top = parsed as Record<string, unknown>;
  if (!isList) return [top];
  if (!Array.isArray(top.plugins)) return [];
  return top.plugins
    .filter((p): p is Record<string, unknown> => !!p && typeof p === 'object' && !Array.isArray(p))
    .map((p) => ({ ...p, name: top.name, cniVersion: top.cniVersion }));
}

export interface NodeNetworks {
  networks: Network[]; // podvlan.yaml's, then the CNI configs'
  read: string[]; // "name (file)" of each CNI network taken
  skipped: string[]; // one line per CNI network left out, and why
}

/** podvlan.yaml's networks and the CNI configs' on the same OVSDB, checked together against its `bridges`. */
export function nodeNetworks(config: Config, cni: CniNetwork[], dir: string): NodeNetworks {
  const sourceOf = new Map<string, string>(config.networks.map((n) => [n.name, 'the podvlan config']));
  const read: string[] = [];
  const skipped: string[] = [];
  const taken: CniNetwork[] = [];
  for (const c of cni) {
    if (c.config.ovsdb !== config.ovsdb) {
      skipped.push(
        `CNI network ${c.network.name} (${c.file}) is on OVSDB ${c.config.ovsdb}, not ${config.ovsdb}: left out`,
      );
      continue;
    }
    const other = sourceOf.get(c.network.name);
    if (other !== undefined)
      throw new ConfigError(
        `network ${c.network.name} is in ${c.file} and in ${other}: network names must be unique on a node ` +
          '(CNI GC and the leases go by name); rename one',
      );
    sourceOf.set(c.network.name, c.file);
    taken.push(c);
    read.push(`${c.network.name} (${c.file})`);
  }
  const networks = [...config.networks, ...taken.map((c) => c.network)];
  if (networks.length === 0)
    throw new ConfigError(
      `no networks: the podvlan config has none and CNI conf dir ${dir} has no podvlan network: ` +
        'add networks to the config, or give the CNI conf dir (--cni-conf-dir)',
    );
  // podvlan.yaml passed these checks alone: what they find now involves a CNI network (the later one).
  const [problem] = bridgeProblems(networks, config.bridges);
  if (problem) {
    const n = problem.path[0] === 'networks' ? networks[problem.path[1] as number] : undefined;
    throw new ConfigError(`${n ? `CNI config ${sourceOf.get(n.name)}: network ${n.name}: ` : ''}${problem.message}`);
  }
  // A CNI ADD makes a missing bridge with its own config's datapath: it must be the one init makes.
  for (const c of taken) {
    const own = datapathTypeOf(c.config, c.network.bridge);
    const node = datapathTypeOf({ networks, bridges: config.bridges }, c.network.bridge);
    if (own !== node)
      throw new ConfigError(
        `CNI network ${c.network.name} (${c.file}) gives bridge ${c.network.bridge} datapathType ${own}, ` +
          `the podvlan config ${node}: make them agree (the bridges entry of the conflist's nodeConfig)`,
      );
  }
  return { networks, read, skipped };
}
