// The config contract, validated with zod. Field names here are the documented keys
// (docs/config.md); defaults are what a Debian node with openvswitch-switch and docker.io has.
import { z } from 'zod';
import { type Family, familyName } from '../ipam/ip';
import { DNS1123_LABEL, DNS1123_SUBDOMAIN } from '../names';
import { parseVlanRange, parseVlanTrunk, vlanClashes } from '../ipam/vlan';
import { etcdIpam, hostLocal, staticIpam } from './pool-schema';
import { hasEtcdPool, ipamPools, poolFamily } from './pools';

// Re-exported for tests and cold paths; hot paths import them from ./pools (no zod).
export { hasEtcdPool, ipamPools, poolFamily, poolOfFamily } from './pools';

const regex = z.string().refine((s) => {
  try {
    new RegExp(s);
    return true;
  } catch {
    return false;
  }
}, 'not a valid regular expression');
const ifName = z
  .string()
  .regex(/^[A-Za-z0-9_.-]{1,15}$/, 'must be 1-15 characters of letters, digits, _ . -')
  .refine((s) => s !== '.' && s !== '..', 'not a valid interface name');
const label = z.string().max(63).regex(DNS1123_LABEL, 'must be a DNS-1123 label');
const subdomain = z.string().max(253).regex(DNS1123_SUBDOMAIN, 'must be a DNS-1123 subdomain');
// A Kubernetes annotation key: an optional DNS-subdomain prefix and "/", then a name of at most 63
// characters (alphanumerics, '-', '_', '.', alphanumeric at both ends).
const ANNOTATION_KEY =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const absPath = z.string().regex(/^\/[^\0]*$/, 'must be an absolute path');

// z.custom and non-fatal issues rather than z.string/z.enum, whose failures are fatal to the
// union branch: the union then reports "pool: ..." or "per: ..." instead of a bare "Invalid
// input". A missing pool stays fatal, so {id: 3, per: pod} still reports the stray key.
const vlanPool = z
  .custom<string>(() => true)
  .superRefine((s, ctx) => {
    if (typeof s !== 'string') {
      ctx.addIssue({ code: 'custom', message: 'must be a range like "100-199"', fatal: s === undefined });
      return;
    }
    try {
      parseVlanRange(s);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
    }
  });
// The tags a fromPodName network's pods may name: like a pool's text, reported at its own field.
const vlanRange = z
  .custom<string>(() => true)
  .superRefine((s, ctx) => {
    if (typeof s !== 'string') {
      ctx.addIssue({ code: 'custom', message: 'must be a range like "20-99"' });
      return;
    }
    try {
      parseVlanRange(s, 'VLAN range');
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
    }
  });
// A pod trunk port's VLANs, "100-110,200": reported at its own field, as a pool's text is.
const vlanTrunk = z
  .custom<string>(() => true)
  .superRefine((s, ctx) => {
    if (typeof s !== 'string') {
      ctx.addIssue({ code: 'custom', message: 'must be a list like "100-110,200"', fatal: s === undefined });
      return;
    }
    try {
      parseVlanTrunk(s);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
    }
  });
const vlanPer = z.custom<'namespace' | 'pod'>((v) => v === 'namespace' || v === 'pod', {
  message: 'must be namespace or pod',
  abort: false,
});

const vlan = z.union([
  z.strictObject({ id: z.number().int().min(1).max(4094) }),
  z.strictObject({
    fromPodName: regex.refine((s) => {
      try {
        return new RegExp(`${s}|`).exec('')!.length > 1;
      } catch {
        return true; // reported as not a valid regular expression
      }
    }, 'needs a capture group for the VLAN number'),
    range: vlanRange.optional(), // default: every tag no other network on the bridge declares (vlanClashes)
  }),
  // CNI mode only (exec mode has no annotations; config/load.ts refuses it there): the tag is the
  // value of this pod annotation, which containerd's CRI passes in runtimeConfig.
  z.strictObject({
    fromAnnotation: z.string().max(317).regex(ANNOTATION_KEY, 'must be an annotation key like podvlan.io/vlan'),
    range: vlanRange.optional(), // default: as for fromPodName
  }),
  z.strictObject({ pool: vlanPool, per: vlanPer.default('namespace') }), // cluster-wide, in etcd
  // No tag: the pod's interface is a trunk port of these VLANs; the pod makes its VLAN subinterfaces.
  z.strictObject({ trunk: vlanTrunk }),
]);

const ipamPool = z.discriminatedUnion('type', [hostLocal, staticIpam, etcdIpam]);

// One pool (the original shape), or a list of one or two pools of different families: a
// dual-stack network. describeIssues reports a single pool's own failure (not the union's), as
// before the list came (config/explain.ts, unionBranch).
const ipamField = z.union(
  [
    ipamPool,
    z
      .array(ipamPool)
      .min(1, 'must list one or two pools')
      .max(2, 'must list one or two pools (one IPv4, one IPv6)')
      .superRefine((pools, ctx) => {
        const seen = new Map<Family, number>();
        pools.forEach((p, i) => {
          const family = poolFamily(p);
          const other = seen.get(family);
          if (other !== undefined)
            ctx.addIssue({
              code: 'custom',
              path: [i],
              message: `pools ${other} and ${i} are both ${familyName(family)}: a network takes one pool per family`,
            });
          seen.set(family, i);
        });
      }),
  ],
  { error: 'must be a pool ({type: host-local, ...}) or a list of one or two pools' },
);

export const networkSchema = z.strictObject({
  name: label,
  bridge: ifName,
  // Default: the bridges entry's, else system (datapathTypeOf). Accepted here for older configs.
  datapathType: z.enum(['system', 'netdev']).optional(),
  interface: ifName.default('eth1'),
  mtu: z.number().int().min(68).max(65535).default(1500),
  primary: z.boolean().default(false),
  match: z.strictObject({ namespace: regex.optional(), podName: regex.optional() }).default({}),
  vlan,
  ipam: ipamField.optional(),
});

// A bridge's own settings: its datapath, the host interfaces init makes its trunk ports, their MTU.
export const bridgeSchema = z.strictObject({
  name: ifName,
  datapathType: z.enum(['system', 'netdev']).optional(), // default: a network's on it, else system
  uplinks: z.array(ifName).default([]),
  mtu: z.number().int().min(68).max(65535).optional(), // set on the uplinks (Interface mtu_request)
});

const etcdEndpoint = z.string().refine((s) => {
  try {
    const u = new URL(s);
    return (
      (u.protocol === 'http:' || u.protocol === 'https:') &&
      u.hostname !== '' &&
      (u.pathname === '' || u.pathname === '/') &&
      !u.search &&
      !u.hash &&
      !u.username &&
      !u.password
    );
  } catch {
    return false;
  }
}, 'must be http://HOST:PORT or https://HOST:PORT');

const etcdSection = z
  .strictObject({
    endpoints: z.array(etcdEndpoint).min(1),
    prefix: z
      .string()
      .regex(/^(\/[A-Za-z0-9_.-]+)+$/, 'must be a key prefix like /podvlan (no trailing slash)')
      .default('/podvlan'),
    tls: z.strictObject({ ca: absPath.optional(), cert: absPath.optional(), key: absPath.optional() }).optional(),
    username: z.string().min(1).optional(),
    password: z.string().optional(),
    timeoutMs: z.number().int().min(100).max(600000).optional(), // default: the top-level timeoutMs
  })
  .superRefine((e, ctx) => {
    if (e.tls && (e.tls.cert === undefined) !== (e.tls.key === undefined))
      ctx.addIssue({ code: 'custom', path: ['tls'], message: 'cert and key go together' });
    if (e.tls && !e.endpoints.some((u) => u.startsWith('https:')))
      ctx.addIssue({ code: 'custom', path: ['tls'], message: 'tls is set but no endpoint is https://' });
    if (e.password !== undefined && e.username === undefined)
      ctx.addIssue({ code: 'custom', path: ['username'], message: 'password is set without a username' });
  });

// The top-level keys. `networks` is required (at least one) in podvlan.yaml; init alone also
// takes a file without it, whose networks are then a CNI node's conflists (nodeConfigSchema).
const configFields = {
  ovsdb: z
    .string()
    .regex(/^(unix:\/.+|tcp:.+:\d+)$/, 'must be unix:/PATH or tcp:HOST:PORT')
    .default('unix:/var/run/openvswitch/db.sock'),
  // ovs-vswitchd's unixctl socket (diagnose); default: found as ovs-appctl finds it (src/ovs/unixctl.ts)
  vswitchdCtl: absPath.optional(),
  logFile: absPath.default('/var/log/podvlan.log'),
  stateDir: absPath.default('/var/lib/podvlan'),
  timeoutMs: z.number().int().min(100).max(600000).default(10000),
  runtime: z
    .strictObject({
      docker: z
        .strictObject({ socket: absPath.default('/var/run/docker.sock') })
        .default({ socket: '/var/run/docker.sock' }),
    })
    .default({ docker: { socket: '/var/run/docker.sock' } }),
  networks: z.array(networkSchema).min(1),
  bridges: z.array(bridgeSchema).default([]),
  etcd: etcdSection.optional(), // cluster-wide VLAN and address pools
  nodeName: subdomain.optional(), // default: the host name
  // Other nodes' OVSDB remotes, for diagnose's far half (src/diagnose/remote-peer.ts); read only.
  peers: z
    .array(z.strictObject({ node: subdomain, ovsdb: z.string().regex(/^tcp:.+:\d+$/, 'must be tcp:HOST:PORT') }))
    .optional(),
};

type ConfigShape = {
  networks: z.infer<typeof networkSchema>[];
  bridges: z.infer<typeof bridgeSchema>[];
  etcd?: unknown;
};

/** The checks across keys, the same for both schemas. */
function withConfigChecks<S extends z.ZodType<ConfigShape>>(schema: S): S {
  return schema
    .superRefine((c, ctx) => {
      const seen = new Set<string>();
      c.networks.forEach((n, i) => {
        if (seen.has(n.name))
          ctx.addIssue({
            code: 'custom',
            path: ['networks', i, 'name'],
            message: `duplicate network name "${n.name}"`,
          });
        seen.add(n.name);
      });
      if (c.networks.filter((n) => n.primary).length > 1)
        ctx.addIssue({ code: 'custom', path: ['networks'], message: 'at most one network may be primary' });
      checkBridges(c, ctx);
    })
    .superRefine((c, ctx) => {
      // Cluster-wide pools need etcd.
      c.networks.forEach((n, i) => {
        if (!c.etcd && hasEtcdPool(n))
          ctx.addIssue({
            code: 'custom',
            path: ['networks', i, 'ipam'],
            message: 'ipam type etcd needs the top-level etcd section',
          });
        if (!c.etcd && 'pool' in n.vlan)
          ctx.addIssue({
            code: 'custom',
            path: ['networks', i, 'vlan'],
            message: 'a VLAN pool needs the top-level etcd section',
          });
        // A trunk port drops untagged frames (OVS vlan_mode trunk): an address on the pod's
        // interface itself could never be reached. The pod addresses its VLAN subinterfaces.
        if ('trunk' in n.vlan && ipamPools(n).length > 0)
          ctx.addIssue({
            code: 'custom',
            path: ['networks', i, 'ipam'],
            message:
              `network ${n.name} is a VLAN trunk: its interface carries only tagged frames, so an address on it ` +
              'is unreachable; drop ipam and address the VLAN subinterfaces the pod makes',
          });
      });
      // On one bridge a VLAN is one network's: ids, pools, trunks and pod-name ranges must not overlap.
      for (const { index, message } of vlanClashes(c.networks)) {
        ctx.addIssue({ code: 'custom', path: ['networks', index, 'vlan'], message });
      }
    });
}

export const configSchema = withConfigChecks(z.strictObject(configFields));
/** podvlan.yaml as init reads it: `networks` may be left out (a CNI-only node's are in its conflists). */
export const nodeConfigSchema = withConfigChecks(
  z.strictObject({ ...configFields, networks: z.array(networkSchema).default([]) }),
);

function checkBridges(c: ConfigShape, ctx: z.RefinementCtx): void {
  for (const { path, message } of bridgeProblems(c.networks, c.bridges))
    ctx.addIssue({ code: 'custom', path, message });
}

/** bridges: one entry per name, an uplink on one bridge only, datapath types that agree, MTUs that
 * fit. Pure: init runs it again over podvlan.yaml's bridges with the CNI conflists' networks. */
export function bridgeProblems(
  networks: z.infer<typeof networkSchema>[],
  bridges: z.infer<typeof bridgeSchema>[],
): { path: (string | number)[]; message: string }[] {
  const problems: { path: (string | number)[]; message: string }[] = [];
  const entries = new Map<string, z.infer<typeof bridgeSchema>>();
  const uplinkOf = new Map<string, string>();
  bridges.forEach((b, i) => {
    if (entries.has(b.name))
      problems.push({ path: ['bridges', i, 'name'], message: `bridge ${b.name} is listed twice` });
    entries.set(b.name, b);
    b.uplinks.forEach((u, k) => {
      const other = uplinkOf.get(u);
      if (other !== undefined)
        problems.push({
          path: ['bridges', i, 'uplinks', k],
          message: `uplink ${u} is listed for bridge ${other} and bridge ${b.name}: an interface is on one bridge`,
        });
      uplinkOf.set(u, b.name);
    });
  });
  const datapath = new Map<string, string>();
  networks.forEach((n, i) => {
    const entry = entries.get(n.bridge);
    if (entry?.datapathType && n.datapathType && entry.datapathType !== n.datapathType)
      problems.push({
        path: ['networks', i, 'datapathType'],
        message:
          `network ${n.name} says datapathType ${n.datapathType} but bridges entry ${n.bridge} says ` +
          `${entry.datapathType}: drop it from the network (it moved to bridges)`,
      });
    const effective = n.datapathType ?? entry?.datapathType ?? 'system';
    const other = datapath.get(n.bridge);
    if (other && other !== effective)
      problems.push({
        path: ['networks', i, 'datapathType'],
        message: `bridge ${n.bridge} is given two datapath types`,
      });
    datapath.set(n.bridge, effective);
    if (entry?.mtu !== undefined && entry.uplinks.length > 0 && n.mtu > entry.mtu)
      problems.push({
        path: ['networks', i, 'mtu'],
        message:
          `network ${n.name}'s mtu ${n.mtu} does not fit bridge ${n.bridge}'s uplink mtu ${entry.mtu}: ` +
          'lower the network mtu or raise the bridge mtu',
      });
  });
  return problems;
}

export type Config = z.infer<typeof configSchema>;
export type Network = z.infer<typeof networkSchema>;
export type Ipam = z.infer<typeof ipamPool>; // one pool
export type IpamField = NonNullable<Network['ipam']>;
export type BridgeConfig = z.infer<typeof bridgeSchema>;
export type EtcdConfig = NonNullable<Config['etcd']>;
export type EtcdIpam = Extract<Ipam, { type: 'etcd' }>;
export type VlanPoolConfig = Extract<Network['vlan'], { pool: string }>;
export type VlanAnnotationConfig = Extract<Network['vlan'], { fromAnnotation: string }>;
