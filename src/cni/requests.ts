// What one CNI call asks for beyond the network config: a MAC and addresses for the pod interface
// (runtimeConfig `mac` / `ips`, from Multus and CRI; podman's `MAC=` / `IP=` in CNI_ARGS) and the
// pod's annotations (containerd's CRI, `io.kubernetes.cri.pod-annotations`). Pure: the parsed
// config and CNI_ARGS in, validated values out, so unit tests need no process.
//
// CONVENTIONS.md: a runtime puts a key in runtimeConfig only when the plugin's config declares the
// capability of that name, and a plugin uses runtimeConfig only for declared capabilities; what the
// config does not declare is ignored here even when sent.
import { bitsOf, familyOfText, formatIp, tryParseIp } from '../ipam/ip';
import { CniCode, CniError } from './spec';

export const ANNOTATIONS_CAPABILITY = 'io.kubernetes.cri.pod-annotations';

// Spellings of each capability's runtimeConfig key: the spec's, then what a Go struct without json
// tags would marshal (field names as declared: the reference plugins name these fields Mac and
// IPs; MAC is the Go initialism style). Only the spec's name goes in `capabilities`.
const SPELLINGS = {
  mac: ['mac', 'Mac', 'MAC'],
  ips: ['ips', 'IPs'],
} as const;

export interface Requests {
  mac?: string; // lower-case aa:bb:cc:dd:ee:ff, unicast
  ips: Request[]; // at most one per family (an attachment holds one address of each)
}

export interface Request {
  address: string; // a.b.c.d, or an IPv6 address in RFC 5952 form
  prefixLength?: number; // when the request was a CIDR
  from: string; // where it came from, for messages: 'runtimeConfig.ips', 'CNI_ARGS IP'
}

/** The runtimeConfig keys this config declared a capability for (others are not the plugin's to read). */
export function declaredRuntimeConfig(runtimeConfig: unknown, capabilities: unknown): Record<string, unknown> {
  if (!isObject(runtimeConfig)) return {};
  const declared = isObject(capabilities) ? capabilities : {};
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(runtimeConfig)) {
    const capability = capabilityOf(key);
    if (declared[capability] === true) out[key] = value;
  }
  return out;
}

function capabilityOf(key: string): string {
  for (const [capability, spellings] of Object.entries(SPELLINGS))
    if ((spellings as readonly string[]).includes(key)) return capability;
  return key;
}

/** MAC and addresses asked for. runtimeConfig (declared) wins over CNI_ARGS when both give one. */
/** `addresses: false`: a delegated IPAM plugin reads the address requests itself (more than one,
 * IPv6: its rules, not podvlan's), so only the MAC is podvlan's to parse. */
export function parseRequests(
  runtime: Record<string, unknown>,
  args: Record<string, string>,
  addresses = true,
): Requests {
  const fromRuntime = (capability: keyof typeof SPELLINGS) => {
    const given = SPELLINGS[capability].filter((k) => runtime[k] !== undefined);
    if (given.length > 1)
      throw new CniError(
        CniCode.invalidNetworkConfig,
        `runtimeConfig has both ${given.map((k) => JSON.stringify(k)).join(' and ')}: give one`,
      );
    return given.length === 1 ? { key: given[0], value: runtime[given[0]] } : undefined;
  };
  const requests: Requests = { ips: [] };
  const mac = fromRuntime('mac');
  if (mac !== undefined) requests.mac = parseMac(mac.value, `runtimeConfig.${mac.key}`, CniCode.invalidNetworkConfig);
  else if (args.MAC !== undefined) requests.mac = parseMac(args.MAC, 'CNI_ARGS MAC', CniCode.invalidEnvironment);
  if (!addresses) return requests;
  const ips = fromRuntime('ips');
  if (ips !== undefined) {
    if (!Array.isArray(ips.value))
      throw new CniError(CniCode.invalidNetworkConfig, `runtimeConfig.${ips.key} must be a list of addresses`);
    requests.ips = ips.value.map((v) => parseRequest(v, `runtimeConfig.${ips.key}`, CniCode.invalidNetworkConfig));
  } else if (args.IP !== undefined) {
    // The static plugin's form: one address or several, comma separated.
    requests.ips = args.IP.split(',').map((v) => parseRequest(v.trim(), 'CNI_ARGS IP', CniCode.invalidEnvironment));
  }
  const families = requests.ips.map((r) => familyOfText(r.address));
  if (new Set(families).size < families.length)
    throw new CniError(
      requests.ips[0].from.startsWith('CNI_ARGS') ? CniCode.invalidEnvironment : CniCode.invalidNetworkConfig,
      `${requests.ips[0].from} asks for ${requests.ips.length} addresses: ` +
        'podvlan gives an attachment one address per family (one IPv4, one IPv6)',
    );
  return requests;
}

/** Six octets, hex, ':' or '-' separated, not multicast (the I/G bit of the first octet clear). */
export function parseMac(value: unknown, from: string, code: number): string {
  const text = typeof value === 'string' ? value.trim() : '';
  if (!/^[0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{2}){5}$/.test(text))
    throw new CniError(code, `${from} ${show(value)} is not a MAC address (six octets like 02:00:00:00:00:01)`);
  const mac = text.toLowerCase().replace(/-/g, ':');
  if ((Number.parseInt(mac.slice(0, 2), 16) & 1) === 1)
    throw new CniError(
      code,
      `${from} ${show(value)} is a multicast MAC address: the pod interface needs a unicast one`,
    );
  if (mac === '00:00:00:00:00:00') throw new CniError(code, `${from} ${show(value)} is the zero MAC address`);
  return mac;
}

/** An address or address/prefix of either family ("a.b.c.d", "fd00::5/64"); IPv6 comes back
 * canonical (RFC 5952), as leases and ports hold it. */
export function parseRequest(value: unknown, from: string, code: number): Request {
  const text = typeof value === 'string' ? value.trim() : '';
  const m = /^([0-9A-Fa-f.:]+)(?:\/(\d{1,3}))?$/.exec(text);
  const ip = m ? tryParseIp(m[1]) : undefined;
  if (!m || ip === undefined || (m[2] !== undefined && (Number(m[2]) > bitsOf(ip.family) || /^0\d/.test(m[2]))))
    throw new CniError(code, `${from} ${show(value)} is not an IPv4 or IPv6 address or address/prefix`);
  const address = formatIp(ip);
  return m[2] === undefined ? { address, from } : { address, prefixLength: Number(m[2]), from };
}

/** The pod annotations the runtime passed (declared capability only), or undefined when none came. */
export function podAnnotations(runtime: Record<string, unknown>): Record<string, string> | undefined {
  const value = runtime[ANNOTATIONS_CAPABILITY];
  if (value === undefined) return undefined;
  // containerd's CRI sends a pod without annotations as null (a Go nil map): it has none.
  if (value === null) return {};
  if (!isObject(value) || Object.values(value).some((v) => typeof v !== 'string'))
    throw new CniError(
      CniCode.invalidNetworkConfig,
      `runtimeConfig["${ANNOTATIONS_CAPABILITY}"] must be a map of annotation names to strings`,
    );
  return value as Record<string, string>;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function show(value: unknown): string {
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  return JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}...` : text);
}
