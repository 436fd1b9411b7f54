// The bridge between the two access ports: it exists, both ends are on one VLAN, and the
// datapath's own verdict (ofproto/trace) for the packet from the source port delivers it,
// untagged, to the destination port (for a destination on another node: tagged with the VLAN to
// an uplink). Also what the bridge has learned of the destination's MAC.
import type { BridgeFacts, PathFacts } from '../facts';
import type { Suspicion } from '../model';
import { type Check, type HopModule, unreadable } from './module';

export interface BridgeHopFacts extends BridgeFacts {
  src: { pod: string; port: string; vlan?: number };
  // absent: on another node; trunk: the destination's port is a trunk, the packet reaches it tagged
  dst?: { pod: string; port: string; vlan?: number; ofport?: number; trunk?: boolean };
  remote?: string; // the destination address, when it is on another node
}

const bridge = (f: BridgeHopFacts) => `bridge ${f.name}`;

const exists: Check<BridgeHopFacts> = (f) =>
  f.exists === false
    ? { level: 'FATAL', code: 'bridge-missing', message: `${bridge(f)} does not exist`, hint: 'podvlan init' }
    : undefined;

const sameVlan: Check<BridgeHopFacts> = (f) => {
  if (!f.dst) return undefined;
  const [a, b] = [f.src.vlan, f.dst.vlan];
  if (a === undefined || b === undefined || a === b) return undefined;
  return {
    level: 'CRITICAL',
    code: 'vlan-differs',
    message: `${f.src.pod} is on VLAN ${a}, ${f.dst.pod} on VLAN ${b}: ${bridge(f)} keeps them apart`,
  };
};

/** "in_port=2, priority 100" as ovs-ofctl writes a match: "priority=100,in_port=2". */
function ruleMatch(rule: string): string {
  const parts = rule.split(',').map((p) => p.trim());
  const priority = parts.find((p) => p.startsWith('priority '))?.split(' ')[1];
  const rest = parts.filter((p) => !p.startsWith('priority ') && !p.startsWith('cookie '));
  return [...(priority ? [`priority=${priority}`] : []), ...rest].join(',');
}

const datapath: Check<BridgeHopFacts> = (f) => {
  const t = f.trace;
  if (!t) return undefined;
  const why = t.notes.length > 0 ? ` (${t.notes[0].replace(/^>+\s*|\s*<+$/g, '')})` : '';
  if (t.drop) {
    const byRule = t.rule && t.rule !== 'priority 0';
    return {
      level: 'CRITICAL',
      code: 'datapath-drop',
      message: `${bridge(f)} drops the packet from ${f.src.port}${byRule ? `: flow "${t.rule}"` : ''}${why}`,
      ...(byRule ? { hint: `ovs-ofctl --strict del-flows ${f.name} "${ruleMatch(t.rule!)}"` } : {}),
    };
  }
  const names = t.outputNames.map((n, i) => n ?? `datapath port ${t.outputs[i].port}`);
  const only = names.length ? `: only to ${names.join(', ')}` : '';
  if (!f.dst) {
    // Leaving the node: tagged with the source's VLAN, out of an uplink.
    const exits = new Set((f.uplinkOdpPorts ?? []).map((u) => u.odp));
    if (exits.size === 0 || t.outputs.some((o) => exits.has(o.port) && o.vlan === f.src.vlan)) return undefined;
    return {
      level: 'CRITICAL',
      code: 'datapath-no-uplink',
      message: `${bridge(f)} does not send the packet from ${f.src.port} to ${f.remote} out of an uplink tagged ${f.src.vlan}${only}${why}`,
    };
  }
  const out: Suspicion[] = [];
  const toDst = t.outputs.filter((o) => o.port === f.dstOdpPort);
  if (f.dstOdpPort !== undefined && toDst.length === 0) {
    out.push({
      level: 'CRITICAL',
      code: 'datapath-no-output',
      message: `${bridge(f)} does not send the packet from ${f.src.port} to ${f.dst.port}${only}${why}`,
    });
  } else if (f.dst.trunk) {
    const bad = toDst.find((o) => o.vlan !== f.dst?.vlan);
    if (bad)
      out.push({
        level: 'CRITICAL',
        code: 'datapath-tagged-output',
        message: `${bridge(f)} sends the packet to trunk port ${f.dst.port} ${bad.vlan === undefined ? 'untagged' : `tagged ${bad.vlan}`}, not tagged ${f.dst.vlan}`,
      });
  } else if (toDst.some((o) => o.vlan !== undefined))
    out.push({
      level: 'CRITICAL',
      code: 'datapath-tagged-output',
      message: `${bridge(f)} sends the packet to ${f.dst.port} tagged (VLAN ${toDst[0].vlan}): the pod cannot read it`,
    });
  return out;
};

/** A destination elsewhere leaves by an uplink: a bridge without one cannot reach it. */
const uplinks: Check<BridgeHopFacts> = (f) =>
  !f.dst && f.uplinks !== undefined && f.uplinks.length === 0 && f.exists !== false
    ? {
        level: 'CRITICAL',
        code: 'no-uplink',
        message: `${f.remote} is not a pod of this node, and ${bridge(f)} has no uplink to other nodes`,
        hint: 'list the uplink in bridges[].uplinks and run podvlan init',
      }
    : undefined;

const learned: Check<BridgeHopFacts> = (f) => {
  const l = f.dstMacLearned;
  if (!l || !f.dst || f.dst.ofport === undefined || l.port === f.dst.ofport) return undefined;
  return {
    level: 'WARNING',
    code: 'mac-elsewhere',
    message: `${bridge(f)} has learned ${f.dst.pod}'s MAC on OpenFlow port ${l.port} (VLAN ${l.vlan}), not on ${f.dst.port} (${f.dst.ofport})`,
  };
};

export const bridgeHop: HopModule<BridgeHopFacts> = {
  kind: 'bridge',
  reads: ['ovsdb', 'vswitchd', 'config'],
  views(path: PathFacts) {
    const { src, dst } = path;
    const facts: BridgeHopFacts = {
      ...path.bridge,
      src: { pod: `${src.namespace}/${src.pod}`, port: src.port, vlan: src.recordedTag },
      ...(dst
        ? {
            dst: {
              pod: `${dst.namespace}/${dst.pod}`,
              port: dst.port,
              vlan: dst.recordedTag,
              ofport: dst.ovs?.ofport,
              ...(dst.trunk ? { trunk: true } : {}),
            },
          }
        : { remote: path.remote?.address }),
    };
    return [{ object: bridge(facts), facts }];
  },
  checks: [exists, (f) => unreadable(bridge(f), f.unread), sameVlan, uplinks, datapath, learned],
  summary: (f) => {
    if (f.exists === false) return 'missing';
    const vlans = !f.dst || f.src.vlan === f.dst.vlan ? `vlan ${f.src.vlan}` : `vlans ${f.src.vlan}/${f.dst.vlan}`;
    if (!f.trace) return vlans;
    const outs = f.trace.outputs.map(
      (o, i) => `${f.trace!.outputNames[i] ?? o.port}${o.vlan === undefined ? '' : `.${o.vlan}`}`,
    );
    return `${vlans}, datapath: ${f.trace.drop ? 'drop' : outs.join(' ')}`;
  },
};
