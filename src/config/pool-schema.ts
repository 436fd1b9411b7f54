// The address pools of a network's `ipam` (docs/config.md): host-local, static and etcd, each of
// one family. The subnet (static: the address) decides the family; every other address or prefix
// of the pool must be of it, so a pool never hands out, routes or excludes across families.
import { z } from 'zod';
import {
  canonicalIp,
  type Family,
  familyName,
  familyOfText,
  type IpPrefix,
  parseIp,
  parseIpPrefix,
  poolHostRange,
  prefixContains,
  sameIp,
  tryParseIp,
} from '../ipam/ip';
import { DNS1123_LABEL, DNS1123_SUBDOMAIN } from '../names';

/** The longest IPv6 pool subnet: see checkSubnetLength. */
export const LONGEST_IPV6_POOL = 126;

export const ipAddress = z
  .string()
  .refine((s) => tryParseIp(s) !== undefined, { message: 'not an IP address', abort: true });
export const ipPrefix = z.string().refine(
  (s) => {
    try {
      parseIpPrefix(s);
      return true;
    } catch {
      return false;
    }
  },
  { message: 'not an IP prefix (address/len)', abort: true },
);
const label = z.string().max(63).regex(DNS1123_LABEL, 'must be a DNS-1123 label');
const subdomain = z.string().max(253).regex(DNS1123_SUBDOMAIN, 'must be a DNS-1123 subdomain');

const route = z.strictObject({ dst: ipPrefix, via: ipAddress.optional() });
type Route = z.infer<typeof route>;

// The address range fields shared by host-local and etcd pools.
const rangeFields = {
  subnet: ipPrefix,
  rangeStart: ipAddress.optional(),
  rangeEnd: ipAddress.optional(),
  gateway: ipAddress.optional(),
  exclude: z.array(ipAddress).default([]),
  routes: z.array(route).default([]),
};

export const hostLocal = z.strictObject({ type: z.literal('host-local'), ...rangeFields }).superRefine((v, ctx) => {
  checkRangePool(v, ctx);
});

export const staticIpam = z
  .strictObject({
    type: z.literal('static'),
    address: ipPrefix,
    gateway: ipAddress.optional(),
    routes: z.array(route).default([]),
  })
  .superRefine((v, ctx) => {
    // An interface address, not a pool to hand out from: any length (a /128 or /32 is one host).
    const family = familyOfText(v.address);
    const owner = `address ${v.address}`;
    if (v.gateway !== undefined) checkFamily(ctx, ['gateway'], v.gateway, family, owner);
    checkRoutes(ctx, v.routes, family, owner);
  });

// Cluster-wide addresses from etcd: like host-local, plus explicit per-pod addresses.
export const etcdIpam = z
  .strictObject({
    type: z.literal('etcd'),
    ...rangeFields,
    fixed: z.array(z.strictObject({ namespace: label, pod: subdomain, address: ipAddress })).optional(),
  })
  .superRefine((v, ctx) => {
    const subnet = checkRangePool(v, ctx);
    if (subnet) checkFixed(v, subnet, ctx);
  });

export { poolFamily } from './pools';

type RangePool = {
  subnet: string;
  rangeStart?: string;
  rangeEnd?: string;
  gateway?: string;
  exclude: string[];
  routes: Route[];
};
type FixedPool = RangePool & { fixed?: { namespace: string; pod: string; address: string }[] };

/** What a pool may not hand out at the low/high end, in words: IPv4's network and broadcast
 * addresses, IPv6's Subnet-Router anycast address (the first; IPv6 has no broadcast). */
function reservedWords(family: Family): string {
  return family === 4 ? 'the network or broadcast address' : 'the Subnet-Router anycast address';
}

/**
 * The host-local rules, in both families: every field of the subnet's family, rangeStart/rangeEnd/
 * gateway/exclude inside the subnet, the range inside the hand-out range and in order. Returns the
 * subnet when its own checks pass (the etcd checks build on it).
 */
function checkRangePool(v: RangePool, ctx: z.RefinementCtx): IpPrefix | undefined {
  const subnet = parseIpPrefix(v.subnet);
  const family = subnet.address.family;
  const owner = `subnet ${v.subnet}`;
  checkRoutes(ctx, v.routes, family, owner);
  if (!checkSubnetLength(v.subnet, subnet, ctx)) return undefined;
  const [first, last] = poolHostRange(subnet);
  const ok = { rangeStart: true, rangeEnd: true };
  for (const key of ['rangeStart', 'rangeEnd', 'gateway'] as const) {
    const value = v[key];
    if (value === undefined) continue;
    const inside = checkFamily(ctx, [key], value, family, owner) && checkInside(ctx, [key], value, subnet, v.subnet);
    if (key === 'gateway') continue;
    ok[key] = inside;
    const ip = parseIp(value);
    if (inside && (ip.value < first.value || ip.value > last.value)) {
      ok[key] = false;
      ctx.addIssue({ code: 'custom', path: [key], message: `${value} is ${reservedWords(family)} of ${v.subnet}` });
    }
  }
  v.exclude.forEach((value, i) => {
    if (checkFamily(ctx, ['exclude', i], value, family, owner))
      checkInside(ctx, ['exclude', i], value, subnet, v.subnet);
  });
  if (!ok.rangeStart || !ok.rangeEnd) return subnet;
  const start = v.rangeStart ? parseIp(v.rangeStart).value : first.value;
  const end = v.rangeEnd ? parseIp(v.rangeEnd).value : last.value;
  if (start > end) ctx.addIssue({ code: 'custom', path: ['rangeEnd'], message: 'rangeEnd is before rangeStart' });
  return subnet;
}

/**
 * An IPv6 pool's subnet is at most /126. A /127 is a point-to-point link (RFC 6164) and a /128 one
 * host: neither has room for the Subnet-Router anycast address a pool leaves out plus a gateway
 * and a pod. IPv4 pools keep their old rule (any length; /31 and /32 hand out every address).
 */
function checkSubnetLength(text: string, subnet: IpPrefix, ctx: z.RefinementCtx): boolean {
  if (subnet.address.family === 4 || subnet.length <= LONGEST_IPV6_POOL) return true;
  ctx.addIssue({
    code: 'custom',
    path: ['subnet'],
    message:
      `${text} is too long for an IPv6 pool: use /${LONGEST_IPV6_POOL} or shorter (a /127 is a point-to-point ` +
      'link and a /128 one host: neither leaves room for the Subnet-Router anycast address, a gateway and pods)',
  });
  return false;
}

/** The etcd `fixed` addresses: inside the hand-out range, not the gateway, each once, one per pod. */
function checkFixed(v: FixedPool, subnet: IpPrefix, ctx: z.RefinementCtx): void {
  const family = subnet.address.family;
  const [first, last] = poolHostRange(subnet);
  const addresses = new Map<string, number>();
  const pods = new Map<string, number>();
  (v.fixed ?? []).forEach((f, i) => {
    const path = ['fixed', i, 'address'];
    if (!checkFamily(ctx, path, f.address, family, `subnet ${v.subnet}`)) return;
    const ip = parseIp(f.address);
    if (!checkInside(ctx, path, f.address, subnet, v.subnet)) {
      // reported
    } else if (ip.value < first.value || ip.value > last.value)
      ctx.addIssue({ code: 'custom', path, message: `${f.address} is ${reservedWords(family)} of ${v.subnet}` });
    else if (v.gateway !== undefined && sameIp(ip, parseIp(v.gateway)))
      ctx.addIssue({ code: 'custom', path, message: `${f.address} is the gateway` });
    const key = canonicalIp(f.address); // fd00::5 and fd00::05 are one address
    if (addresses.has(key))
      ctx.addIssue({ code: 'custom', path, message: `${f.address} is also fixed for entry ${addresses.get(key)}` });
    addresses.set(key, i);
    const pod = `${f.namespace}/${f.pod}`;
    if (pods.has(pod))
      ctx.addIssue({
        code: 'custom',
        path: ['fixed', i, 'pod'],
        message: `pod ${pod} already has a fixed address (entry ${pods.get(pod)})`,
      });
    pods.set(pod, i);
  });
}

/** A route's dst and via are of the pool's family (a pool's routes go on its own family's table). */
function checkRoutes(ctx: z.RefinementCtx, routes: Route[], family: Family, owner: string): void {
  routes.forEach((r, i) => {
    checkFamily(ctx, ['routes', i, 'dst'], r.dst, family, owner);
    if (r.via !== undefined) checkFamily(ctx, ['routes', i, 'via'], r.via, family, owner);
  });
}

function checkFamily(
  ctx: z.RefinementCtx,
  path: (string | number)[],
  value: string,
  family: Family,
  owner: string,
): boolean {
  const own = familyOfText(value);
  if (own === family) return true;
  ctx.addIssue({
    code: 'custom',
    path,
    message: `${value} is ${familyName(own)} but ${owner} is ${familyName(family)}`,
  });
  return false;
}

function checkInside(
  ctx: z.RefinementCtx,
  path: (string | number)[],
  value: string,
  subnet: IpPrefix,
  text: string,
): boolean {
  if (prefixContains(subnet, parseIp(value))) return true;
  ctx.addIssue({ code: 'custom', path, message: `${value} is outside subnet ${text}` });
  return false;
}
