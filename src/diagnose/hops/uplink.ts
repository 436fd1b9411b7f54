// An uplink of the bridge, where a packet for another node leaves: a port of the bridge that
// carries the source's VLAN (the views' own uplink checks: uplink-missing, uplink-vlans, error,
// ofport, from src/view/judge.ts), its link up with carrier (the wire), its MTU. What lies beyond
// (the wire, the other node's half) is not read in this version: said as INFO on the hop.
import { carriedVlans, trunkGaps, uplinkProblems } from '../../view/judge';
import type { PathFacts, UplinkFacts } from '../facts';
import type { Level, Suspicion } from '../model';
import { type Check, type HopModule, pick, unreadable } from './module';

export interface UplinkHopFacts extends UplinkFacts {
  bridge: string;
  vlan?: number; // the source's
  mtu: number; // the network's
  remote?: string; // the destination address
}

const at = (f: UplinkHopFacts) => `uplink ${f.name}`;

/** The views' judgement of the uplink, for this one VLAN. */
const shared: Check<UplinkHopFacts> = (f) => {
  if ('port' in f.unread) return undefined;
  const o = f.ovs;
  const want = f.vlan === undefined ? [] : [f.vlan];
  const carried = o ? carriedVlans(o) : [];
  const levels: Record<string, Level> = {
    'uplink-missing': 'CRITICAL',
    'uplink-vlans': 'CRITICAL',
    error: 'CRITICAL',
    ofport: 'CRITICAL',
  };
  return uplinkProblems({
    name: f.name,
    bridge: f.bridge,
    managed: true,
    exists: o !== undefined && o.bridge === f.bridge,
    trunks: o?.trunks ?? [],
    ofport: o?.ofport,
    error: o?.error,
    missing: trunkGaps(carried, want, undefined).missing,
    extra: [],
  }).map(
    (p): Suspicion => ({ level: levels[p.code] ?? 'CRITICAL', code: p.code, message: p.message, hint: 'podvlan init' }),
  );
};

const link: Check<UplinkHopFacts> = (f) => {
  const l = f.hostLink;
  if (l === null)
    return { level: 'CRITICAL', code: 'uplink-link-missing', message: `${at(f)} has no link on this node` };
  if (!l) return undefined;
  if (!l.up)
    return { level: 'CRITICAL', code: 'uplink-down', message: `${at(f)} is down`, hint: `ip link set ${f.name} up` };
  if (!l.carrier)
    return {
      level: 'CRITICAL',
      code: 'uplink-no-carrier',
      message: `${at(f)} has no carrier: the wire or the other end is down`,
    };
  return undefined;
};

const mtu: Check<UplinkHopFacts> = (f) =>
  f.hostLink?.mtu !== undefined && f.hostLink.mtu < f.mtu
    ? {
        level: 'WARNING',
        code: 'mtu-mismatch',
        message: `${at(f)} has MTU ${f.hostLink.mtu}, below the network's ${f.mtu}: larger frames are dropped on the way out`,
      }
    : undefined;

const beyond: Check<UplinkHopFacts> = (f) =>
  f.remote === undefined // diagnose --all: no destination, nothing beyond to speak of
    ? undefined
    : {
        level: 'INFO',
        code: 'far-side-unchecked',
        message: `beyond ${at(f)} (the wire, and the node that holds ${f.remote}) is not checked by this version`,
      };

export const uplink: HopModule<UplinkHopFacts> = {
  kind: 'uplink',
  reads: ['ovsdb', 'host-netns', 'vswitchd', 'config'],
  views: (path: PathFacts) =>
    (path.uplinks ?? []).map((u) => ({
      id: `uplink-${u.name}`,
      object: `uplink ${u.name}`,
      facts: {
        ...u,
        unread: pick(u.unread, ['port', 'host link']),
        bridge: path.bridge.name,
        vlan: path.src.recordedTag,
        mtu: path.network.mtu,
        remote: path.remote?.address,
      },
    })),
  checks: [(f) => unreadable(at(f), f.unread), shared, link, mtu, beyond],
  summary: (f) => {
    if (!f.ovs) return 'no port';
    const vlans = carriedVlans(f.ovs);
    const l = f.hostLink;
    const state = l
      ? l.up
        ? l.carrier
          ? 'up'
          : 'up, no carrier'
        : 'down'
      : l === null
        ? 'no link'
        : 'link not read';
    return `${state}, trunks ${vlans === 'all' ? 'all' : vlans.join(',') || 'none'}${l?.mtu ? `, mtu ${l.mtu}` : ''}`;
  },
};
