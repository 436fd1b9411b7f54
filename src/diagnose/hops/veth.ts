// The veth between the pod and the bridge: its host end (the OVS port's device, in the node's
// namespace) there, up and with carrier, paired with the pod's interface in the namespace
// recorded at setup, and its MTU against the network's. The checks the views share (no-veth,
// wrong-netns) come from src/view/judge.ts.
import { checkPodEnd, checkVeth } from '../../view/judge';
import type { LinkFacts } from '../../veth/netlink-read';
import { endOf, type PathFacts, type Side } from '../facts';
import { type Check, type HopModule, pick, unreadable } from './module';
import { type AttachmentRef, asAttachment, attachmentRef, suspicionOf, viewFacts } from './view-checks';

export interface VethFacts {
  ref: AttachmentRef;
  mtu: number; // the network's
  host?: LinkFacts | null; // null: no such link on the node
  podEnd?: LinkFacts | null; // null: not in the recorded namespace; undefined: not read
  unread: Record<string, string>;
}

const name = (f: VethFacts) => `host veth ${f.ref.port}`;
const asView = (f: VethFacts) =>
  [asAttachment(f.ref, undefined), viewFacts(undefined, f.host, f.podEnd, undefined)] as const;

const present: Check<VethFacts> = (f) =>
  f.host === null
    ? suspicionOf(checkVeth(...asView(f)), 'FATAL', 'recreate the pod (its setup makes the veth again)')
    : undefined;

const up: Check<VethFacts> = (f) => {
  if (!f.host) return undefined;
  if (!f.host.up)
    return {
      level: 'CRITICAL',
      code: 'veth-down',
      message: `${name(f)} is down`,
      hint: `ip link set ${f.ref.port} up`,
    };
  // No carrier with the pod end up: the pair is broken in between (the pod end down is its own hop's).
  if (!f.host.carrier && f.podEnd?.up)
    return { level: 'CRITICAL', code: 'veth-no-carrier', message: `${name(f)} is up but has no carrier` };
  return undefined;
};

const paired: Check<VethFacts> = (f) => (f.host ? suspicionOf(checkPodEnd(...asView(f)), 'CRITICAL') : undefined);

const mtu: Check<VethFacts> = (f) =>
  f.host?.mtu !== undefined && f.host.mtu !== f.mtu
    ? {
        level: 'WARNING',
        code: 'mtu-mismatch',
        message: `${name(f)} has MTU ${f.host.mtu}, the network ${f.mtu}`,
        hint: `ip link set ${f.ref.port} mtu ${f.mtu}`,
      }
    : undefined;

export const veth: HopModule<VethFacts> = {
  kind: 'veth',
  reads: ['host-netns', 'pod-netns'],
  views(path: PathFacts, side: Side) {
    const end = endOf(path, side);
    const facts: VethFacts = {
      ref: attachmentRef(end, path.network.bridge),
      mtu: path.network.mtu,
      host: end.hostLink,
      podEnd: end.podLink,
      unread: pick(end.unread, ['host veth']),
    };
    return [{ object: `veth ${end.port}`, facts }];
  },
  checks: [(f) => unreadable(name(f), f.unread), present, up, paired, mtu],
  summary: (f) => {
    if (!f.host) return f.host === null ? 'missing' : 'not read';
    const state = f.host.up ? (f.host.carrier ? 'up' : 'up, no carrier') : 'down';
    return `${state}, mtu ${f.host.mtu}${f.podEnd ? `, peer ${f.ref.interface}` : ''}`;
  },
};
