// The snapshot `podvlan collect` writes and `diagnose --peer` reads: one node's facts about some
// of its pods (their ports, veths, interfaces, addresses) and the uplinks of their bridges, so
// that diagnose on another node can judge the far half of a path with the same hop modules.
// Versioned (docs/diagnose.md); no secrets: names, numbers and addresses only. The file is input
// from elsewhere: every field is checked (zod), names and addresses by podvlan's own rules.
import { nodeFs } from '../builtins';
import { InvalidInputError, NotFoundError } from '../errors';
import { isInterfaceName, isMac } from '../names';
import type { Attachment } from '../ovs/attachment';
import type { EndFacts, PortFacts, UplinkFacts } from './facts';
import type { InboundTrace } from './read-inbound';
import { ofFamily } from './family';
import { READ_VERSIONS, type Snapshot, type SnapshotPod, snapshotSchema } from './snapshot-schema';

export { SNAPSHOT_VERSION, type Snapshot, type SnapshotPod, snapshotSchema } from './snapshot-schema';

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
      `--peer ${file} is not a podvlan collect snapshot (version ${READ_VERSIONS.join(' or ')}): ${i.path.join('.') || 'top'}: ${i.message}`,
    );
  }
  return r.data;
}

/** One gathered end as the snapshot keeps it; `from`: the source its kernel was asked about. */
export function podOf(end: EndFacts, bridge: string, from?: string, inbound?: InboundTrace): SnapshotPod {
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
    ...(from !== undefined && end.podLink ? { towards: towardsOf(end, from) } : {}),
    ...(inbound ? { inbound: { ...inbound, outputNames: inbound.outputNames.map((n) => n ?? null) } } : {}),
    unread: end.unread,
  };
}

const towardsOf = (end: EndFacts, address: string): NonNullable<SnapshotPod['towards']> => ({
  address,
  ...(end.route ? { route: end.route } : {}),
  ...(end.routeError ? { routeError: end.routeError } : {}),
  ...(end.nextHop ? { nextHop: end.nextHop } : {}),
  ...(end.neighbour !== undefined ? { neighbour: end.neighbour } : {}),
  ...(end.receive ? { receive: end.receive } : {}),
  ...(end.sysctl ? { sysctl: end.sysctl } : {}),
});

/** A snapshot's pod as the destination end of a path (the facts its far-half hops judge); its
 * kernel's view towards the source only when it was collected towards `source` (collect --from). */
export function endOfPod(p: SnapshotPod, source?: string): EndFacts {
  const t = p.towards?.address === source ? p.towards : undefined;
  return {
    ...(t
      ? {
          route: t.route,
          routeError: t.routeError,
          nextHop: t.nextHop,
          neighbour: t.neighbour,
          receive: t.receive,
          sysctl: t.sysctl,
        }
      : {}),
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

/** Every attachment of this node on the config's networks, as OVSDB records it (values that
 * would not pass the snapshot's own checks are left out rather than fail the other node's read). */
export const othersOf = (all: Attachment[], networks: string[]): NonNullable<Snapshot['others']> =>
  all
    .filter((a) => networks.includes(a.network) && isInterfaceName(a.port) && isInterfaceName(a.bridge))
    .map((a) => {
      const vlan = a.vlan ?? (a.tag > 0 ? a.tag : undefined);
      return {
        network: a.network,
        bridge: a.bridge,
        pod: `${a.namespace}/${a.pod}`,
        port: a.port,
        ...(vlan !== undefined && vlan <= 4094 ? { vlan } : {}),
        ...(ofFamily(a.ips, 4) ? { ip: ofFamily(a.ips, 4) } : {}),
        ...(a.mac && isMac(a.mac) ? { mac: a.mac } : {}),
      };
    });
