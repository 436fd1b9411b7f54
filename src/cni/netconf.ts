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
import { CniCode, CniError, isSupportedVersion, SUPPORTED_VERSIONS } from './spec';

// Top level: not strict, as the spec lets runtimes add keys (capabilities, runtimeConfig, args,
// prevResult, dns ...) that a plugin ignores unless it uses them. podvlan's own keys are checked
// by configSchema below; `ipam.pool` is exactly a podvlan.yaml `ipam` object.
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
  stateDir: z.unknown().optional(),
  logFile: z.unknown().optional(),
  timeoutMs: z.unknown().optional(),
  etcd: z.unknown().optional(),
  nodeName: z.unknown().optional(),
  nodeConfig: z.string().optional(),
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
}

export function parseNetConf(text: string, ifname: string): NetConf {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new CniError(CniCode.decodingFailure, `network config on stdin is not JSON: ${(err as Error).message}`);
  }
  const parsed = netconfSchema.safeParse(raw);
  if (!parsed.success)
    throw new CniError(
      CniCode.invalidNetworkConfig,
      `network config: ${describeIssues(parsed.error.issues, netconfSchema)}`,
    );
  const c = parsed.data;
  if (!isSupportedVersion(c.cniVersion))
    throw new CniError(
      CniCode.incompatibleVersion,
      `cniVersion ${JSON.stringify(c.cniVersion.slice(0, 20))} is not supported`,
      `supported: ${SUPPORTED_VERSIONS.join(', ')}`,
    );
  if (c.ipam && c.ipam.type !== 'podvlan')
    throw new CniError(
      CniCode.invalidNetworkConfig,
      `network config: ipam type ${JSON.stringify(c.ipam.type.slice(0, 40))} is not supported yet (only "podvlan")`,
    );
  if (c.ipam && c.ipam.pool === undefined)
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
        ...(c.ipam ? { ipam: c.ipam.pool } : {}),
      },
    ],
  };
  const result = configSchema.safeParse(candidate);
  if (!result.success) {
    // Paths into networks[0] are the config's own keys; `ipam` is the pool object here.
    const issues = result.error.issues.map((i) => ({
      ...i,
      path: i.path[0] === 'networks' ? rename(i.path.slice(2)) : i.path,
    }));
    throw new CniError(CniCode.invalidNetworkConfig, `network config: ${describeIssues(issues, configSchema)}`);
  }
  const network = result.data.networks[0];
  const runtimeConfig = declaredRuntimeConfig(c.runtimeConfig, c.capabilities);
  // Without the capability the runtime never sends the annotations: every ADD would fail later.
  if ('fromAnnotation' in network.vlan && !isDeclared(c.capabilities, ANNOTATIONS_CAPABILITY))
    throw new CniError(
      CniCode.invalidNetworkConfig,
      `network config: vlan fromAnnotation needs "capabilities": {"${ANNOTATIONS_CAPABILITY}": true}`,
    );
  return { cniVersion: c.cniVersion, config: result.data, network, prevResult: c.prevResult, runtimeConfig };
}

function isDeclared(capabilities: unknown, name: string): boolean {
  return (
    typeof capabilities === 'object' &&
    capabilities !== null &&
    (capabilities as Record<string, unknown>)[name] === true
  );
}

const rename = (path: PropertyKey[]) => (path[0] === 'ipam' ? ['ipam', 'pool', ...path.slice(1)] : path);

// The node-wide keys a podvlan.yaml may give a CNI network; its own networks are not used here.
const NODE_KEYS = ['ovsdb', 'stateDir', 'logFile', 'timeoutMs', 'etcd', 'nodeName'] as const;

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
    for (const key of NODE_KEYS) if (key in raw) out[key] = (raw as Record<string, unknown>)[key];
  return out;
}
