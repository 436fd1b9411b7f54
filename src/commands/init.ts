// init: the config validates, OVSDB answers, every bridge the node's networks name exists, and every
// uplink is a trunk port carrying exactly its bridge's VLANs; uplinks podvlan made that the config
// no longer lists are removed. The node's networks are podvlan.yaml's and those of the podvlan
// plugins in the CNI conf dir (a CNI node's). All uplinks are checked before anything changes: a
// refused one leaves the node as it was (bridges included).
import { readFileSync } from 'node:fs';
import type { NodeNetworks } from '../cni/conf-dir';
import { datapathTypeOf } from '../config/datapath';
import { hostLinks } from '../net/host-links';
import type { Attachment } from '../ovs/attachment';
import { ensureBridges, findPorts } from '../ovs/bridge';
import { OvsdbClient } from '../ovs/client';
import { select } from '../ovs/ops';
import { describeChange, planUplinks, type UplinkChange, uplinkSpecs, vlanText } from '../ovs/uplink';
import { applyUplinks } from '../ovs/uplink-apply';
import { podVlans } from '../view/judge';
import type { Context } from './context';

export interface InitOptions {
  dryRun?: boolean;
  cni: Pick<NodeNetworks, 'read' | 'skipped'>; // what loadNodeContext took from the CNI conf dir
}

export interface InitResult {
  bridges: string[];
  created: string[]; // with dryRun: the bridges it would create
  uplinks: string[]; // one line per uplink (describeChange)
  cniNetworks: string[]; // "name (file)" of each network read from the CNI conf dir
  notes: string[]; // CNI networks left out, and why
}

/** ctx: from loadNodeContext, its networks podvlan.yaml's and the CNI conf dir's. */
export async function init(ctx: Context, opts: InitOptions): Promise<InitResult> {
  const { config } = ctx;
  const node = opts.cni;
  const names = [...new Set([...config.networks.map((n) => n.bridge), ...config.bridges.map((b) => b.name)])];
  const specs = names.map((name) => ({ name, datapathType: datapathTypeOf(config, name) }));
  const uplinks = uplinkSpecs(config);
  const ovs = await OvsdbClient.connect(config.ovsdb, config.timeoutMs);
  const result = { bridges: names, cniNetworks: node.read, notes: node.skipped };
  try {
    const host = await hostLinks(config.timeoutMs);
    const plan = await planUplinks(ovs, uplinks, host);
    const live = podVlansByBridge((await findPorts(ovs, {})).map((f) => f.attachment));
    const warn = (c: UplinkChange) => linkWarning(c, host.exists(c.spec.name)) + liveVlanWarning(c, live);
    if (opts.dryRun) {
      const found = await ovs.transact(names.map((b) => select('Bridge', [['name', '==', b]], ['name'])));
      const missing = names.filter((_, i) => (found[i].rows ?? []).length === 0);
      return { ...result, created: missing, uplinks: plan.map((c) => describeChange(c, true) + warn(c)) };
    }
    const created = await ensureBridges(ovs, specs, config.timeoutMs);
    await applyUplinks(ovs, plan, config.timeoutMs);
    const lines = plan.map((c) => describeChange(c, false) + warn(c));
    ctx.log.info('init', { bridges: names, created, uplinks: lines, cniNetworks: node.read, notes: node.skipped });
    return { ...result, created, uplinks: lines };
  } finally {
    ovs.close();
  }
}

/** bridge -> VLAN -> the pods on this node whose ports put them on it. */
type LiveVlans = Map<string, Map<number, Set<string>>>;

function podVlansByBridge(attachments: Attachment[]): LiveVlans {
  const live: LiveVlans = new Map();
  for (const a of attachments) {
    const vlans = live.get(a.bridge) ?? new Map<number, Set<string>>();
    live.set(a.bridge, vlans);
    for (const v of podVlans(a)) vlans.set(v, (vlans.get(v) ?? new Set()).add(`${a.namespace}/${a.pod}`));
  }
  return live;
}

/**
 * The config is the truth, so init takes a VLAN off the trunks even while pods of this node are
 * on it (a pool shrunk, a conflist deleted); those pods then lose the other nodes. Never silently:
 * said on the uplink's line, in --dry-run first.
 */
function liveVlanWarning(c: UplinkChange, live: LiveVlans): string {
  // What leaves which bridge: a removed uplink its trunks; a moved one every VLAN of its old bridge.
  const bridge = c.action === 'move' ? c.fromBridge! : c.spec.bridge;
  const onBridge = live.get(bridge);
  if (!onBridge) return '';
  const leaving = c.action === 'remove' ? c.spec.vlans : c.action === 'move' ? [...onBridge.keys()] : c.removeVlans;
  const used = leaving.filter((v) => onBridge.has(v)).sort((x, y) => x - y);
  if (used.length === 0) return '';
  const pods = [...new Set(used.flatMap((v) => [...onBridge.get(v)!]))];
  const named = `${pods.slice(0, 3).join(', ')}${pods.length > 3 ? ', ...' : ''}`;
  return `; warning: VLAN ${vlanText(used)} still used by ${pods.length} pod(s) on this node (${named}), which lose the other nodes on it`;
}

/**
 * OVS takes an uplink whose kernel link is down, or keeps one whose interface went away, and
 * reports nothing on its port: pods then just do not cross. Said on the uplink's line (existence
 * from /proc/net/dev; state from the caller's /sys, which `ip netns exec` mounts for its netns).
 */
function linkWarning(c: UplinkChange, exists: boolean): string {
  if (c.action === 'remove') return '';
  if (!exists)
    return `; warning: no interface ${c.spec.name} on this node (OVS keeps the port, but it carries nothing)`;
  const read = (what: string) => {
    try {
      return readFileSync(`/sys/class/net/${c.spec.name}/${what}`, 'utf8').trim(); // a validated interface name
    } catch {
      return undefined; // gone, or no carrier to read while the link is down
    }
  };
  const flags = read('flags');
  if (flags === undefined) return '';
  const IFF_UP = 0x1;
  if ((Number.parseInt(flags, 16) & IFF_UP) === 0)
    return `; warning: ${c.spec.name} is down (ip link set ${c.spec.name} up)`;
  if (read('carrier') === '0')
    return `; warning: ${c.spec.name} has no carrier (its cable, switch port or peer is down)`;
  return '';
}
