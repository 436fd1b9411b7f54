// The pod's access port on the bridge (the host veth as an OVS port): there and on its bridge,
// ours and this container's, attached by ovs-vswitchd, tagged with the VLAN set at setup. The
// checks the views share (no-port, ofport, error, tag-differs) come from src/view/judge.ts.
import { checkError, checkOfport, checkPort, checkTag } from '../../view/judge';
import { endOf, type PathFacts, type PortFacts, type Side } from '../facts';
import type { Suspicion } from '../model';
import { type Check, type HopModule, pick, unreadable } from './module';
import { checkTrunkPort, type TrunkFacts, trunkSummary } from './trunk-port';
import { type AttachmentRef, asAttachment, attachmentRef, suspicionOf, viewFacts } from './view-checks';

export interface AccessPortFacts {
  ref: AttachmentRef;
  expectedTag?: number; // the tag setup set (podvlan/vlan), else the config's or the pod record's
  currentContainer?: string; // the pod record's container
  repair?: string; // the command that makes the pod's attachments again (exec mode)
  ovs?: PortFacts; // undefined: no Port row
  trunk?: TrunkFacts; // a trunk port: its trunks are checked for the VLAN followed, not its tag
  unread: Record<string, string>;
}

const port = (f: AccessPortFacts) => `port ${f.ref.port}`;
const pod = (f: AccessPortFacts) => `${f.ref.namespace}/${f.ref.pod}`;
const asView = (f: AccessPortFacts) =>
  [asAttachment(f.ref, f.ovs?.tag), viewFacts(f.ovs, undefined, undefined, f.expectedTag)] as const;

const present: Check<AccessPortFacts> = (f) => {
  if ('port' in f.unread) return undefined;
  return suspicionOf(checkPort(...asView(f)), f.ovs ? 'CRITICAL' : 'FATAL', f.repair ?? 'recreate the pod');
};

const owner: Check<AccessPortFacts> = (f) => {
  const o = f.ovs;
  if (!o) return undefined;
  if (!o.managed)
    return { level: 'CRITICAL', code: 'port-not-ours', message: `${port(f)} exists but podvlan did not make it` };
  if (o.containerId && f.currentContainer && o.containerId !== f.currentContainer)
    return {
      level: 'CRITICAL',
      code: 'port-stale',
      message: `${port(f)} belongs to container ${o.containerId.slice(0, 12)}, not ${pod(f)}'s current ${f.currentContainer.slice(0, 12)}`,
      hint: 'podvlan gc',
    };
  return undefined;
};

const attached: Check<AccessPortFacts> = (f) =>
  [
    suspicionOf(checkOfport(...asView(f)), 'CRITICAL', "see ovs-vswitchd's log"),
    suspicionOf(checkError(...asView(f)), 'CRITICAL'),
  ].filter((s): s is Suspicion => s !== undefined);

const tag: Check<AccessPortFacts> = (f) =>
  f.trunk
    ? checkTrunkPort(f.ref.port, pod(f), f.ovs, f.trunk)
    : suspicionOf(checkTag(...asView(f)), 'CRITICAL', `ovs-vsctl set port ${f.ref.port} tag=${f.expectedTag}`);

export const accessPort: HopModule<AccessPortFacts> = {
  kind: 'access-port',
  reads: ['ovsdb', 'pod-record', 'config'],
  views(path: PathFacts, side: Side) {
    const end = endOf(path, side);
    const facts: AccessPortFacts = {
      ref: attachmentRef(end, path.network.bridge),
      expectedTag: end.recordedTag,
      currentContainer: end.currentContainer,
      repair:
        end.cni || !end.currentContainer
          ? undefined
          : `podvlan setup ${end.namespace} ${end.pod} ${end.currentContainer}`,
      ovs: end.ovs,
      ...(end.trunk ? { trunk: end.trunk } : {}),
      unread: pick(end.unread, ['port', 'pod record']),
    };
    return [{ object: `port ${end.port}`, facts }];
  },
  checks: [(f) => unreadable(port(f), f.unread), present, owner, attached, tag],
  summary: (f) =>
    f.ovs
      ? `${f.trunk ? `${trunkSummary(f.ovs)}, vlan ${f.trunk.vlan}` : `tag ${f.ovs.tag ?? 'none'}`}, ofport ${f.ovs.ofport ?? 'empty'}${f.ovs.linkState ? `, link ${f.ovs.linkState}` : ''}`
      : 'missing',
};
