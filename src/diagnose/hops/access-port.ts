// The pod's access port on the bridge (the host veth as an OVS port): there, ours, this
// container's, attached by ovs-vswitchd, and tagged with the VLAN recorded at setup.
import type { PathFacts, PortFacts, Side } from '../facts';
import type { Suspicion } from '../model';
import { type Check, type HopModule, pick, unreadable } from './module';

export interface AccessPortFacts {
  pod: string; // ns/pod
  name: string;
  bridge: string; // the network's
  recordedTag?: number;
  currentContainer?: string; // the pod record's container
  repair?: string; // the command that makes the pod's attachments again (exec mode)
  ovs?: PortFacts; // undefined: no Port row
  unread: Record<string, string>;
}

const port = (f: AccessPortFacts) => `port ${f.name}`;

const present: Check<AccessPortFacts> = (f) => {
  if (f.ovs || 'port' in f.unread) return undefined;
  return {
    level: 'FATAL',
    code: 'port-missing',
    message: `${port(f)} of ${f.pod} is not on bridge ${f.bridge}`,
    hint: f.repair ?? 'recreate the pod',
  };
};

const owner: Check<AccessPortFacts> = (f) => {
  const o = f.ovs;
  if (!o) return undefined;
  const out: Suspicion[] = [];
  if (o.bridge !== undefined && o.bridge !== f.bridge)
    out.push({
      level: 'CRITICAL',
      code: 'port-wrong-bridge',
      message: `${port(f)} is on bridge ${o.bridge}, not ${f.bridge}`,
    });
  if (!o.managed)
    out.push({ level: 'CRITICAL', code: 'port-not-ours', message: `${port(f)} exists but podvlan did not make it` });
  else if (o.containerId && f.currentContainer && o.containerId !== f.currentContainer)
    out.push({
      level: 'CRITICAL',
      code: 'port-stale',
      message: `${port(f)} belongs to container ${o.containerId.slice(0, 12)}, not ${f.pod}'s current ${f.currentContainer.slice(0, 12)}`,
      hint: 'podvlan gc',
    });
  return out;
};

const attached: Check<AccessPortFacts> = (f) => {
  const o = f.ovs;
  if (!o) return undefined;
  const out: Suspicion[] = [];
  if (o.ofport === undefined || o.ofport <= 0)
    out.push({
      level: 'CRITICAL',
      code: 'ofport',
      message: `ovs-vswitchd did not attach ${port(f)} (ofport ${o.ofport ?? 'empty'})`,
      hint: "see ovs-vswitchd's log",
    });
  if (o.error) out.push({ level: 'CRITICAL', code: 'interface-error', message: `interface ${f.name}: ${o.error}` });
  return out;
};

const tag: Check<AccessPortFacts> = (f) => {
  const o = f.ovs;
  if (!o || f.recordedTag === undefined || o.tag === f.recordedTag) return undefined;
  const fix = `ovs-vsctl set port ${f.name} tag=${f.recordedTag}`;
  if (o.tag === undefined)
    return {
      level: 'CRITICAL',
      code: 'tag-missing',
      message: `${port(f)} has no VLAN tag (a trunk of every VLAN): setup gave it ${f.recordedTag}`,
      hint: fix,
    };
  return {
    level: 'CRITICAL',
    code: 'tag-differs',
    message: `${port(f)} has tag ${o.tag}, setup gave it ${f.recordedTag}`,
    hint: fix,
  };
};

export const accessPort: HopModule<AccessPortFacts> = {
  kind: 'access-port',
  reads: ['ovsdb', 'pod-record'],
  view(path: PathFacts, side: Side) {
    const end = path[side];
    const facts: AccessPortFacts = {
      pod: `${end.namespace}/${end.pod}`,
      name: end.port,
      bridge: path.network.bridge,
      recordedTag: end.recordedTag,
      currentContainer: end.currentContainer,
      repair:
        end.cni || !end.currentContainer
          ? undefined
          : `podvlan setup ${end.namespace} ${end.pod} ${end.currentContainer}`,
      ovs: end.ovs,
      unread: pick(end.unread, ['port', 'pod record']),
    };
    return { object: `port ${end.port}`, facts };
  },
  checks: [(f) => unreadable(port(f), f.unread), present, owner, attached, tag],
  summary: (f) =>
    f.ovs
      ? `tag ${f.ovs.tag ?? 'none'}, ofport ${f.ovs.ofport ?? 'empty'}${f.ovs.linkState ? `, link ${f.ovs.linkState}` : ''}`
      : 'missing',
};
