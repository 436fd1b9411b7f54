// The config contract, validated with zod. Field names here are the documented keys
// (docs/config.md); defaults are what a Debian node with openvswitch-switch and docker.io has.
import { z } from 'zod';
import { contains, hostRange, parseIpv4, parsePrefix } from '../ipam/ipv4';

const regex = z.string().refine((s) => { try { new RegExp(s); return true; } catch { return false; } }, 'not a valid regular expression');
const ipv4 = z.string().refine((s) => { try { parseIpv4(s); return true; } catch { return false; } }, { message: 'not an IPv4 address', abort: true });
const cidr = z.string().refine((s) => { try { parsePrefix(s); return true; } catch { return false; } }, { message: 'not an IPv4 prefix (a.b.c.d/len)', abort: true });
const ifName = z.string().regex(/^[A-Za-z0-9_.-]{1,15}$/, 'must be 1-15 characters of letters, digits, _ . -').refine((s) => s !== '.' && s !== '..', 'not a valid interface name');
const absPath = z.string().regex(/^\/[^\0]*$/, 'must be an absolute path');

const route = z.strictObject({ dst: cidr, via: ipv4.optional() });

const hostLocal = z.strictObject({
  type: z.literal('host-local'),
  subnet: cidr,
  rangeStart: ipv4.optional(),
  rangeEnd: ipv4.optional(),
  gateway: ipv4.optional(),
  exclude: z.array(ipv4).default([]),
  routes: z.array(route).default([]),
}).superRefine((v, ctx) => {
  const subnet = parsePrefix(v.subnet);
  const [first, last] = hostRange(subnet);
  for (const key of ['rangeStart', 'rangeEnd', 'gateway'] as const) {
    const value = v[key];
    if (value !== undefined && !contains(subnet, parseIpv4(value))) ctx.addIssue({ code: 'custom', path: [key], message: `${value} is outside subnet ${v.subnet}` });
  }
  for (const key of ['rangeStart', 'rangeEnd'] as const) {
    const value = v[key];
    if (value !== undefined && (parseIpv4(value) < first || parseIpv4(value) > last)) ctx.addIssue({ code: 'custom', path: [key], message: `${value} is the network or broadcast address of ${v.subnet}` });
  }
  v.exclude.forEach((value, i) => {
    if (!contains(subnet, parseIpv4(value))) ctx.addIssue({ code: 'custom', path: ['exclude', i], message: `${value} is outside subnet ${v.subnet}` });
  });
  const start = v.rangeStart ? parseIpv4(v.rangeStart) : first;
  const end = v.rangeEnd ? parseIpv4(v.rangeEnd) : last;
  if (start > end) ctx.addIssue({ code: 'custom', path: ['rangeEnd'], message: 'rangeEnd is before rangeStart' });
});

const staticIpam = z.strictObject({
  type: z.literal('static'),
  address: cidr,
  gateway: ipv4.optional(),
  routes: z.array(route).default([]),
});

const vlan = z.union([
  z.strictObject({ id: z.number().int().min(1).max(4094) }),
  z.strictObject({ fromPodName: regex.refine((s) => { try { return new RegExp(`${s}|`).exec('')!.length > 1; } catch { return true; /* reported as not a valid regular expression */ } }, 'needs a capture group for the VLAN number') }),
]);

export const networkSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'must be a DNS-1123 label'),
  bridge: ifName,
  datapathType: z.enum(['system', 'netdev']).default('system'),
  interface: ifName.default('eth1'),
  mtu: z.number().int().min(68).max(65535).default(1500),
  primary: z.boolean().default(false),
  match: z.strictObject({ namespace: regex.optional(), podName: regex.optional() }).default({}),
  vlan,
  ipam: z.discriminatedUnion('type', [hostLocal, staticIpam]).optional(),
});

export const configSchema = z.strictObject({
  ovsdb: z.string().regex(/^(unix:\/.+|tcp:.+:\d+)$/, 'must be unix:/PATH or tcp:HOST:PORT').default('unix:/var/run/openvswitch/db.sock'),
  logFile: absPath.default('/var/log/podvlan.log'),
  stateDir: absPath.default('/var/lib/podvlan'),
  timeoutMs: z.number().int().min(100).max(600000).default(10000),
  runtime: z.strictObject({
    docker: z.strictObject({ socket: absPath.default('/var/run/docker.sock') }).default({ socket: '/var/run/docker.sock' }),
  }).default({ docker: { socket: '/var/run/docker.sock' } }),
  networks: z.array(networkSchema).min(1),
}).superRefine((c, ctx) => {
  const seen = new Set<string>();
  c.networks.forEach((n, i) => {
    if (seen.has(n.name)) ctx.addIssue({ code: 'custom', path: ['networks', i, 'name'], message: `duplicate network name "${n.name}"` });
    seen.add(n.name);
  });
  if (c.networks.filter((n) => n.primary).length > 1) ctx.addIssue({ code: 'custom', path: ['networks'], message: 'at most one network may be primary' });
  const datapath = new Map<string, string>();
  c.networks.forEach((n, i) => {
    const other = datapath.get(n.bridge);
    if (other && other !== n.datapathType) ctx.addIssue({ code: 'custom', path: ['networks', i, 'datapathType'], message: `bridge ${n.bridge} is given two datapath types` });
    datapath.set(n.bridge, n.datapathType);
  });
});

export type Config = z.infer<typeof configSchema>;
export type Network = z.infer<typeof networkSchema>;
export type Ipam = NonNullable<Network['ipam']>;
