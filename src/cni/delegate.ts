// Delegated IPAM (SPEC.md "Delegated plugins (IPAM)"): when the network config's `ipam.type`
// names another plugin, podvlan finds it in CNI_PATH and runs it with podvlan's own environment
// and stdin (only CNI_COMMAND differs on a rollback DEL), reads the address from its result in
// whatever version it answers, and turns its errors into podvlan's, with the delegate's code.
// The name is a plain file name (checked before it becomes a path); the child is spawned from an
// argument array, never a shell, and killed at the call's timeout.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { Lease } from '../ipam';
import type { Logger } from '../log';
import { canonicalIp, familyOfText, formatIpPrefix, isIpText, parseIpPrefix } from '../ipam/ip';
import { isPluginName } from '../names';
import { CniCode, CniError, compareVersions } from './spec';

export interface Delegate {
  plugin: string; // ipam.type
  stdin: string; // the whole network config, as podvlan received it
  env: Record<string, string | undefined>; // podvlan's environment, CNI_* included
  timeoutMs: number;
  log?: Logger;
}

/** The delegate's executable: the first regular file of that name in a CNI_PATH directory. */
export function findPlugin(plugin: string, cniPath: string | undefined): string {
  if (!isPluginName(plugin))
    throw new CniError(
      CniCode.invalidNetworkConfig,
      `network config: ipam type ${JSON.stringify(plugin.slice(0, 60))} is not a plugin file name`,
    );
  const dirs = (cniPath ?? '').split(':').filter((d) => d !== '');
  if (dirs.length === 0)
    throw new CniError(CniCode.invalidEnvironment, `CNI_PATH is empty: cannot find the ipam plugin "${plugin}"`);
  for (const dir of dirs) {
    const path = join(dir, plugin);
    try {
      if (statSync(path).isFile()) return path;
    } catch {
      // not in this directory
    }
  }
  throw new CniError(
    CniCode.invalidNetworkConfig,
    `ipam plugin "${plugin}" is not installed in any CNI_PATH directory: install it or fix ipam.type`,
    `CNI_PATH=${dirs.join(':')}`,
  );
}

/** ADD: the delegate's first address of each family (an attachment holds one per family), each
 * with its gateway and routes, IPv4 first. */
export async function delegateAdd(d: Delegate): Promise<Lease[]> {
  const stdout = await runDelegate(d, 'ADD');
  return leasesOfResult(stdout, d.plugin);
}

/** DEL (teardown, or the rollback of an ADD): what the delegate holds for this container goes. */
export async function delegateDel(d: Delegate): Promise<void> {
  await runDelegate(d, 'DEL');
}

/**
 * The delegate as GC needs it: a runtime sends GC with a 1.1.0 config, which a delegate older than
 * 1.1.0 refuses outright (Debian's host-local 1.1.1: "incompatible CNI versions"), though its DEL
 * means the same in every version since 0.3.0. So GC asks the delegate's VERSION and, when it does
 * not speak the config's, hands it the same config in the newest version it does speak (at most
 * the config's). Unchanged when it answers nothing usable.
 */
export async function delegateForGc(d: Delegate): Promise<Delegate> {
  let config: Record<string, unknown>;
  let supported: unknown;
  try {
    config = JSON.parse(d.stdin) as Record<string, unknown>;
    supported = (JSON.parse(await runDelegate(d, 'VERSION')) as { supportedVersions?: unknown }).supportedVersions;
  } catch {
    return d;
  }
  const wanted = typeof config.cniVersion === 'string' ? config.cniVersion : '';
  if (!Array.isArray(supported) || supported.includes(wanted)) return d;
  const usable = supported
    .filter((v): v is string => typeof v === 'string' && /^\d+\.\d+\.\d+$/.test(v))
    .filter((v) => compareVersions(v, wanted) <= 0)
    .sort(compareVersions);
  const best = usable.at(-1);
  return best ? { ...d, stdin: JSON.stringify({ ...config, cniVersion: best }) } : d;
}

/** CHECK: the delegate's own check of what it holds; nothing on success. */
export async function delegateCheck(d: Delegate): Promise<void> {
  await runDelegate(d, 'CHECK');
}

async function runDelegate(d: Delegate, verb: 'ADD' | 'DEL' | 'CHECK' | 'VERSION'): Promise<string> {
  const path = findPlugin(d.plugin, d.env.CNI_PATH);
  // execa only here: loading it costs ~30 ms of a compiled call (src/veth/ip.ts), which calls
  // without a delegate must not pay.
  const { execa } = await import('execa');
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(d.env)) if (v !== undefined) env[k] = v;
  env.CNI_COMMAND = verb;
  const started = performance.now();
  const r = await execa(path, [], {
    input: d.stdin,
    env,
    extendEnv: false,
    reject: false,
    timeout: d.timeoutMs,
    forceKillAfterDelay: 1000,
    maxBuffer: 1 << 20,
    stripFinalNewline: false,
  });
  const ms = Math.round(performance.now() - started);
  const stderr = typeof r.stderr === 'string' ? r.stderr.trim() : '';
  // The spec would pass the delegate's stderr on; runtimes read podvlan's stderr as output, so it goes to the log.
  d.log?.info('ipam plugin ran', { plugin: d.plugin, verb, exitCode: r.exitCode, ms, ...(stderr ? { stderr } : {}) });
  if (r.timedOut)
    throw new CniError(
      CniCode.tryAgainLater,
      `ipam plugin "${d.plugin}" did not answer ${verb} within ${d.timeoutMs} ms (timeoutMs)`,
    );
  const stdout = typeof r.stdout === 'string' ? r.stdout : '';
  if (r.exitCode !== 0) throw errorOf(d.plugin, verb, r.exitCode, stdout, stderr);
  return stdout;
}

/** The delegate's own error object, kept (code, msg, details); anything else becomes code 999. */
function errorOf(plugin: string, verb: string, exitCode: number | undefined, stdout: string, stderr: string) {
  const obj = parseObject(stdout);
  if (obj && typeof obj.code === 'number' && Number.isInteger(obj.code) && typeof obj.msg === 'string')
    return new CniError(
      obj.code,
      `ipam plugin "${plugin}" ${verb}: ${obj.msg}`,
      typeof obj.details === 'string' ? obj.details : undefined,
    );
  const why = exitCode === undefined ? 'could not be run' : `exited with ${exitCode}`;
  const text = (stderr || stdout).split('\n')[0].slice(0, 200);
  return new CniError(CniCode.internal, `ipam plugin "${plugin}" ${verb} ${why}${text ? `: ${text}` : ''}`);
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(text) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

interface ResultIp {
  address: string;
  gateway?: string;
}
interface ResultRoute {
  dst: string;
  gw?: string;
}

/**
 * An IPAM result of any version as podvlan's leases: 0.1.0/0.2.0 have `ip4: {ip, gateway,
 * routes}` and `ip6` likewise, 0.3.0 and later `ips: [{address, gateway}]` (with or without
 * `version`) and top-level `routes`. The first address of each family is taken (an attachment
 * holds one per family), IPv4 first; more of one family are left out (docs/cni-ipam.md). A route
 * goes with the lease of its destination's family, and without `gw` via that lease's gateway, as
 * the reference plugins install it.
 */
export function leasesOfResult(stdout: string, plugin: string): Lease[] {
  const r = parseObject(stdout);
  if (!r)
    throw new CniError(
      CniCode.decodingFailure,
      `ipam plugin "${plugin}" printed no JSON result: ${stdout.slice(0, 120)}`,
    );
  let ips: ResultIp[] = [];
  let routes: ResultRoute[] = [];
  if (Array.isArray(r.ips)) {
    ips = r.ips.filter(isObject).map((ip) => ({ address: str(ip.address), gateway: optStr(ip.gateway) }));
    routes = Array.isArray(r.routes) ? r.routes.filter(isObject).map(routeOf) : [];
  } else {
    for (const old of [r.ip4, r.ip6].filter(isObject)) {
      ips.push({ address: str(old.ip), gateway: optStr(old.gateway) });
      routes.push(...(Array.isArray(old.routes) ? old.routes.filter(isObject).map(routeOf) : []));
    }
  }
  const leases: Lease[] = [];
  for (const family of [4, 6] as const) {
    // Canonical text: the port records it, and CHECK compares it with the interface's.
    const ip = ips
      .map((x) => ({ ...x, address: canonicalPrefix(x.address) }))
      .find((x) => x.address && familyOfText(x.address) === family);
    if (!ip) continue;
    const gateway =
      ip.gateway !== undefined && isIpText(canonicalOr(ip.gateway)) && familyOfText(ip.gateway) === family
        ? canonicalOr(ip.gateway)
        : undefined;
    leases.push({
      address: ip.address!,
      ...(gateway !== undefined ? { gateway } : {}),
      routes: routes
        .map((x) => ({ dst: canonicalPrefix(x.dst), gw: x.gw === undefined ? undefined : canonicalOr(x.gw) }))
        .filter(
          (x) =>
            x.dst !== undefined &&
            familyOfText(x.dst) === family &&
            (x.gw === undefined || (isIpText(x.gw) && familyOfText(x.gw) === family)),
        )
        .map((x) => {
          const via = x.gw ?? gateway;
          return via === undefined ? { dst: x.dst! } : { dst: x.dst!, via };
        }),
    });
  }
  if (leases.length === 0)
    throw new CniError(CniCode.invalidNetworkConfig, `ipam plugin "${plugin}" gave no address`, stdout.slice(0, 300));
  return leases;
}

/** An address/len in podvlan's form, or undefined when it is none (a prefix route's host bits stay). */
function canonicalPrefix(text: string): string | undefined {
  try {
    return formatIpPrefix(parseIpPrefix(text));
  } catch {
    return undefined;
  }
}

const canonicalOr = (text: string): string => {
  try {
    return canonicalIp(text);
  } catch {
    return text;
  }
};

const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);
const str = (v: unknown) => (typeof v === 'string' ? v : '');
const optStr = (v: unknown) => (typeof v === 'string' ? v : undefined);
const routeOf = (x: Record<string, unknown>): ResultRoute => ({ dst: str(x.dst), gw: optStr(x.gw) });
