// The snapshot's schema (`podvlan collect` writes it, `diagnose --peer` reads it): every field
// of a file that comes from another node checked, names and addresses by podvlan's own rules,
// unknown fields refused. Version 2 added `towards`, `inbound` (collect --from) and `others`.
import { z } from 'zod';
import { isDns1123Label, isInterfaceName, isIpv4, isIpv4Prefix, isMac, isPodName } from '../names';

export const SNAPSHOT_VERSION = 2;
/** Version 1 (before `towards`, `inbound` and `others`) is still read: those parts are then unchecked. */
export const READ_VERSIONS = [1, 2] as const;

const ifname = z.string().refine(isInterfaceName, 'not an interface name');
const count = z.number().int().min(0).max(0xffffffff);
const short = z.string().max(256);
const unread = z.record(z.string().max(64), short).default({});

const link = z
  .object({
    index: count,
    name: ifname,
    up: z.boolean(),
    carrier: z.boolean(),
    operstate: z.string().max(32),
    noarp: z.boolean(),
    mtu: count.optional(),
    mac: z.string().refine(isMac, 'not a MAC').optional(),
    peerIndex: count.optional(),
    peerNetnsId: z.number().int().optional(),
    master: count.optional(),
    kind: z.string().max(32).optional(),
  })
  .strict();

const port = z
  .object({
    name: ifname,
    bridge: ifname.optional(),
    tag: z.number().int().min(0).max(4095).optional(),
    trunks: z.array(z.number().int().min(0).max(4095)).max(4096),
    vlanMode: z.string().max(32).optional(),
    ofport: z.number().int().optional(),
    error: short.optional(),
    linkState: z.string().max(32).optional(),
    adminState: z.string().max(32).optional(),
    mtu: count.optional(),
    managed: z.boolean(),
    containerId: z.string().max(256).optional(),
  })
  .strict();

const ipv4 = z.string().refine(isIpv4, 'not an IPv4 address');
const pair = z.tuple([z.number().int(), z.number().int()]);

/** The pod's own kernel towards the source (collect --from): route, neighbour, receive path. */
const towards = z
  .object({
    address: ipv4, // the source's, as given to --from
    route: z
      .object({
        type: z.string().max(32),
        oif: count.optional(),
        gateway: ipv4.optional(),
        prefsrc: ipv4.optional(),
        oifName: ifname.optional(),
      })
      .strict()
      .optional(),
    routeError: short.optional(),
    nextHop: ipv4.optional(),
    neighbour: z
      .object({ state: z.string().max(32), mac: z.string().refine(isMac, 'not a MAC').optional() })
      .strict()
      .nullable()
      .optional(),
    receive: z
      .union([
        z.object({ ok: z.literal(true) }).strict(),
        z.object({ ok: z.literal(false), error: short, errno: z.number().int() }).strict(),
      ])
      .optional(),
    sysctl: z.object({ rpFilter: pair, arpIgnore: pair }).strict().optional(),
  })
  .strict();

/** The far bridge's verdict for the source's frame coming in on an uplink (read-inbound.ts). */
const inbound = z
  .object({
    uplink: ifname,
    flow: z.string().max(512),
    actions: z.string().max(4096),
    drop: z.boolean(),
    outputs: z.array(z.object({ port: count, vlan: z.number().int().min(0).max(4095).optional() }).strict()).max(4096),
    outputNames: z.array(ifname.nullable()).max(4096),
    pushedVlans: z.array(z.number().int().min(0).max(4095)).max(4096),
    rule: short.optional(),
    notes: z.array(short).max(64),
    other: z.array(short).max(64),
    podOdpPort: count.optional(),
  })
  .strict();

/** Another attachment of the node (OVSDB's record), for duplicate addresses across nodes. */
const other = z
  .object({
    network: z.string().refine(isDns1123Label, 'not a network name'),
    bridge: ifname,
    pod: z
      .string()
      .max(317)
      .refine((p) => {
        const [ns, name, ...rest] = p.split('/');
        return rest.length === 0 && isDns1123Label(ns) && name !== undefined && isPodName(name);
      }, 'not namespace/pod'),
    port: ifname,
    vlan: z.number().int().min(1).max(4094).optional(),
    ip: z.string().refine(isIpv4Prefix, 'not a.b.c.d/len').optional(),
    mac: z.string().refine(isMac, 'not a MAC').optional(),
  })
  .strict();

const pod = z
  .object({
    namespace: z.string().refine(isDns1123Label, 'not a namespace'),
    pod: z.string().refine(isPodName, 'not a pod name'),
    network: z.string().refine(isDns1123Label, 'not a network name'),
    bridge: ifname,
    interface: ifname,
    port: ifname,
    vlan: z.number().int().min(1).max(4094).optional(), // as recorded at setup
    recordedIp: z.string().refine(isIpv4Prefix, 'not a.b.c.d/len').optional(),
    recordedMac: z.string().refine(isMac, 'not a MAC').optional(),
    netnsGone: z.boolean().optional(),
    ovs: port.optional(), // absent: no Port row
    link: link.nullable().optional(), // the pod's interface; null: not there
    hostLink: link.nullable().optional(), // the host veth; null: not there
    addresses: z.array(z.string().refine(isIpv4Prefix, 'not a.b.c.d/len')).max(256).optional(),
    towards: towards.optional(),
    inbound: inbound.optional(),
    unread,
  })
  .strict();

const uplink = z
  .object({ bridge: ifname, name: ifname, ovs: port.optional(), link: link.nullable().optional(), unread })
  .strict();

export const snapshotSchema = z
  .object({
    version: z.union(READ_VERSIONS.map((v) => z.literal(v)) as [z.ZodLiteral<1>, z.ZodLiteral<2>]),
    kind: z.literal('podvlan-collect'),
    node: z.string().max(253).refine(isPodName, 'not a node name'),
    collectedAt: z.string().datetime(),
    pods: z.array(pod).max(10_000),
    uplinks: z.array(uplink).max(1_000),
    others: z.array(other).max(100_000).optional(),
  })
  .strict();

export type Snapshot = z.infer<typeof snapshotSchema>;
export type SnapshotPod = Snapshot['pods'][number];
