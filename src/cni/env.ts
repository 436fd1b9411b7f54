// The CNI_* environment of one call (SPEC.md "Parameters"), validated before anything else runs.
// Pure: takes the environment as a map, so unit tests need no process.
import { isCniContainerId, isDns1123Label, isInterfaceName, isPodName } from '../names';
import { CniCode, CniError } from './spec';

export const VERBS = ['ADD', 'DEL', 'CHECK', 'VERSION', 'STATUS', 'GC'] as const;
export type Verb = (typeof VERBS)[number];

export interface CniEnv {
  command: Verb;
  containerId: string;
  netns: string; // '' when not given (DEL may come without one)
  ifname: string;
  args: Record<string, string>; // CNI_ARGS, keys as given
  path: string[];
}

// The CNI_ARGS keys podvlan reads; anything else needs IgnoreUnknown (CONVENTIONS.md "CNI_ARGS").
const KNOWN_ARGS = new Set([
  'IgnoreUnknown',
  'K8S_POD_NAMESPACE',
  'K8S_POD_NAME',
  'K8S_POD_INFRA_CONTAINER_ID',
  'K8S_POD_UID',
  'MAC', // podman --mac-address (cni/requests.ts)
  'IP', // podman --ip, the static plugin's form
]);

export function parseVerb(env: Record<string, string | undefined>): Verb {
  const command = env.CNI_COMMAND ?? '';
  if (!(VERBS as readonly string[]).includes(command)) {
    throw new CniError(CniCode.invalidEnvironment, `unknown CNI_COMMAND ${JSON.stringify(command.slice(0, 40))}`);
  }
  return command as Verb;
}

/** The environment of ADD, DEL, CHECK (STATUS, GC and VERSION need only CNI_COMMAND and CNI_PATH). */
export function parseEnv(env: Record<string, string | undefined>): CniEnv {
  const command = parseVerb(env);
  const perAttachment = command === 'ADD' || command === 'DEL' || command === 'CHECK';
  const containerId = env.CNI_CONTAINERID ?? '';
  const ifname = env.CNI_IFNAME ?? '';
  const netns = env.CNI_NETNS ?? '';
  if (perAttachment) {
    if (!isCniContainerId(containerId))
      throw new CniError(
        CniCode.invalidEnvironment,
        `invalid CNI_CONTAINERID ${JSON.stringify(containerId.slice(0, 80))}`,
      );
    if (!isInterfaceName(ifname))
      throw new CniError(
        CniCode.invalidEnvironment,
        `${ifname ? 'invalid' : 'missing'} CNI_IFNAME ${JSON.stringify(ifname.slice(0, 40))}: ` +
          '1-15 letters, digits, _ . -',
      );
    // DEL may come without a netns (containerd's second DEL, ctr): cleanup needs only the ids.
    if (command !== 'DEL' && netns === '') throw new CniError(CniCode.invalidEnvironment, 'missing CNI_NETNS');
    if (netns !== '' && !netns.startsWith('/'))
      throw new CniError(
        CniCode.invalidEnvironment,
        `CNI_NETNS ${JSON.stringify(netns.slice(0, 80))} is not an absolute path`,
      );
  }
  return {
    command,
    containerId,
    netns,
    ifname,
    args: parseArgs(env.CNI_ARGS ?? ''),
    path: (env.CNI_PATH ?? '').split(':').filter((p) => p !== ''),
  };
}

/** The Kubernetes names of the pod (CRI's K8S_POD_NAMESPACE and K8S_POD_NAME), each only when given
 * in its form: recorded on the port for `podvlan list`, never used to find an attachment. */
export function k8sNamesOf(args: Record<string, string>): { k8sNamespace?: string; k8sPod?: string } {
  const ns = args.K8S_POD_NAMESPACE;
  const pod = args.K8S_POD_NAME;
  return {
    ...(ns !== undefined && isDns1123Label(ns) ? { k8sNamespace: ns } : {}),
    ...(pod !== undefined && isPodName(pod) ? { k8sPod: pod } : {}),
  };
}

/** `K1=V1;K2=V2`: keys podvlan does not know are refused unless IgnoreUnknown is true. */
export function parseArgs(text: string): Record<string, string> {
  const args: Record<string, string> = {};
  for (const part of text.split(';')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0)
      throw new CniError(
        CniCode.invalidEnvironment,
        `CNI_ARGS entry ${JSON.stringify(part.slice(0, 60))} is not KEY=VALUE`,
      );
    args[part.slice(0, eq)] = part.slice(eq + 1);
  }
  const ignoreUnknown = ['1', 'true'].includes((args.IgnoreUnknown ?? '').toLowerCase());
  const unknown = Object.keys(args).filter((k) => !KNOWN_ARGS.has(k));
  if (unknown.length > 0 && !ignoreUnknown)
    throw new CniError(
      CniCode.invalidEnvironment,
      `unknown CNI_ARGS key ${JSON.stringify(unknown[0].slice(0, 40))} (set IgnoreUnknown=1 to ignore it)`,
    );
  return args;
}
