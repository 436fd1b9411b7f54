// A CNI result in one version-free form: what a chain hands podvlan as `prevResult` (ADD when
// podvlan is not first; CHECK and DEL always) and what podvlan prints, before it is put in the
// config's version by result.ts. Pure, for unit tests.
//
// Versions: 0.3.0 to 0.4.0 carry "version" ("4"/"6") in each IP, 1.0.0 and 1.1.0 do not; that is
// the only difference of shape among the versions podvlan speaks. Results of 0.2.0 and older
// (`ip4`/`ip6` objects, no interfaces) are refused. A prevResult without cniVersion is read in the
// config's version, as libcni does (version.ParsePrevResult).
import { CniCode, CniError, isSupportedVersion, SUPPORTED_VERSIONS } from './spec';

/** Keys other than these are kept as they came (a later spec's fields, a plugin's own). */
export interface CniInterface {
  name: string;
  mac?: string;
  sandbox?: string;
  [key: string]: unknown;
}
export interface CniIp {
  address: string; // a.b.c.d/len or an IPv6 prefix
  gateway?: string;
  interface?: number; // index into interfaces
  [key: string]: unknown;
}
export interface CniRoute {
  dst: string;
  gw?: string;
  [key: string]: unknown;
}
export interface ChainResult {
  interfaces: CniInterface[];
  ips: CniIp[];
  routes: CniRoute[];
  dns: Record<string, unknown>;
}

const bad = (what: string) => new CniError(CniCode.invalidNetworkConfig, `network config: prevResult.${what}`);
const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** undefined when the config has no prevResult (podvlan first in its chain; a DEL without one). */
export function parsePrevResult(raw: unknown, configVersion: string): ChainResult | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!isObject(raw)) throw bad('is not an object');
  const version = raw.cniVersion === undefined || raw.cniVersion === '' ? configVersion : raw.cniVersion;
  if (typeof version !== 'string' || !isSupportedVersion(version) || 'ip4' in raw || 'ip6' in raw)
    throw new CniError(
      CniCode.incompatibleVersion,
      `prevResult of cniVersion ${JSON.stringify(String(version).slice(0, 20))} cannot be read`,
      `readable: ${SUPPORTED_VERSIONS.join(', ')}`,
    );
  const interfaces = listOf(raw, 'interfaces').map((v, i) => {
    if (!isObject(v) || typeof v.name !== 'string' || v.name === '') throw bad(`interfaces[${i}].name is missing`);
    for (const key of ['mac', 'sandbox'] as const)
      if (v[key] !== undefined && typeof v[key] !== 'string') throw bad(`interfaces[${i}].${key} is not a string`);
    return { ...v } as CniInterface;
  });
  const ips = listOf(raw, 'ips').map((v, i) => {
    if (!isObject(v) || typeof v.address !== 'string' || !v.address.includes('/'))
      throw bad(`ips[${i}].address is not an address/prefix`);
    const index = v.interface;
    if (
      index !== undefined &&
      !(Number.isInteger(index) && (index as number) >= 0 && (index as number) < interfaces.length)
    )
      throw bad(`ips[${i}].interface ${JSON.stringify(index)} names no entry of interfaces`);
    const { version: _version, ...rest } = v; // re-derived from the address when printed
    return rest as CniIp;
  });
  const routes = listOf(raw, 'routes').map((v, i) => {
    if (!isObject(v) || typeof v.dst !== 'string') throw bad(`routes[${i}].dst is missing`);
    return { ...v } as CniRoute;
  });
  const dns = raw.dns === undefined ? {} : raw.dns;
  if (!isObject(dns)) throw bad('dns is not an object');
  return { interfaces, ips, routes, dns: { ...dns } };
}

function listOf(raw: Record<string, unknown>, key: string): unknown[] {
  const v = raw[key];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw bad(`${key} is not a list`);
  return v;
}
