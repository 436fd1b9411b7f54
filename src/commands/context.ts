// What every subcommand receives: the validated config, where it came from, and the logger.
import type { Config, Network } from '../config/schema';
import { type Cluster, clusterFor } from '../ipam';
export { nodeName } from '../config/node-name';
import type { Logger } from '../log';
import type { PodRef } from '../names';

export interface Context {
  config: Config;
  log: Logger;
  cluster?: Cluster; // the etcd client, made on first use by clusterOf
}

/** The cluster-wide store (etcd) when the config has one; one client per call. */
export function clusterOf(ctx: Context): Cluster | undefined {
  ctx.cluster ??= clusterFor(ctx.config);
  return ctx.cluster;
}

/** Networks whose `match` selects the pod, in config order. */
export function networksFor(config: Config, ref: Pick<PodRef, 'namespace' | 'pod'>): Network[] {
  return config.networks.filter(
    (n) =>
      (n.match.namespace === undefined || new RegExp(n.match.namespace).test(ref.namespace)) &&
      (n.match.podName === undefined || new RegExp(n.match.podName).test(ref.pod)),
  );
}
