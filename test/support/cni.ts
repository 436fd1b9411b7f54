// A CNI caller that follows SPEC.md to the letter, for verbs and cases no Debian runtime sends:
// the executable gets CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_ARGS, CNI_PATH in
// a clean environment and the network config on stdin, runs in the node's namespace (as a
// runtime on the node would), and what it prints on stdout is parsed as a result or an error.
import { execa } from 'execa';
import { BINARY } from './plugin';
import type { SandboxInfo } from './sandbox';

export interface CniCall {
  containerId?: string;
  netns?: string;
  ifname?: string;
  args?: string;
  path?: string;
  env?: Record<string, string>; // extra or overriding variables (a test may drop one with '')
  omit?: string[]; // CNI_* variables not to set at all
  binary?: string; // the executable to run (default: the built podvlan), e.g. a link of another name
}

export interface CniRun {
  exitCode: number;
  stdout: string;
  stderr: string;
  json: Record<string, unknown> | undefined; // stdout parsed, when it is one JSON object
}

export async function cni(
  info: SandboxInfo,
  command: string,
  config: object | string,
  call: CniCall = {},
): Promise<CniRun> {
  const env: Record<string, string> = {
    PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
    CNI_COMMAND: command,
    CNI_CONTAINERID: call.containerId ?? '',
    CNI_NETNS: call.netns ?? '',
    CNI_IFNAME: call.ifname ?? 'eth0',
    CNI_ARGS: call.args ?? '',
    CNI_PATH: call.path ?? '/usr/lib/cni',
    ...call.env,
  };
  for (const k of call.omit ?? []) delete env[k];
  const r = await execa('ip', ['netns', 'exec', info.netns, call.binary ?? BINARY], {
    input: typeof config === 'string' ? config : JSON.stringify(config),
    reject: false,
    env,
    extendEnv: false,
    timeout: 60000,
  });
  let json: Record<string, unknown> | undefined;
  try {
    const parsed = JSON.parse(r.stdout);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) json = parsed;
  } catch {
    json = undefined;
  }
  return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr, json };
}

/** A network namespace as a runtime makes one (`ip netns add`): its CNI_NETNS path. */
export async function addNetns(name: string): Promise<string> {
  await execa('ip', ['netns', 'add', name]);
  await execa('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  return `/var/run/netns/${name}`;
}

export async function delNetns(name: string): Promise<void> {
  await execa('ip', ['netns', 'del', name], { reject: false });
}

export async function netnsPing(name: string, ip: string): Promise<boolean> {
  const r = await execa('ip', ['netns', 'exec', name, 'ping', '-c', '2', '-W', '1', ip], { reject: false });
  return r.exitCode === 0;
}

/** The IPv4 address/prefix of `ifname` inside the named netns, '' when it has none. */
export async function netnsAddress(name: string, ifname: string): Promise<string> {
  const r = await execa('ip', ['-n', name, '-4', '-o', 'addr', 'show', 'dev', ifname], { reject: false });
  return /inet (\S+)/.exec(r.stdout)?.[1] ?? '';
}

export interface GcAttachment {
  containerID: string;
  ifname: string;
}

/**
 * GC as SPEC.md 1.1 has a runtime send it: only CNI_COMMAND and CNI_PATH in the environment, and
 * the network config on stdin with the still-valid attachments under `cni.dev/valid-attachments`
 * (left out when `valid` is undefined; `extra` adds keys, e.g. the old name `cni.dev/attachments`).
 */
export function cniGc(
  info: SandboxInfo,
  config: object | string,
  valid?: GcAttachment[],
  extra: Record<string, unknown> = {},
): Promise<CniRun> {
  const stdin =
    typeof config === 'string'
      ? config
      : { ...config, ...(valid === undefined ? {} : { 'cni.dev/valid-attachments': valid }), ...extra };
  return cni(info, 'GC', stdin, { omit: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_ARGS'] });
}
