// A CNI network config (stdin of ADD/DEL/CHECK) as one podvlan network: the keys mean what they
// mean in podvlan.yaml; node-wide settings absent from it come from the nodeConfig file (when it
// exists), else podvlan's defaults. The result is a full podvlan Config, validated by the very
// schema podvlan.yaml goes through, so both modes accept and refuse the same values.
import { existsSync, readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { describeIssues } from '../config/explain';
import { SYSTEM_CONFIG } from '../config/locate';
import { type Config, configSchema, type Network } from '../config/schema';
import { ANNOTATIONS_CAPABILITY, declaredRuntimeConfig } from './requests';
import { isPluginName } from '../names';
import { CniCode, CniError, isSupportedVersion, SUPPORTED_VERSIONS } from './spec';

// Top level: not strict, as the spec lets runtimes add keys (capabilities, runtimeConfig, args,
// prevResult, dns ...) that a plugin ignores unless it uses them. podvlan's own keys are checked
// by configSchema below; `ipam.pool` is exactly a podvlan.yaml `ipam` object.
// The node-wide keys both roles take beside their own (main plugin: at the top level, IPAM: in
// `ipam`); what is absent comes from nodeConfig.
const nodeWideKeys = {
  stateDir: z.unknown().optional(),
  logFile: z.unknown().optional(),
  timeoutMs: z.unknown().optional(),
  etcd: z.unknown().optional(),
  nodeName: z.unknown().optional(),
  nodeConfig: z.string().optional(),
};

const netconfSchema = z.object({
  cniVersion: z.string(),
  name: z.string(),
  type: z.string(),
  bridge: z.unknown(),
  datapathType: z.unknown().optional(),
  mtu: z.unknown().optional(),
  vlan: z.unknown(),
  ipam: z.object({ type: z.string(), pool: z.unknown().optional() }).optional(),
  ovsdb: z.unknown().optional(),
  ...nodeWideKeys,
  match: z.unknown().optional(),
  capabilities: z.unknown().optional(),
  runtimeConfig: z.unknown().optional(),
  prevResult: z.unknown().optional(),
});

export interface NetConf {
  cniVersion: string;
  config: Config; // with exactly one network, this one
  network: Network;
  prevResult?: unknown;
  runtimeConfig: Record<string, unknown>; // only the keys of capabilities the config declares
  ipamPlugin?: string; // ipam.type when it is not podvlan: the plugin in CNI_PATH that gives the address
}

export function parseNetConf(text: string, ifname: string): NetConf {
  const c = parsedBy(netconfSchema, text);
  // ipam.type podvlan is the own pool, in process; any other type is a plugin in CNI_PATH (delegate.ts).
  const delegated = c.ipam && c.ipam.type !== 'podvlan' ? c.ipam.type : undefined;
  if (delegated !== undefined && !isPluginName(delegated))
    throw new CniError(
      CniCode.invalidNetworkConfig,
      `network config: ipam type ${JSON.stringify(delegated.slice(0, 60))} is not a plugin file name`,
    );
  if (c.ipam && !delegated && c.ipam.pool === undefined)
    throw new CniError(CniCode.invalidNetworkConfig, 'network config: ipam type podvlan needs a pool');
  const node = readNodeConfig(c.nodeConfig);
  const pick = (key: keyof typeof c) => (c[key] !== undefined ? { [key]: c[key] } : {});
  const candidate = {
    ...node,
    ...pick('ovsdb'),
    ...pick('stateDir'),
    ...pick('logFile'),
    ...pick('timeoutMs'),
    ...pick('etcd'),
    ...pick('nodeName'),
    networks: [
      {
        name: c.name,
        bridge: c.bridge,
        ...(c.datapathType !== undefined ? { datapathType: c.datapathType } : {}),
        ...(c.mtu !== undefined ? { mtu: c.mtu } : {}),
        ...(c.match !== undefined ? { match: c.match } : {}),
        interface: ifname,
        vlan: c.vlan,
        ...(c.ipam && !delegated ? { ipam: c.ipam.pool } : {}),
      },
    ],
  };
  const config = validConfig(candidate, (path) => (path[0] === 'ipam' ? ['ipam', 'pool', ...path.slice(1)] : path));
  const network = config.networks[0];
  // The schema refuses podvlan's own pool on a trunk; a delegated plugin's address would be as unreachable.
  if ('trunk' in network.vlan && delegated)
    throw new CniError(
      CniCode.invalidNetworkConfig,
      `network config: ipam: network ${network.name} is a VLAN trunk, whose interface carries only tagged ` +
        `frames: drop ipam (${delegated}) and address the VLAN subinterfaces the pod makes`,
    );
  const runtimeConfig = declaredRuntimeConfig(c.runtimeConfig, c.capabilities);
  // Without the capability the runtime never sends the annotations: every ADD would fail later.
  if ('fromAnnotation' in network.vlan && !isDeclared(c.capabilities, ANNOTATIONS_CAPABILITY))
    throw new CniError(
      CniCode.invalidNetworkConfig,
      `network config: vlan fromAnnotation needs "capabilities": {"${ANNOTATIONS_CAPABILITY}": true}`,
    );
  return {
    cniVersion: c.cniVersion,
    config,
    network,
    prevResult: c.prevResult,
    runtimeConfig,
    ...(delegated ? { ipamPlugin: delegated } : {}),
  };
}

function isDeclared(capabilities: unknown, name: string): boolean {
  return (
    typeof capabilities === 'object' &&
    capabilities !== null &&
    (capabilities as Record<string, unknown>)[name] === true
  );
}

/** The candidate through podvlan.yaml's schema; `rename` maps a path in networks[0] to the config's key. */
function validConfig(candidate: unknown, rename: (path: PropertyKey[]) => PropertyKey[]): Config {
  const result = configSchema.safeParse(candidate);
  if (result.success) return result.data;
  const issues = result.error.issues.map((i) => ({
    ...i,
    path: i.path[0] === 'networks' ? rename(i.path.slice(2)) : i.path,
  }));
  throw new CniError(CniCode.invalidNetworkConfig, `network config: ${describeIssues(issues, configSchema)}`);
}

// podvlan as the IPAM plugin of another main plugin (bridge, macvlan, ...): the top level is that
// plugin's, so podvlan reads only its `ipam` object, where the CNI convention puts an IPAM
// plugin's settings: the pool and the node-wide keys (absent ones from nodeConfig, as above).
const ipamConfSchema = z.object({
  cniVersion: z.string(),
  name: z.string(),
  type: z.string(),
  ipam: z.strictObject({
    type: z.string(), // podvlan's name as installed (ipam-call.ts chose this role by it)
    pool: z.unknown(),
    ...nodeWideKeys,
  }),
  prevResult: z.unknown().optional(),
});

/** The config of an IPAM call: a podvlan Config whose one network carries the pool (and no port). */
export function parseIpamConf(text: string, ifname: string): NetConf {
  const c = parsedBy(ipamConfSchema, text);
  if (c.ipam.pool === undefined)
    throw new CniError(CniCode.invalidNetworkConfig, 'network config: ipam type podvlan needs a pool');
  const node = readNodeConfig(c.ipam.nodeConfig);
  const own: Record<string, unknown> = {};
  for (const key of NODE_KEYS) if (key !== 'ovsdb' && c.ipam[key] !== undefined) own[key] = c.ipam[key];
  // The schema wants a bridge and a VLAN for every network; the IPAM call makes no port, so
  // these stand-ins are never used (only the name, interface and pool are).
  const network = { name: c.name, bridge: 'none', vlan: { id: 1 }, interface: ifname, ipam: c.ipam.pool };
  const config = validConfig({ ...node, ...own, networks: [network] }, (path) =>
    path[0] === 'ipam' ? ['ipam', 'pool', ...path.slice(1)] : path[0] === 'name' ? ['name'] : ['ipam', ...path],
  );
  return { cniVersion: c.cniVersion, config, network: config.networks[0], prevResult: c.prevResult, runtimeConfig: {} };
}

/** stdin through a schema of the config's top level, and its cniVersion one podvlan speaks. */
function parsedBy<S extends z.ZodType<{ cniVersion: string }>>(schema: S, text: string): z.infer<S> {
  const parsed = schema.safeParse(parseJson(text));
  if (!parsed.success)
    throw new CniError(CniCode.invalidNetworkConfig, `network config: ${describeIssues(parsed.error.issues, schema)}`);
  checkVersion(parsed.data.cniVersion);
  return parsed.data;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new CniError(CniCode.decodingFailure, `network config on stdin is not JSON: ${(err as Error).message}`);
  }
}

function checkVersion(v: string): void {
  if (!isSupportedVersion(v))
    throw new CniError(
      CniCode.incompatibleVersion,
      `cniVersion ${JSON.stringify(v.slice(0, 20))} is not supported`,
      `supported: ${SUPPORTED_VERSIONS.join(', ')}`,
    );
}

// The node-wide keys a podvlan.yaml may give a CNI network; its own networks are not used here.
const NODE_KEYS = ['ovsdb', 'stateDir', 'logFile', 'timeoutMs', 'etcd', 'nodeName'] as const;
// Read from the nodeConfig file only: a bridge's uplinks are the node's, not one network's.
const NODE_FILE_KEYS = [...NODE_KEYS, 'bridges'] as const;

function readNodeConfig(path: string | undefined): Record<string, unknown> {
  const file = path ?? SYSTEM_CONFIG;
  if (path === undefined && !existsSync(file)) return {}; // a CNI-only node needs no podvlan.yaml
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(file, 'utf8'), { maxAliasCount: 100, logLevel: 'error' });
  } catch (err) {
    throw new CniError(CniCode.invalidNetworkConfig, `nodeConfig ${file}: ${(err as Error).message.split('\n')[0]}`);
  }
  const out: Record<string, unknown> = {};
  if (raw && typeof raw === 'object')
    for (const key of NODE_FILE_KEYS) if (key in raw) out[key] = (raw as Record<string, unknown>)[key];
  return out;
}
