// The attachment checks the operator's views run (src/view/judge.ts: port, veth, pod end,
// ofport, error, tag), run on one path's facts: the same rule and the same code in `list`'s
// STATE and in diagnose, with a level added here.
import type { Attachment } from '../../ovs/attachment';
import type { LinkFacts } from '../../veth/netlink-read';
import type { AttachmentFacts } from '../../view/judge';
import type { Problem } from '../../view/model';
import type { EndFacts, PortFacts } from '../facts';
import type { Level, Suspicion } from '../model';

/** What the view checks read of an attachment (its other fields are not looked at). */
export interface AttachmentRef {
  namespace: string;
  pod: string;
  network: string;
  interface: string;
  port: string;
  bridge: string;
  netns?: string;
}

export function asAttachment(r: AttachmentRef, currentTag: number | undefined): Attachment {
  return { ...r, containerId: '', mac: '', tag: currentTag ?? 0, ips: [] };
}

export function attachmentRef(end: EndFacts, bridge: string): AttachmentRef {
  return {
    namespace: end.namespace,
    pod: end.pod,
    network: end.network,
    interface: end.interface,
    port: end.port,
    bridge,
    ...(end.recordedNetns ? { netns: end.recordedNetns } : {}),
  };
}

/** The views' facts from diagnose's: the Port row, the host veth, the pod end as read. */
export function viewFacts(
  ovs: PortFacts | undefined,
  host: LinkFacts | null | undefined,
  podEnd: LinkFacts | null | undefined,
  expectedTag: number | undefined,
): AttachmentFacts {
  return {
    ...(ovs ? { port: { bridge: ovs.bridge, ofport: ovs.ofport, error: ovs.error } } : {}),
    ...(host ? { veth: { ifindex: host.index, iflink: host.peerIndex ?? 0 } } : {}),
    // Only a namespace that was read is judged here (one that is gone is the pod hop's FATAL).
    ...(podEnd !== undefined
      ? {
          netns: {
            state: 'read' as const,
            links: podEnd
              ? [
                  {
                    name: podEnd.name,
                    ifindex: podEnd.index,
                    ...(podEnd.peerIndex !== undefined ? { peerIndex: podEnd.peerIndex } : {}),
                    ...(podEnd.kind ? { kind: podEnd.kind } : {}),
                    up: podEnd.up,
                    addresses: [],
                  },
                ]
              : [],
          },
        }
      : {}),
    ...(expectedTag !== undefined ? { expectedTag } : {}),
  };
}

export function suspicionOf(p: Problem | undefined, level: Level, hint?: string): Suspicion | undefined {
  return p ? { level, code: p.code, message: p.message, ...(hint ? { hint } : {}) } : undefined;
}
