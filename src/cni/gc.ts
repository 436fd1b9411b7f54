// GC (CNI 1.1.0): the runtime lists the attachments of this network that are still valid
// (`cni.dev/valid-attachments`: [{containerID, ifname}]); every podvlan CNI attachment of this
// network on this node that is not listed goes: its port, its veth, its addresses (node leases
// or this node's etcd allocations) and VLAN membership, and its lock file, as DEL would remove
// them. Also the holdings of an interrupted ADD (a lease, a veth, no port) of an unlisted owner.
//
// Only this network's (SPEC.md: "Garbage collection is a per-network operation"), only CNI rows
// (exec-mode pods of a network of the same name are Docker's, judged by `podvlan gc`), only this
// node's etcd entries. Each owner is removed under its per-pod lock; a port made after the
// snapshot (an ADD that raced the runtime's list) is left alone. One owner that cannot be cleaned
// does not stop the others: the errors are reported together at the end, as the spec asks.
//
// Without the key, nothing is removed: the spec makes the runtime send it, and a list that is not
// there says nothing about which attachments are valid (see docs/cni.md, "GC").
import { type Delegate, delegateDel, delegateForGc } from './delegate';
import { type Context, clusterOf, nodeName } from '../commands/context';
import { detach, releaseOwner, releaseVlan } from '../commands/detach';
import type { Network } from '../config/schema';
import { hasEtcdPool } from '../config/pools';
import { isPooledVlan, listNodeLeases, type Owner } from '../ipam';
import { listAllocations } from '../ipam/etcd-pool';
import { isValidOwner } from '../ipam/pool';
import { listVlans } from '../ipam/vlan-pool';
import { hostVethName } from '../names';
import { findPorts, type FoundPort } from '../ovs/bridge';
import { OvsdbClient } from '../ovs/client';
import { KEY_PREFIX } from '../ovs/attachment';
import { lockPod } from '../state/lock';
import { readPodRecord } from '../state/pod-record';
import { CNI_NAMESPACE, CNI_RUNTIME, type CniOwner, cniOwner, ownerSelector } from './owner';
import { CniCode, CniError, toErrorObject } from './spec';

export const VALID_KEY = 'cni.dev/valid-attachments';
// The name the spec text used until July 2024 (containernetworking/cni#1101); libcni sends both.
export const OLD_VALID_KEY = 'cni.dev/attachments';

export interface GcAttachment {
  containerID: string;
  ifname: string;
}

/** The valid attachments from the config text; undefined when the runtime sent neither key. */
export function validAttachments(text: string): GcAttachment[] | undefined {
  const raw = JSON.parse(text) as Record<string, unknown>; // parseNetConf has read it as JSON already
  const lists = [VALID_KEY, OLD_VALID_KEY].filter((k) => raw[k] !== undefined);
  if (lists.length === 0) return undefined;
  // Both keys (libcni >= 1.2.1 sends the same list twice): what either lists is kept.
  return lists.flatMap((key) => {
    const list = raw[key];
    if (!Array.isArray(list))
      throw new CniError(CniCode.invalidNetworkConfig, `network config: ${key}: not an array of {containerID, ifname}`);
    return list.map((entry, i) => {
      const e = entry as Partial<GcAttachment> | null;
      if (!e || typeof e !== 'object' || typeof e.containerID !== 'string' || typeof e.ifname !== 'string')
        throw new CniError(
          CniCode.invalidNetworkConfig,
          `network config: ${key}[${i}]: not an object with string containerID and ifname`,
        );
      return { containerID: e.containerID, ifname: e.ifname };
    });
  });
}

export interface GcOutcome {
  removed: string[]; // owners removed, "cniContainerId/ifname" or "pod/interface" for a bare lease
  addresses: string[];
}

/** The owner key every holding of an attachment carries, in the core's (mapped) form: the mapped
 * pod is a hash of container id and interface, so VLAN memberships (which have no interface) match too. */
export const keyOf = (o: { pod: string; containerId: string }) => `${o.pod}/${o.containerId}`;
const CNI_POD = /^cni-[0-9a-f]{16}$/;

/** `delegate`: the network's delegated IPAM plugin, whose DEL frees a stale attachment's address. */
export async function gc(
  ctx: Context,
  network: Network,
  valid: GcAttachment[] | undefined,
  delegate?: Delegate,
): Promise<GcOutcome> {
  const log = ctx.log.with({ cmd: 'cni-gc', network: network.name });
  if (valid === undefined) {
    log.warn('GC without cni.dev/valid-attachments: nothing removed', {});
    return { removed: [], addresses: [] };
  }
  const keep = new Set(valid.map((v) => keyOf(toIpam(cniOwner(v.containerID, network.name, v.ifname)))));
  const ovs = await OvsdbClient.connect(ctx.config.ovsdb, ctx.config.timeoutMs);
  const outcome: GcOutcome = { removed: [], addresses: [] };
  const failed: { what: string; err: unknown }[] = [];
  try {
    const ports = await findPorts(ovs, { [`${KEY_PREFIX}network`]: network.name });
    const snapshot = new Set(ports.map((f) => f.uuid));
    const stale = new Map<string, CniOwner>();
    for (const f of ports) {
      const a = f.attachment;
      if (a.runtime !== CNI_RUNTIME || a.cniContainerId === undefined || keep.has(keyOf(a))) continue;
      stale.set(keyOf(a), cniOwner(a.cniContainerId, network.name, a.interface));
    }
    // Holdings whose owner has no port at all: an interrupted ADD's, unless an exec-mode setup of
    // a pod that happens to look like a CNI owner (its record names it; CNI writes none).
    const withPort = new Set(ports.map((f) => keyOf(f.attachment)));
    const bare = new Map<string, Owner>();
    for (const h of await holdings(ctx, network)) {
      const k = keyOf(h);
      if (keep.has(k) || withPort.has(k) || stale.has(k) || bare.has(k)) continue;
      if (readPodRecord(ctx.config.stateDir, h.namespace, h.pod)) continue;
      bare.set(k, h);
    }
    const ipam = delegate && stale.size > 0 ? await delegateForGc(delegate) : undefined;
    for (const o of stale.values()) {
      const what = `${o.cniContainerId}/${o.interface}`;
      await removeOwner(ctx, ovs, toIpam(o), o.port, snapshot, outcome, what)
        // The address is the delegate's: its DEL for this container and interface, as a runtime's
        // DEL would have run it (no netns: the attachment is gone).
        .then(() => (ipam ? delegateDel(forOwner(ipam, o)) : undefined))
        .catch((err) => failed.push({ what, err }));
    }
    for (const h of bare.values()) {
      const what = `${h.pod}/${h.interface} (no port)`;
      const port = hostVethName(h.namespace, h.pod, h.network);
      await removeOwner(ctx, ovs, h, port, snapshot, outcome, what).catch((err) => failed.push({ what, err }));
    }
  } finally {
    ovs.close();
  }
  log.info('gc', { kept: valid.length, ...outcome, failed: failed.map((f) => f.what) });
  if (failed.length > 0) {
    const first = toErrorObject(failed[0].err, '1.1.0');
    throw new CniError(
      first.code,
      `GC could not remove ${failed.length} stale attachment(s) of network ${network.name}; the others were removed`,
      failed.map((f) => `${f.what}: ${toErrorObject(f.err, '1.1.0').msg}`).join('; '),
    );
  }
  return outcome;
}

const forOwner = (d: Delegate, o: CniOwner): Delegate => ({
  ...d,
  env: { ...d.env, CNI_CONTAINERID: o.cniContainerId, CNI_IFNAME: o.interface, CNI_NETNS: '', CNI_ARGS: '' },
});

const toIpam = (o: CniOwner): Owner => ({
  network: o.network,
  namespace: o.ref.namespace,
  pod: o.ref.pod,
  containerId: o.ref.containerId,
  interface: o.interface,
});

/** This node's addresses and VLAN memberships of CNI owners on this network. */
export async function holdings(ctx: Context, network: Network): Promise<Owner[]> {
  const cniForm = (o: Owner) => o.network === network.name && o.namespace === CNI_NAMESPACE && CNI_POD.test(o.pod);
  const out: Owner[] = listNodeLeases(ctx.config.stateDir).filter(cniForm);
  const pooled = isPooledVlan(network.vlan);
  if (!hasEtcdPool(network) && !pooled) return out;
  const cluster = clusterOf(ctx);
  if (!cluster) return out;
  const node = nodeName(ctx.config);
  if (hasEtcdPool(network))
    out.push(...(await listAllocations(cluster.client, cluster.prefix, network.name)).filter((a) => a.node === node));
  if (pooled)
    for (const v of await listVlans(cluster.client, cluster.prefix, network.name))
      out.push(...v.members.filter((m) => m.node === node).map((m) => ({ ...m, interface: '' })));
  return out.filter((o) => cniForm(o) && isValidOwner(o));
}

/**
 * Remove one owner under its lock: the ports of the snapshot (none if a newer one appeared),
 * the veth by the owner's name, the addresses and VLAN membership, then the lock file.
 */
async function removeOwner(
  ctx: Context,
  ovs: OvsdbClient,
  owner: Owner,
  port: string,
  snapshot: Set<string>,
  outcome: GcOutcome,
  what: string,
): Promise<void> {
  const { stateDir, timeoutMs } = ctx.config;
  const lock = await lockPod(stateDir, owner.namespace, owner.pod, timeoutMs);
  let done = false;
  try {
    const selector = ownerSelector({
      ref: { namespace: owner.namespace, pod: owner.pod, containerId: owner.containerId },
      cniContainerId: '',
      network: owner.network,
      interface: owner.interface,
      port,
    });
    // A VLAN membership alone names no interface (''); the mapped pod already stands for
    // container id and interface, so the owner's port is found without it.
    if (owner.interface === '') delete selector[`${KEY_PREFIX}interface`];
    const now: FoundPort[] = await findPorts(ovs, selector);
    if (now.some((f) => !snapshot.has(f.uuid))) return; // an ADD made it after the runtime's list
    const result = await detach(ctx, ovs, now, { extraLinks: [port] });
    if (now.length === 0) {
      result.addresses.push(...(await releaseOwner(ctx, owner)));
      // No port, so no recorded Kubernetes names: the member keys say which holder it joined.
      await releaseVlan(ctx, owner, { cni: {} });
    }
    outcome.removed.push(what);
    outcome.addresses.push(...result.addresses);
    done = true;
  } finally {
    lock.release({ removeFile: done });
  }
}
