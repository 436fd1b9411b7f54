// The veth between the pod and the bridge: its host end (the OVS port's device, in the node's
// namespace) up and with carrier, paired with the pod's interface in the namespace recorded at
// setup, and its MTU against the network's.
import type { LinkFacts } from '../../veth/netlink-read';
import type { PathFacts, Side } from '../facts';
import type { HopModule } from './module';
import { pick, unreadable } from './module';

export interface VethFacts {
  pod: string; // ns/pod
  name: string; // the host end
  interface: string; // the pod end's name
  mtu: number; // the network's
  recordedNetns?: string;
  host?: LinkFacts | null; // null: no such link on the node
  podEnd?: Pick<LinkFacts, 'index' | 'peerIndex' | 'up'> | null; // null: not in the recorded namespace
  unread: Record<string, string>;
}

export const veth: HopModule<VethFacts> = {
  kind: 'veth',
  reads: ['host-netns', 'pod-netns'],
  view(path: PathFacts, side: Side) {
    const end = path[side];
    const l = end.podLink;
    const facts: VethFacts = {
      pod: `${end.namespace}/${end.pod}`,
      name: end.port,
      interface: end.interface,
      mtu: path.network.mtu,
      recordedNetns: end.recordedNetns,
      host: end.hostLink,
      podEnd: l ? { index: l.index, peerIndex: l.peerIndex, up: l.up } : l,
      unread: pick(end.unread, ['host veth']),
    };
    return { object: `veth ${end.port}`, facts };
  },
  checks: [
    (f) => unreadable(`veth ${f.name}`, f.unread),
    (f) =>
      f.host === null
        ? {
            level: 'CRITICAL',
            code: 'veth-missing',
            message: `host veth ${f.name} of ${f.pod} is missing`,
            hint: 'recreate the pod (its setup makes the veth again)',
          }
        : undefined,
    (f) =>
      f.host && !f.host.up
        ? {
            level: 'CRITICAL',
            code: 'veth-down',
            message: `host veth ${f.name} is down`,
            hint: `ip link set ${f.name} up`,
          }
        : undefined,
    // No carrier with the pod end up: the pair is broken in between (the pod end down is its own hop's).
    (f) =>
      f.host?.up && !f.host.carrier && f.podEnd?.up
        ? { level: 'CRITICAL', code: 'veth-no-carrier', message: `host veth ${f.name} is up but has no carrier` }
        : undefined,
    (f) => {
      if (!f.host || f.podEnd === undefined) return undefined;
      const paired = f.podEnd !== null && f.podEnd.peerIndex === f.host.index && f.host.peerIndex === f.podEnd.index;
      if (paired) return undefined;
      return {
        level: 'CRITICAL',
        code: 'veth-peer-elsewhere',
        message: `the pod end of host veth ${f.name} is not ${f.interface} in the namespace recorded for ${f.pod}${f.recordedNetns ? ` (${f.recordedNetns})` : ''}`,
      };
    },
    (f) =>
      f.host?.mtu !== undefined && f.host.mtu !== f.mtu
        ? {
            level: 'WARNING',
            code: 'mtu-mismatch',
            message: `host veth ${f.name} has MTU ${f.host.mtu}, the network ${f.mtu}`,
            hint: `ip link set ${f.name} mtu ${f.mtu}`,
          }
        : undefined,
  ],
  summary: (f) => {
    if (!f.host) return f.host === null ? 'missing' : 'not read';
    const state = f.host.up ? (f.host.carrier ? 'up' : 'up, no carrier') : 'down';
    return `${state}, mtu ${f.host.mtu}${f.podEnd ? `, peer ${f.interface}` : ''}`;
  },
};
