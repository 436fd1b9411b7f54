// CHECK of one CNI attachment (SPEC.md "CHECK"): the attachment is compared with the result of its
// ADD (prevResult, which the runtime must send) and with the node. Each difference is one error
// naming what differs and on which interface: code 3 when the owner has no attachment at all,
// 100 when it has one that differs. Read only.
//
// What a later plugin of the chain may have changed is taken from prevResult, not from podvlan's
// record: the pod interface's MAC (tuning sets one), routes it removed. podvlan's own resources
// listed in prevResult (its interface, address, routes) must exist as listed.
import type { Context } from '../commands/context';
import { clusterOf } from '../commands/context';
import type { Network } from '../config/schema';
import { ipamPools } from '../config/pools';
import { findPorts } from '../ovs/bridge';
import { OvsdbClient } from '../ovs/client';
import { linkExists } from '../veth/pair';
import type { CniEnv } from './env';
import { readLink } from './host';
import type { NetConf } from './netconf';
import { openNetns } from './netns';
import { leaseHeld, portState } from './node-state';
import { cniOwner, ipamOwner, ownerSelector } from './owner';
import { readPodInterface, routePrefix } from './pod-view';
import { type ChainResult, parsePrevResult } from './prev-result';
import { CniCode, CniError, compareVersions } from './spec';
import { tagFor } from './vlan';
import { formatIpPrefix, parseIpPrefix } from '../ipam/ip';
import { trunkText } from '../ipam/vlan';

const differs = (what: string) => new CniError(CniCode.operationFailed, `CHECK: ${what}`);

export async function check(
  ctx: Context,
  env: CniEnv,
  conf: Pick<NetConf, 'cniVersion' | 'prevResult' | 'network' | 'runtimeConfig'>,
) {
  // SPEC.md: CHECK came with 0.4.0; a plugin answers an older config as the reference skel does.
  if (compareVersions(conf.cniVersion, '0.4.0') < 0)
    throw new CniError(
      CniCode.incompatibleVersion,
      `CHECK is not defined for cniVersion ${conf.cniVersion} (it came with 0.4.0)`,
    );
  const prev = parsePrevResult(conf.prevResult, conf.cniVersion);
  if (!prev)
    throw new CniError(CniCode.invalidNetworkConfig, 'network config: CHECK needs prevResult (the result of the ADD)');
  const network = conf.network;
  const owner = cniOwner(env.containerId, network.name, env.ifname);
  // undefined for an etcd pool VLAN: the tag is the pool's to give, only etcd knows it.
  const tag = tagFor(network, env, ctx.config.networks, conf.runtimeConfig);
  const { timeoutMs, stateDir } = ctx.config;
  const sandbox = openNetns(env.netns);
  try {
    const ovs = await OvsdbClient.connect(ctx.config.ovsdb, timeoutMs);
    try {
      const mine = await findPorts(ovs, ownerSelector(owner));
      if (mine.length === 0)
        throw new CniError(
          CniCode.unknownContainer,
          `no podvlan attachment of ${env.containerId} ${env.ifname} on ${network.name}`,
        );
      const { uuid, attachment: a } = mine[0];
      const port = owner.port;
      const on = `port ${port} of ${env.ifname}`;
      if (tag !== undefined && a.tag !== tag) throw differs(`${on} has VLAN tag ${a.tag}, the config says ${tag}`);
      const trunks = trunkText(network.vlan);
      if (a.trunks !== trunks)
        throw differs(`${on} trunks VLANs ${a.trunks ?? 'none'}, the config says ${trunks ?? 'none (an access port)'}`);
      const state = await portState(ovs, uuid, port, network.bridge);
      if (a.bridge !== network.bridge || !state.onBridge) throw differs(`${on} is not on bridge ${network.bridge}`);
      // ovs-vswitchd sets ofport -1 and error when it cannot open the device (gone, or a clash).
      if (state.error || state.ofport === undefined || state.ofport <= 0)
        throw differs(
          `ovs-vswitchd did not attach ${on} (ofport ${state.ofport ?? 'unset'}): ${state.error ?? 'no error given'}`,
        );
      if (a.netns !== sandbox.inode)
        throw differs(`${on} was made for another network namespace, not CNI_NETNS ${env.netns}`);
      if (!linkExists(port)) throw differs(`host veth ${port} of ${env.ifname} is missing`);
      const pod = await readPodInterface(sandbox, env.ifname, timeoutMs);
      if (!pod) throw differs(`interface ${env.ifname} is missing from CNI_NETNS ${env.netns}`);
      const hostIndex = Number(readLink(port, 'ifindex'));
      const hostPeer = Number(readLink(port, 'iflink'));
      if (pod.kind !== 'veth' || pod.peerIndex !== hostIndex || hostPeer !== pod.ifindex)
        throw differs(`${env.ifname} in CNI_NETNS ${env.netns} is not the veth peer of host veth ${port}`);
      checkAgainstResult(prev, env, port, pod, a.ips);
      // A delegated address has no podvlan lease: the delegate's own CHECK (index.ts) judges it.
      for (const ip of a.ipamPlugin === undefined ? a.ips : [])
        if (!(await leaseHeld(network, stateDir, clusterOf(ctx), ipamOwner(owner), ip.split('/')[0])))
          throw differs(`address ${ip} of ${env.ifname} is no longer leased to it in network ${network.name}`);
      checkRoutes(prev, network, env.ifname, pod.routes);
    } finally {
      ovs.close();
    }
  } finally {
    sandbox.close();
  }
}

/** The pod interface as prevResult lists it: there, with its MAC and addresses; and podvlan's
 * addresses (one per family) on it. */
function checkAgainstResult(
  prev: ChainResult,
  env: CniEnv,
  port: string,
  pod: { mac: string; addresses: string[] },
  own: string[],
): void {
  const index = prev.interfaces.findIndex((i) => i.name === env.ifname && i.sandbox === env.netns);
  if (index < 0) throw differs(`prevResult has no interface ${env.ifname} in sandbox ${env.netns}`);
  const listedMac = prev.interfaces[index].mac?.toLowerCase();
  if (listedMac && listedMac !== pod.mac)
    throw differs(`${env.ifname} has MAC ${pod.mac}, prevResult says ${listedMac}`);
  const host = prev.interfaces.find((i) => i.name === port && !i.sandbox);
  const hostMac = readLink(port, 'address');
  if (host?.mac && hostMac && host.mac.toLowerCase() !== hostMac.toLowerCase())
    throw differs(`host veth ${port} has MAC ${hostMac}, prevResult says ${host.mac}`);
  for (const ip of prev.ips.filter((i) => i.interface === index)) {
    if (!own.includes(canonicalOr(ip.address)))
      throw differs(
        `prevResult lists ${ip.address} on ${env.ifname}, the attachment holds ${own.join(', ') || 'none'}`,
      );
  }
  for (const address of own)
    if (!pod.addresses.includes(address))
      throw differs(`address ${address} is missing from ${env.ifname} in CNI_NETNS ${env.netns}`);
}

/** podvlan's routes (the pool's, via its gateway) that prevResult still lists must be on the interface. */
function checkRoutes(prev: ChainResult, network: Network, ifname: string, present: { dst: string; gw?: string }[]) {
  for (const ipam of ipamPools(network))
    for (const r of ipam.routes) {
      const gw = r.via ?? ipam.gateway;
      const dst = routePrefix(r.dst);
      const listed = prev.routes.some((p) => routePrefix(p.dst, p.dst.includes(':')) === dst && p.gw === gw);
      if (listed && !present.some((p) => p.dst === dst && p.gw === gw))
        throw differs(`route to ${r.dst}${gw ? ` via ${gw}` : ''} is missing from ${ifname}`);
    }
}

/** prevResult's address in podvlan's form (IPv6 may come written another way); as given if it is none. */
function canonicalOr(text: string): string {
  try {
    return formatIpPrefix(parseIpPrefix(text));
  } catch {
    return text;
  }
}
