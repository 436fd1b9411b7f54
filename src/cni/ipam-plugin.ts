// podvlan as the IPAM plugin of another main plugin: a Debian `bridge` or `macvlan` config with
// `"ipam": {"type": "podvlan", "pool": P}` runs this executable for its addresses (SPEC.md
// "Delegated plugins (IPAM)"). P is a podvlan.yaml `ipam` object and the leases are podvlan's
// own (lease files or etcd), so `podvlan ipam list` shows them; the owner is the CNI owner of
// owner.ts (container id, network name, CNI_IFNAME), as in the main-plugin mode.
import type { Context } from '../commands/context';
import { clusterOf } from '../commands/context';
import type { Network } from '../config/schema';
import { hasEtcdPool, ipamPools } from '../config/pools';
import { type FamilyPool, type Lease, leaseDirFor, type Owner, poolsFor } from '../ipam';
import { canonicalIp } from '../ipam/ip';
import { listAllocations } from '../ipam/etcd-pool';
import { sameOwner } from '../ipam/pool';
import { Logger } from '../log';
import { checkStateDir } from '../state/state-dir';
import type { CniEnv, Verb } from './env';
import type { CniIo } from './index';
import { parseIpamConf } from './netconf';
import { cniOwner, ipamOwner } from './owner';
import { CniCode, CniError, compareVersions } from './spec';

export async function runIpamPlugin(verb: Verb, env: CniEnv, stdin: string, io: CniIo): Promise<number> {
  const conf = parseIpamConf(stdin, env.ifname || 'eth0');
  const network = conf.network;
  const log = new Logger(conf.config.logFile).with({
    cmd: `cni-ipam-${verb.toLowerCase()}`,
    container: env.containerId,
    network: network.name,
    interface: env.ifname,
  });
  const ctx: Context = { config: conf.config, log };
  try {
    if (verb === 'GC') {
      checkStateDir(ctx.config.stateDir, { create: true });
      await gcLeases(ctx, network, stdin);
      return 0;
    }
    if (verb === 'STATUS') {
      await poolStatus(ctx, network);
      return 0;
    }
    const owner = cniOwner(env.containerId, network.name, env.ifname);
    const { stateDir } = ctx.config;
    checkStateDir(stateDir, { create: true });
    // No per-owner lock: each verb is one call of the pool, which is atomic per address on its own.
    const pools = poolsFor(network, stateDir, hasEtcdPool(network) ? clusterOf(ctx) : undefined);
    if (pools.length === 0)
      throw new CniError(CniCode.invalidNetworkConfig, 'network config: ipam type podvlan needs a pool');
    if (verb === 'ADD') {
      // A repeated ADD gets the owner's addresses again: one per pool, IPv4 first.
      const leases = await acquireAll(pools, ipamOwner(owner), log);
      log.info('address given', { addresses: leases.map((l) => l.address) });
      io.out(JSON.stringify(ipamResult(conf.cniVersion, leases)));
    } else if (verb === 'DEL') {
      const freed: string[] = [];
      for (const { pool } of pools) freed.push(...(await pool.release(ipamOwner(owner))));
      log.info('address released', { addresses: freed });
    } else {
      await checkLease(ctx, network, ipamOwner(owner), conf.prevResult, env);
    }
    return 0;
  } catch (err) {
    log.error('cni ipam call failed', { error: (err as Error).message });
    throw err;
  } finally {
    ctx.cluster?.client.close();
  }
}

/**
 * GC (SPEC.md 1.1, which a main plugin passes on to its IPAM plugin): this node's leases of the
 * network whose owner (container id and interface) `cni.dev/valid-attachments` does not list are
 * released. Without the list nothing is (as for the main-plugin GC, gc.ts).
 */
async function gcLeases(ctx: Context, network: Network, stdin: string): Promise<void> {
  const { holdings, keyOf, validAttachments } = await import('./gc');
  const valid = validAttachments(stdin);
  if (valid === undefined) {
    ctx.log.warn('GC without cni.dev/valid-attachments: nothing released', {});
    return;
  }
  const keep = new Set(valid.map((v) => keyOf(ipamOwner(cniOwner(v.containerID, network.name, v.ifname)))));
  const pools = poolsFor(network, ctx.config.stateDir, hasEtcdPool(network) ? clusterOf(ctx) : undefined);
  const released: string[] = [];
  for (const owner of await holdings(ctx, network))
    if (!keep.has(keyOf(owner))) for (const { pool } of pools) released.push(...(await pool.release(owner)));
  ctx.log.info('gc', { kept: valid.length, released });
}

/**
 * One lease per pool, IPv4 first. The main plugin runs this plugin's DEL when its own ADD fails
 * (SPEC.md), and so does the runtime; still, a failure of the second family's pool gives back
 * the first family's lease here, so a failed ADD holds nothing even before that DEL.
 */
export async function acquireAll(pools: FamilyPool[], owner: Owner, log: Logger): Promise<Lease[]> {
  const leases: Lease[] = [];
  const taken: FamilyPool[] = [];
  try {
    for (const p of [...pools].sort((a, b) => a.family - b.family)) {
      taken.push(p); // before the call: a lost reply may still have taken the address
      leases.push(await p.pool.acquire(owner));
    }
    return leases;
  } catch (err) {
    for (const p of taken.reverse())
      await p.pool.release(owner).catch((e: Error) => log.warn('undo failed', { step: 'release', error: e.message }));
    throw err;
  }
}

/** An IPAM result (SPEC.md "IPAM plugin result"): ips, routes, dns; no interfaces, so no index. */
export function ipamResult(cniVersion: string, leases: Lease[]): Record<string, unknown> {
  const withVersion = compareVersions(cniVersion, '1.0.0') < 0;
  const ips = leases.map((lease) => ({
    ...(withVersion ? { version: lease.address.includes(':') ? '6' : '4' } : {}),
    address: lease.address,
    ...(lease.gateway ? { gateway: lease.gateway } : {}),
  }));
  const routes = leases.flatMap((l) => l.routes.map((r) => ({ dst: r.dst, ...(r.via ? { gw: r.via } : {}) })));
  return { cniVersion, ips, routes, dns: {} };
}

/** CHECK: the owner holds an address of the pool, and it is the one of prevResult when one is given. */
async function checkLease(ctx: Context, network: Network, owner: Owner, prevResult: unknown, env: CniEnv) {
  const held = await heldAddresses(ctx, network, owner);
  if (held.length === 0)
    throw new CniError(
      CniCode.unknownContainer,
      `no podvlan address of ${env.containerId} ${env.ifname} in network ${network.name}`,
    );
  const ips = (prevResult as { ips?: { address?: unknown }[] } | undefined)?.ips;
  if (!Array.isArray(ips)) return;
  const given = ips.map((ip) => (typeof ip?.address === 'string' ? canonicalOr(ip.address.split('/')[0]) : ''));
  if (!held.every((a) => given.includes(a)))
    throw new CniError(
      CniCode.operationFailed,
      `${env.containerId} ${env.ifname} holds ${held.join(', ')} in network ${network.name}, ` +
        `not the address of prevResult (${given.join(', ') || 'none'})`,
    );
}

/** What the owner holds in the network's pools: node-local lease files, and etcd's when a pool is there. */
async function heldAddresses(ctx: Context, network: Network, owner: Owner): Promise<string[]> {
  const held = ipamPools(network).some((p) => p.type !== 'etcd')
    ? leaseDirFor(ctx.config.stateDir, network.name).heldBy(owner)
    : [];
  if (!hasEtcdPool(network)) return held;
  const cluster = clusterOf(ctx)!;
  const all = await listAllocations(cluster.client, cluster.prefix, network.name);
  return [...held, ...all.filter((a) => sameOwner(a, owner)).map((a) => a.address)];
}

const canonicalOr = (text: string): string => {
  try {
    return canonicalIp(text);
  } catch {
    return text;
  }
};

/** STATUS: an etcd pool needs etcd to answer (code 50 otherwise); a node-local pool is always there. */
async function poolStatus(ctx: Context, network: Network): Promise<void> {
  if (!hasEtcdPool(network)) return;
  const cluster = clusterOf(ctx)!;
  try {
    await cluster.client.get(`${cluster.prefix}/ipam/${network.name}/`);
  } catch (err) {
    throw new CniError(
      CniCode.pluginNotAvailable,
      `etcd (${ctx.config.etcd?.endpoints.join(', ')}) does not answer: ${(err as Error).message}`,
    );
  }
}
