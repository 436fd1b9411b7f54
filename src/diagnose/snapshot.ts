// The snapshot `podvlan collect` writes and `diagnose --peer` reads: one node's facts about some
// of its pods (their ports, veths, interfaces, addresses) and the uplinks of their bridges, so
// that diagnose on another node can judge the far half of a path with the same hop modules.
// Versioned (docs/diagnose.md); no secrets: names, numbers and addresses only. The file is input
// from elsewhere: every field is checked (zod), names and addresses by podvlan's own rules.
import { z } from 'zod';
import { nodeFs } from '../builtins';
import { InvalidInputError, NotFoundError } from '../errors';
import { isDns1123Label, isInterfaceName, isIpv4Prefix, isMac, isPodName } from '../names';
import type { EndFacts, PortFacts, UplinkFacts } from './facts';

export const SNAPSHOT_VERSION = 1;

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
    unread,
  })
  .strict();

const uplink = z
  .object({ bridge: ifname, name: ifname, ovs: port.optional(), link: link.nullable().optional(), unread })
  .strict();

export const snapshotSchema = z
  .object({
    version: z.literal(SNAPSHOT_VERSION),
    kind: z.literal('podvlan-collect'),
    node: z.string().max(253).refine(isPodName, 'not a node name'),
    collectedAt: z.string().datetime(),
    pods: z.array(pod).max(10_000),
    uplinks: z.array(uplink).max(1_000),
  })
  .strict();

export type Snapshot = z.infer<typeof snapshotSchema>;
export type SnapshotPod = Snapshot['pods'][number];

/** A snapshot file's text, checked; InvalidInputError in one line naming the file and the field. */
export function parseSnapshot(text: string, file: string): Snapshot {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new InvalidInputError(`--peer ${file} is not JSON: ${(err as Error).message}`);
  }
  const r = snapshotSchema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new InvalidInputError(
      `--peer ${file} is not a podvlan collect snapshot (version ${SNAPSHOT_VERSION}): ${i.path.join('.') || 'top'}: ${i.message}`,
    );
  }
  return r.data;
}

/** One gathered end as the snapshot keeps it. */
export function podOf(end: EndFacts, bridge: string): SnapshotPod {
  return {
    namespace: end.namespace,
    pod: end.pod,
    network: end.network,
    bridge,
    interface: end.interface,
    port: end.port,
    ...(end.recordedTag !== undefined ? { vlan: end.recordedTag } : {}),
    ...(end.recordedIp ? { recordedIp: end.recordedIp } : {}),
    ...(end.recordedMac ? { recordedMac: end.recordedMac } : {}),
    ...(end.netns?.gone ? { netnsGone: true } : {}),
    ...(end.ovs ? { ovs: end.ovs } : {}),
    ...(end.podLink !== undefined ? { link: end.podLink } : {}),
    ...(end.hostLink !== undefined ? { hostLink: end.hostLink } : {}),
    ...(end.addresses ? { addresses: end.addresses } : {}),
    unread: end.unread,
  };
}

/** A snapshot's pod as the destination end of a path (the facts its far-half hops judge). */
export function endOfPod(p: SnapshotPod): EndFacts {
  return {
    side: 'dst',
    namespace: p.namespace,
    pod: p.pod,
    network: p.network,
    interface: p.interface,
    port: p.port,
    recordedTag: p.vlan,
    recordedIp: p.recordedIp,
    recordedMac: p.recordedMac,
    ...(p.netnsGone ? { netns: { inode: '', gone: true } } : {}),
    ovs: p.ovs as PortFacts | undefined,
    podLink: p.link,
    hostLink: p.hostLink,
    addresses: p.addresses,
    unread: { ...p.unread },
  };
}

export const uplinkOf = (u: Snapshot['uplinks'][number]): UplinkFacts => ({
  name: u.name,
  ovs: u.ovs,
  hostLink: u.link,
  unread: { ...u.unread },
});

/** The snapshot file `--peer` names, read and checked. */
export function readSnapshot(file: string): Snapshot {
  let text: string;
  try {
    text = nodeFs().readFileSync(file, 'utf8');
  } catch (err) {
    throw new NotFoundError(
      `--peer ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? err}): write it with podvlan collect on the other node`,
    );
  }
  return parseSnapshot(text, file);
}

/** The snapshot's pod that is the destination: by name, else the one whose address it is. */
export function findPeerPod(
  s: Snapshot,
  network: string,
  ref?: { namespace: string; pod: string },
  address?: string,
): SnapshotPod | undefined {
  const bare = (cidr?: string) => cidr?.split('/')[0];
  return s.pods.find(
    (p) =>
      p.network === network &&
      (ref
        ? p.namespace === ref.namespace && p.pod === ref.pod
        : bare(p.recordedIp) === address || (p.addresses ?? []).some((a) => bare(a) === address)),
  );
}
