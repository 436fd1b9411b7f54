// The far half from another node's OVSDB, in place of its snapshot: a `peers:` entry of the
// config gives that node's remote (tcp:HOST:PORT), read with podvlan's own RFC 7047 client. What
// OVSDB holds there is read (the destination's Port and Interface rows, its recorded VLAN,
// address and MAC, the bridge's uplinks, the node's other attachments); what only that node's
// kernel or ovs-vswitchd can answer (the pod's namespace, the veth, the uplink's link, the
// datapath's trace) is not, and the far hops say so (far.ts), never guessing it.
import type { Config } from '../config/schema';
import type { Attachment } from '../ovs/attachment';
import { findPorts } from '../ovs/bridge';
import { OvsdbClient } from '../ovs/client';
import { ofFamily } from './family';
import { readPathOvs } from './read-ovs';
import { othersOf, SNAPSHOT_VERSION, type Snapshot, snapshotSchema } from './snapshot';

const text = (err: unknown) => (err instanceof Error ? err.message : String(err));
const bare = (cidr?: string) => cidr?.split('/')[0];
// A snapshot carries IPv4 only (its schema, version 2): an attachment's IPv4 address, if any.

export interface PeerRead {
  snapshot?: Snapshot; // the node that holds the destination, its OVS facts only
  errors: string[]; // peers that could not be read, one line each
}

/** Ask every configured peer (in parallel) for the destination: by name, else by address, on one
 * of the source's networks. The first (config order) that holds it answers. */
export async function readPeers(
  config: Pick<Config, 'peers' | 'networks' | 'timeoutMs'>,
  networks: Set<string>,
  dst: { namespace: string; pod: string } | undefined,
  address: string | undefined,
): Promise<PeerRead> {
  const answers: { snapshot?: Snapshot; error?: string }[] = await Promise.all(
    (config.peers ?? []).map((p) =>
      readPeer(p, config, networks, dst, address).then(
        (snapshot) => ({ snapshot }),
        (err) => ({ error: `OVSDB of node ${p.node} at ${p.ovsdb}: ${text(err)}` }),
      ),
    ),
  );
  return {
    snapshot: answers.find((a) => a.snapshot)?.snapshot,
    errors: answers.flatMap((a) => (a.error ? [a.error] : [])),
  };
}

async function readPeer(
  peer: NonNullable<Config['peers']>[number],
  config: Pick<Config, 'networks' | 'timeoutMs'>,
  networks: Set<string>,
  dst: { namespace: string; pod: string } | undefined,
  address: string | undefined,
): Promise<Snapshot | undefined> {
  const client = await OvsdbClient.connect(peer.ovsdb, config.timeoutMs);
  try {
    const all = (await findPorts(client, {})).map((p) => p.attachment);
    const holds = (a: Attachment) =>
      networks.has(a.network) &&
      (dst
        ? a.namespace === dst.namespace && a.pod === dst.pod
        : address !== undefined && a.ips.some((ip) => bare(ip) === address));
    const a = all.find(holds);
    if (!a) return undefined;
    const first = await readPathOvs(client, [a.port], true);
    const uplinks = first.marked.filter((m) => m.bridge === a.bridge).map((m) => m.name);
    const rows = uplinks.length > 0 ? (await readPathOvs(client, uplinks)).ports : new Map();
    const vlan = a.vlan ?? (a.tag > 0 ? a.tag : undefined);
    const port = first.ports.get(a.port);
    // What another node's OVSDB says is input from elsewhere: checked as a snapshot file is.
    const checked = snapshotSchema.safeParse({
      version: SNAPSHOT_VERSION,
      kind: 'podvlan-collect',
      node: peer.node,
      collectedAt: new Date().toISOString(),
      pods: [
        {
          namespace: a.namespace,
          pod: a.pod,
          network: a.network,
          bridge: a.bridge,
          interface: a.interface,
          port: a.port,
          ...(vlan !== undefined ? { vlan } : {}),
          ...(ofFamily(a.ips, 4) ? { recordedIp: ofFamily(a.ips, 4) } : {}),
          ...(a.mac ? { recordedMac: a.mac } : {}),
          ...(port ? { ovs: port } : {}),
          unread: {},
        },
      ],
      uplinks: uplinks.map((name) => ({
        bridge: a.bridge,
        name,
        ...(rows.get(name) ? { ovs: rows.get(name) } : {}),
        unread: {},
      })),
      others: othersOf(
        all,
        config.networks.map((n) => n.name),
      ),
    });
    if (!checked.success) {
      const i = checked.error.issues[0];
      throw new Error(`its rows do not pass podvlan's checks: ${i.path.join('.')}: ${i.message}`);
    }
    return checked.data;
  } finally {
    client.close();
  }
}
