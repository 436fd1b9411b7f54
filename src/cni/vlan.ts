// The VLAN tag of one CNI attachment, from the network's vlan source and what the call carries:
// a fixed id; a number in the pod name (K8S_POD_NAME in CNI_ARGS); a pod annotation (containerd's
// CRI passes every annotation in runtimeConfig["io.kubernetes.cri.pod-annotations"] when the
// config declares that capability); or the cluster-wide etcd pool, one tag per Kubernetes
// namespace (K8S_POD_NAMESPACE) or pod, which is only known after the etcd round trip (add.ts).
import { vlanFor } from '../ipam';
import { holderFor, podNameTagProblem, podTagProblem, TRUNK_TAG, VLAN_MAX, VLAN_MIN } from '../ipam/vlan';
import { isDns1123Label, isPodName } from '../names';
import type { Network } from '../config/schema';
import { CniCode, CniError } from './spec';
import type { CniEnv } from './env';
import { podAnnotations } from './requests';

/** A tag now, or the pool holder to take one for (with the lock held). */
export type VlanPlan = { tag: number } | { holder: string };

/** The tag of a fixed, pod-name or annotation VLAN, or the holder of a pooled one. CniError (4: a
 * Kubernetes name missing from CNI_ARGS; 7: a tag the pod may not have) before anything changes. */
export function planVlan(network: Network, env: CniEnv, all: Network[], runtime: Record<string, unknown>): VlanPlan {
  const vlan = network.vlan;
  if ('id' in vlan) return { tag: vlan.id };
  if ('trunk' in vlan) return { tag: TRUNK_TAG }; // a trunk port: no tag, its VLANs are the config's
  if ('pool' in vlan) {
    const namespace = k8sArg(env, 'K8S_POD_NAMESPACE', isDns1123Label, 'vlan pool');
    if (vlan.per === 'namespace') return { holder: namespace };
    return { holder: `${namespace}/${k8sArg(env, 'K8S_POD_NAME', isPodName, 'vlan pool per pod')}` };
  }
  if ('fromAnnotation' in vlan) {
    const tag = annotationTag(vlan.fromAnnotation, podAnnotations(runtime));
    const problem = podTagProblem(tag, network, all, `VLAN ${tag} from annotation ${vlan.fromAnnotation}`);
    if (problem) throw new CniError(CniCode.invalidNetworkConfig, problem);
    return { tag };
  }
  const pod = k8sArg(env, 'K8S_POD_NAME', isPodName, 'vlan fromPodName');
  const tag = vlanFor(vlan, pod, network.name);
  const problem = podNameTagProblem(tag, network, all, pod);
  if (problem) throw new CniError(CniCode.invalidNetworkConfig, problem);
  return { tag };
}

/** The pool holder of a DEL: from the Kubernetes names the port recorded, else CNI_ARGS; undefined
 * when neither has them (a blind DEL: del.ts then looks the container up in etcd). */

function k8sArg(env: CniEnv, key: string, valid: (s: string) => boolean, needs: string): string {
  const value = env.args[key];
  if (value === undefined || !valid(value)) {
    const got = value === undefined ? '' : ` (got ${JSON.stringify(value.slice(0, 60))})`;
    throw new CniError(CniCode.invalidEnvironment, `${needs} needs ${key} in CNI_ARGS${got}`);
  }
  return value;
}

/** The annotation's value as a tag in 1-4094. Every refusal is code 7: the annotations come in the
 * network config on stdin (runtimeConfig), and a missing one is a pod spec the network cannot take. */
function annotationTag(key: string, annotations: Record<string, string> | undefined): number {
  if (annotations === undefined)
    throw new CniError(
      CniCode.invalidNetworkConfig,
      `vlan fromAnnotation ${key}: the runtime sent no pod annotations ` +
        '(runtimeConfig["io.kubernetes.cri.pod-annotations"], sent by containerd\'s CRI)',
    );
  const text = annotations[key];
  if (text === undefined)
    throw new CniError(CniCode.invalidNetworkConfig, `the pod has no annotation ${key}, which names its VLAN`);
  const t = text.trim();
  if (!/^\d{1,4}$/.test(t) || Number(t) < VLAN_MIN || Number(t) > VLAN_MAX)
    throw new CniError(
      CniCode.invalidNetworkConfig,
      `annotation ${key} ${JSON.stringify(text.slice(0, 40))} is not a VLAN number (${VLAN_MIN}-${VLAN_MAX})`,
    );
  return Number(t);
}

/** The tag an attachment must have, undefined for a pooled VLAN (etcd knows it; any tag matches). */
export function tagFor(
  network: Network,
  env: CniEnv,
  all: Network[],
  runtime: Record<string, unknown> = {},
): number | undefined {
  const plan = planVlan(network, env, all, runtime);
  return 'tag' in plan ? plan.tag : undefined;
}

export { holderFor };
