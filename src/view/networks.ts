// One network as `podvlan networks` shows it: where its VLANs come from, which are in use and by
// how many pods, whether each uplink of its bridge carries them, its address pool, its problems.
// Pure: built from attachment and bridge views already judged.
import type { Network } from '../config/schema';
import { vlanText } from '../ovs/uplink';
import { noBridge, podVlans } from './judge';
import type { AttachmentView, BridgeView, NetworkView, PoolUsage, Problem } from './model';
import { checkPool, type PoolResult } from './pools';

export function networkView(
  name: string,
  n: Network | undefined,
  attachments: AttachmentView[],
  bridges: BridgeView[],
  pool: PoolResult | undefined,
): NetworkView {
  const mine = attachments.filter((v) => v.attachment.network === name);
  const bridge = n?.bridge ?? mine[0]?.attachment.bridge ?? '';
  const inUse = vlansInUse(mine);
  const tags = inUse.map((u) => u.vlan);
  const b = bridges.find((x) => x.name === bridge);
  const uplinks = (b?.uplinks ?? []).map((u) => {
    const lacking = new Set(u.missing);
    const missing = tags.filter((t) => lacking.has(t));
    return { name: u.name, carries: u.exists && missing.length === 0, missing, exists: u.exists };
  });
  const delegated = n ? undefined : delegatedUsage(mine);
  const usages = pool?.pools ?? (delegated ? [delegated] : []);
  const problems: Problem[] = [
    ...(b && !b.exists ? [noBridge(bridge)] : []),
    ...uplinks.filter((u) => !u.carries).map((u) => uplinkProblem(name, bridge, u, inUse)),
    ...(pool?.problem ? [pool.problem] : []),
    ...usages.flatMap((u) => checkPool(name, u) ?? []),
  ];
  const broken = mine.filter((v) => v.state !== 'ok').length;
  return {
    name,
    bridge,
    ...vlanSource(n),
    inUse,
    uplinks: uplinks.map(({ exists: _e, ...u }) => u),
    ...(usages.length > 0 ? { pool: usages[0], pools: usages } : {}),
    attachments: { ok: mine.length - broken, broken },
    problems,
  };
}

/** Where the network's VLANs come from, and the ones its config declares. */
export function vlanSource(n: Network | undefined): Pick<NetworkView, 'vlanSource' | 'declared'> {
  if (!n) return { vlanSource: 'unknown', declared: '' };
  const v = n.vlan;
  if ('id' in v) return { vlanSource: 'id', declared: String(v.id) };
  if ('pool' in v) return { vlanSource: 'pool', declared: v.pool };
  if ('trunk' in v) return { vlanSource: 'trunk', declared: v.trunk };
  const source = 'fromPodName' in v ? 'fromPodName' : 'fromAnnotation';
  return { vlanSource: source, declared: v.range ?? 'any' };
}

/** The VLANs the attachments carry, each with how many pods (a multi-homed pod counts once per VLAN). */
export function vlansInUse(views: AttachmentView[]): { vlan: number; pods: number }[] {
  const pods = new Map<number, Set<string>>();
  for (const { attachment: a } of views) {
    for (const vlan of podVlans(a)) {
      if (!pods.has(vlan)) pods.set(vlan, new Set());
      pods.get(vlan)!.add(`${a.namespace}/${a.pod}`);
    }
  }
  return [...pods].sort(([x], [y]) => x - y).map(([vlan, who]) => ({ vlan, pods: who.size }));
}

/** VLANs in use as text, consecutive VLANs with the same number of pods as one range: a trunk
 * port's "100-110(1)" (one pod on each), not eleven entries; "22(2),99(1)" stays as it is. */
export function inUseText(inUse: { vlan: number; pods: number }[]): string {
  const runs: { first: number; last: number; pods: number }[] = [];
  for (const u of inUse) {
    const run = runs.at(-1);
    if (run && u.vlan === run.last + 1 && u.pods === run.pods) run.last = u.vlan;
    else runs.push({ first: u.vlan, last: u.vlan, pods: u.pods });
  }
  return runs.map((r) => `${r.first === r.last ? r.first : `${r.first}-${r.last}`}(${r.pods})`).join(',');
}

/** A delegate plugin's addresses: only how many this node's attachments hold is known. */
function delegatedUsage(views: AttachmentView[]): PoolUsage | undefined {
  const held = views.filter((v) => v.attachment.ipamPlugin !== undefined && v.attachment.ips.length > 0);
  return held.length ? { type: 'delegated', size: 0, used: held.length, free: 0 } : undefined;
}

function uplinkProblem(
  network: string,
  bridge: string,
  u: { name: string; missing: number[]; exists: boolean },
  inUse: { vlan: number; pods: number }[],
): Problem {
  if (!u.exists)
    return {
      code: 'uplink-missing',
      message: `uplink ${u.name} of bridge ${bridge} is not a port of it: ${network}'s pods reach no other node (run podvlan init)`,
    };
  const pods = inUse.filter((x) => u.missing.includes(x.vlan)).reduce((sum, x) => sum + x.pods, 0);
  return {
    code: 'uplink-vlans',
    message: `uplink ${u.name} of bridge ${bridge} does not carry VLAN ${vlanText(u.missing)} of ${network} (${pods} pod${pods === 1 ? '' : 's'}; run podvlan init)`,
  };
}
