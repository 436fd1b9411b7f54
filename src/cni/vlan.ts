// The VLAN tag of one CNI attachment, from the network's vlan source and the call's CNI_ARGS.
import { vlanFor } from '../ipam';
import { podNameTagProblem } from '../ipam/vlan';
import { isPodName } from '../names';
import type { Network } from '../config/schema';
import { CniCode, CniError } from './spec';
import type { CniEnv } from './env';

/** The tag of a fixed or pod-name VLAN (cluster pools are not in the CNI mode yet). */
export function tagFor(network: Network, env: CniEnv, all: Network[]): number {
  if ('pool' in network.vlan)
    throw new CniError(
      CniCode.invalidNetworkConfig,
      'network config: vlan {pool, per} is not supported in CNI mode yet',
    );
  if ('id' in network.vlan) return network.vlan.id;
  const pod = env.args.K8S_POD_NAME;
  if (pod === undefined || !isPodName(pod)) {
    const got = pod === undefined ? '' : ` (got ${JSON.stringify(pod.slice(0, 60))})`;
    throw new CniError(CniCode.invalidEnvironment, `vlan fromPodName needs K8S_POD_NAME in CNI_ARGS${got}`);
  }
  const tag = vlanFor(network.vlan, pod, network.name);
  const problem = podNameTagProblem(tag, network, all, pod);
  if (problem) throw new CniError(CniCode.invalidNetworkConfig, problem);
  return tag;
}
