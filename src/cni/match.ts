// `match` of a CNI network: the same rule as in podvlan.yaml (regular expressions on the pod's
// namespace and name), applied to K8S_POD_NAMESPACE / K8S_POD_NAME. In exec mode a network that
// does not match a pod is simply not attached; a CNI plugin that is called must attach or fail
// (SPEC.md), so here a pod the rule does not select is refused (7, naming the rule): the network
// was meant for other pods, and attaching it anyway would put this one on their VLAN.
import type { Network } from '../config/schema';
import { CniCode, CniError } from './spec';
import type { CniEnv } from './env';

export function checkMatch(network: Network, env: CniEnv): void {
  const rules = [
    { rule: network.match.namespace, key: 'K8S_POD_NAMESPACE', what: 'namespace' },
    { rule: network.match.podName, key: 'K8S_POD_NAME', what: 'podName' },
  ];
  for (const { rule, key, what } of rules) {
    if (rule === undefined) continue;
    const value = env.args[key];
    if (value === undefined)
      throw new CniError(
        CniCode.invalidEnvironment,
        `network ${network.name} has match.${what}: needs ${key} in CNI_ARGS`,
      );
    if (!new RegExp(rule).test(value))
      throw new CniError(
        CniCode.invalidNetworkConfig,
        `pod ${key}=${JSON.stringify(value.slice(0, 80))} does not match match.${what} ${JSON.stringify(rule)} ` +
          `of network ${network.name}`,
      );
  }
}
