// diagnose --all: every attachment of this node checked for local faults, each on its own hops
// (pod interface, veth, access port, the bridge's uplinks for its VLAN), for a cron job or an
// alert. The attachments are the union of OVSDB's ports (the state of record) and the pod
// records (so a port deleted by hand is still checked, as no-port). No destination: no route,
// no datapath question. Read only.
import type { Network } from '../config/schema';
import type { PathFacts } from '../diagnose/facts';
import { pathFamily, recordedList } from '../diagnose/family';
import { gatherOptions, gatherPath } from '../diagnose/gather';
import { judgePath } from '../diagnose/hops';
import {
  type Endpoint,
  exitCodeOf,
  type Hop,
  type Level,
  SCHEMA_VERSION,
  verdictLine,
  worstOf,
} from '../diagnose/model';
import { findPorts } from '../ovs/bridge';
import { OvsdbClient } from '../ovs/client';
import { isOwnRecordedPort, listPodRecords, type PodRecord } from '../state/pod-record';
import { type Context, nodeName } from './context';
import { type Known, othersOn, seed } from './diagnose';

export interface AttachmentResult {
  src: Endpoint;
  network: string;
  verdict: string;
  worst: Level | 'OK';
  hops: Hop[];
}

export interface DiagnoseAllResult {
  version: typeof SCHEMA_VERSION;
  node: string;
  worst: Level | 'OK';
  attachments: AttachmentResult[];
}

/** 0 clean, 1 warnings only, 2 a critical or fatal suspicion on any attachment. */
export const exitCodeOfAll = (r: DiagnoseAllResult): 0 | 1 | 2 =>
  Math.max(0, ...r.attachments.map((a) => exitCodeOf(a.hops))) as 0 | 1 | 2;

export async function diagnoseAll(ctx: Context): Promise<DiagnoseAllResult> {
  const { config } = ctx;
  const ovs = await OvsdbClient.connect(config.ovsdb, config.timeoutMs);
  try {
    const ports = await findPorts(ovs, {});
    const records = new Map<string, PodRecord>();
    for (const r of listPodRecords(config.stateDir)) records.set(`${r.namespace}/${r.pod}`, r);
    // Every (pod, network) of the config: from a port, else from a record.
    const pairs = new Map<string, { known: Known; network: Network }>();
    const add = (namespace: string, pod: string, networkName: string) => {
      const network = config.networks.find((n) => n.name === networkName);
      const key = `${namespace}/${pod} ${networkName}`;
      if (!network || pairs.has(key)) return;
      const known: Known = {
        ref: { namespace, pod },
        attachments: ports
          .map((p) => p.attachment)
          .filter((a) => a.namespace === namespace && a.pod === pod && a.network === networkName),
        record: records.get(`${namespace}/${pod}`),
      };
      pairs.set(key, { known, network });
    };
    for (const { attachment: a } of ports) add(a.namespace, a.pod, a.network);
    for (const r of records.values())
      for (const a of r.attachments ?? []) if (isOwnRecordedPort(r, a)) add(r.namespace, r.pod, a.network);
    const sorted = [...pairs.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, v]) => v);
    const all = ports.map((p) => p.attachment);
    const attachments = await Promise.all(
      sorted.map(({ known, network }) => checkOne(ctx, ovs, known, network, othersOn(all, network.name))),
    );
    const worst = worstOf(attachments.flatMap((a) => a.hops))?.suspicion.level ?? 'OK';
    return { version: SCHEMA_VERSION, node: nodeName(config), worst, attachments };
  } finally {
    ovs.close();
  }
}

async function checkOne(
  ctx: Context,
  ovs: OvsdbClient,
  known: Known,
  network: Network,
  others: PathFacts['others'],
): Promise<AttachmentResult> {
  const { config } = ctx;
  // Its own family: IPv4, or IPv6 on an IPv6-only network (the address check covers both anyway).
  const ips =
    known.attachments[0]?.ips ?? recordedList(known.record?.attachments?.find((a) => a.network === network.name));
  const family = pathFamily(ips);
  const src = seed('src', known, network, family);
  const path: PathFacts = {
    node: nodeName(config),
    ...(family === 6 ? { family: 6 as const } : {}),
    network: { name: network.name, mtu: network.mtu, interface: network.interface, bridge: network.bridge },
    src,
    bridge: { name: network.bridge, unread: {} },
    others,
  };
  await gatherPath(path, gatherOptions(config, network, ovs, true));
  const hops = judgePath(path, true);
  return {
    src: {
      namespace: src.namespace,
      pod: src.pod,
      ...(path.srcAddress ? { address: path.srcAddress } : {}),
      port: src.port,
      ...(src.recordedTag !== undefined ? { vlan: src.recordedTag } : {}),
    },
    network: network.name,
    verdict: verdictLine(hops),
    worst: worstOf(hops)?.suspicion.level ?? 'OK',
    hops,
  };
}
