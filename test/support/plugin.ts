// Driving the built executable the way a kubelet does (argv only, stdout and stderr combined),
// and observing the node independently of podvlan (ovs-vsctl, ip, the state directory).
import { execa } from 'execa';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import type { SandboxInfo } from './sandbox';

export const BINARY = resolve(__dirname, '../../dist/podvlan');

export interface PluginRun {
  exitCode: number;
  all: string;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Run podvlan in the node's namespace, as the kubelet would. */
export async function runPlugin(
  info: SandboxInfo,
  args: string[],
  opts: { binary?: string; config?: string; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<PluginRun> {
  const env: Record<string, string> = { ...opts.env };
  if (opts.config) env.PODVLAN_CONFIG = opts.config;
  const started = performance.now();
  const r = await execa('ip', ['netns', 'exec', info.netns, opts.binary ?? BINARY, ...args], {
    all: true,
    reject: false,
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', ...env },
    extendEnv: false,
    timeout: opts.timeoutMs ?? 60000,
  });
  return {
    exitCode: r.exitCode ?? -1,
    all: r.all ?? '',
    stdout: r.stdout,
    stderr: r.stderr,
    ms: performance.now() - started,
  };
}

export interface NetworkConfig {
  [key: string]: unknown;
}

/** Write a config for one simulated node under `dir`; returns its path. JSON is valid YAML. */
export function writeConfig(
  info: SandboxInfo,
  dir: string,
  networks: NetworkConfig[],
  extra: Record<string, unknown> = {},
): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'podvlan.yaml');
  writeFileSync(
    path,
    JSON.stringify(
      {
        ovsdb: info.ovsdb,
        logFile: join(dir, 'podvlan.log'),
        stateDir: join(dir, 'state'),
        timeoutMs: 10000,
        runtime: { docker: { socket: info.dockerSocket } },
        networks,
        ...extra,
      },
      null,
      2,
    ),
  );
  return path;
}

/**
 * What the kubelet does with status output: empty means "ask the runtime"; otherwise the whole
 * output must be one JSON object with kind PodNetworkStatus (or none) and apiVersion v1beta1
 * (or none), and an IP that parses.
 */
export function parseKubeletStatus(combined: string): { ip: string } | null {
  if (combined.length === 0) return null;
  const obj = JSON.parse(combined.trimEnd());
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new Error('status is not a JSON object');
  if (obj.kind !== undefined && obj.kind !== 'PodNetworkStatus') throw new Error(`unexpected kind ${obj.kind}`);
  if (obj.apiVersion !== undefined && obj.apiVersion !== '' && obj.apiVersion !== 'v1beta1')
    throw new Error(`unexpected apiVersion ${obj.apiVersion}`);
  // The kubelet's net.ParseIP: an IPv4 or IPv6 address (an IPv6-only primary network gives IPv6).
  if (typeof obj.ip !== 'string' || isIP(obj.ip) === 0) throw new Error(`unparsable ip ${obj.ip}`);
  return { ip: obj.ip };
}

export async function ovsVsctl(info: SandboxInfo, args: string[]): Promise<string> {
  return (await execa('ovs-vsctl', [`--db=${info.ovsdb}`, ...args])).stdout;
}

/** Ports on a bridge other than the bridge's own internal port. */
export async function bridgePorts(info: SandboxInfo, bridge: string): Promise<string[]> {
  const out = await ovsVsctl(info, ['list-ports', bridge]);
  return out.split('\n').filter(Boolean);
}

export async function portTag(info: SandboxInfo, port: string): Promise<string> {
  return (await ovsVsctl(info, ['get', 'Port', port, 'tag'])).trim();
}

/** Host-side podvlan veths in the node's namespace. */
export async function hostVeths(info: SandboxInfo): Promise<string[]> {
  const { stdout } = await execa('ip', ['-n', info.netns, '-o', 'link', 'show', 'type', 'veth']);
  return stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(':')[1].trim().split('@')[0])
    .filter((n) => n.startsWith('pv'));
}

/** Pod lock files under stateDir/locks that some process holds a flock on (from /proc/locks). */
export function heldLocks(stateDir: string): string[] {
  const dir = join(stateDir, 'locks');
  if (!existsSync(dir)) return [];
  // "1: FLOCK  ADVISORY  WRITE 4242 00:2a:123456 0 EOF": the inode is the last part of the device field.
  const held = new Set(
    readFileSync('/proc/locks', 'utf8')
      .split('\n')
      .filter((l) => / FLOCK /.test(l))
      .map((l) => l.trim().split(/\s+/)[5]?.split(':')[2]),
  );
  return readdirSync(dir).filter((name) => held.has(String(statSync(join(dir, name)).ino)));
}

/** Every file under the state dir's lease and pod-record folders. */
export function stateFiles(stateDir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    if (!existsSync(d)) return;
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (!e.name.startsWith('.last')) out.push(join(d, e.name));
    }
  };
  walk(join(stateDir, 'ipam'));
  walk(join(stateDir, 'pods'));
  return out;
}

/** Tear down every pod podvlan attached to these bridges, so the next test file starts clean. */
export async function teardownAll(info: SandboxInfo, config: string, bridges: string[]): Promise<void> {
  const { stdout } = await runPlugin(info, ['list', '--output', 'json'], { config });
  const attachments = JSON.parse(stdout || '[]') as {
    namespace: string;
    pod: string;
    containerId: string;
    bridge: string;
  }[];
  const pods = new Map(
    attachments.filter((a) => bridges.includes(a.bridge)).map((a) => [`${a.namespace}/${a.pod}/${a.containerId}`, a]),
  );
  for (const a of pods.values()) await runPlugin(info, ['teardown', a.namespace, a.pod, a.containerId], { config });
}
