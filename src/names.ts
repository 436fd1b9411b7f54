// Validation of what the kubelet (or an operator) passes on the command line, and the host-side
// veth name derived from it. Pure functions: no I/O.
import { InvalidInputError } from './errors';

/** Kubernetes names (lengths checked apart: labels at most 63, subdomains at most 253). */
export const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export const isDns1123Label = (s: string) => s.length <= 63 && DNS1123_LABEL.test(s);
const CONTAINER_ID = /^[0-9a-f]{12,64}$/;
/** Docker's full container id: 64 hex digits. Shorter ids (at least 12) are prefixes of one. */
export const FULL_ID_LENGTH = 64;
export const MIN_ID_LENGTH = 12;

/** Quote an untrusted value for an error message without letting it span lines or grow huge. */
export function quote(value: string): string {
  const shown = value.length > 80 ? `${value.slice(0, 80)}...` : value;
  return JSON.stringify(shown);
}

export function validateNamespace(value: string): string {
  if (!isDns1123Label(value)) {
    throw new InvalidInputError(
      `invalid namespace ${quote(value)}: must be a DNS-1123 label (lowercase letters, digits, '-', at most 63 characters)`,
    );
  }
  return value;
}

export function validatePodName(value: string): string {
  if (value.length === 0 || value.length > 253 || !DNS1123_SUBDOMAIN.test(value)) {
    throw new InvalidInputError(
      `invalid pod name ${quote(value)}: must be a DNS-1123 subdomain (lowercase letters, digits, '-', '.', at most 253 characters)`,
    );
  }
  return value;
}

export function validateContainerId(value: string): string {
  if (!CONTAINER_ID.test(value)) {
    throw new InvalidInputError(`invalid container id ${quote(value)}: must be 12 to 64 lowercase hex characters`);
  }
  return value;
}

/**
 * Whether an id given on the command line and an id podvlan recorded mean the same container:
 * equal, or one a prefix of the other of at least 12 digits (setup records the full id; a record
 * made before it resolved ids holds whatever prefix it was given). Pure string work: status uses
 * it on every call.
 */
export function sameContainer(given: string, recorded: string): boolean {
  if (given === recorded) return true;
  if (typeof recorded !== 'string') return false; // a damaged record
  if (given.length < MIN_ID_LENGTH || recorded.length < MIN_ID_LENGTH) return false;
  return given.length < recorded.length ? recorded.startsWith(given) : given.startsWith(recorded);
}

/**
 * The one recorded id that `given` means (exact match first), or undefined if none does. Two
 * different containers matching a prefix is refused: acting on either could hit the wrong one.
 * Matches that are all prefixes of the longest one are one container (spelt at different
 * lengths): the longest is returned.
 */
export function matchContainerId(given: string, recorded: Iterable<string>): string | undefined {
  const matches = [...new Set(recorded)].filter((id) => sameContainer(given, id));
  if (matches.includes(given)) return given;
  const longest = matches.reduce((a, b) => (b.length > a.length ? b : a), '');
  const containers = matches.filter((id) => !longest.startsWith(id));
  if (containers.length > 0) {
    const shown = [longest, ...containers]
      .slice(0, 3)
      .map((id) => id.slice(0, 16))
      .join(', ');
    const count = containers.length + 1;
    throw new InvalidInputError(
      `container id ${given} is ambiguous: it matches ${count} containers (${shown}): give more digits`,
    );
  }
  return matches.length > 0 ? longest : undefined;
}

export function validateRuntime(value: string | undefined): void {
  if (value !== undefined && !/^[a-z][a-z0-9-]{0,31}$/.test(value)) {
    throw new InvalidInputError(`invalid runtime name ${quote(value)}`);
  }
}

export interface PodRef {
  namespace: string;
  pod: string;
  containerId: string;
}

export function parsePodArgs(namespace: string, pod: string, containerId: string, runtime?: string): PodRef {
  validateRuntime(runtime);
  return {
    namespace: validateNamespace(namespace),
    pod: validatePodName(pod),
    containerId: validateContainerId(containerId),
  };
}

export const HOST_VETH_PREFIX = 'pv';

/**
 * Host-side veth (and OVS port) name: "pv" + 13 hex digits of a hash of namespace, pod and
 * network. 15 characters, the kernel's limit; stable for the pod and network so a retried setup
 * finds its own port; 52 bits make a collision between two pods on a node negligible.
 */
export function hostVethName(namespace: string, pod: string, network: string): string {
  return HOST_VETH_PREFIX + hash64Hex(`${namespace}/${pod}/${network}`).slice(0, 13);
}

const MASK64 = 0xffffffffffffffffn;

/**
 * A well-mixed 64-bit hash as 16 hex digits: FNV-1a over the UTF-8 bytes, then the murmur3
 * 64-bit finalizer. Not cryptographic, and need not be: it names things, and node:crypto costs
 * more start-up time than the whole `status` call.
 */
export function hash64Hex(text: string): string {
  let h = 0xcbf29ce484222325n;
  for (const byte of new TextEncoder().encode(text)) h = ((h ^ BigInt(byte)) * 0x100000001b3n) & MASK64;
  h ^= h >> 33n;
  h = (h * 0xff51afd7ed558ccdn) & MASK64;
  h ^= h >> 33n;
  h = (h * 0xc4ceb9fe1a85ec53n) & MASK64;
  h ^= h >> 33n;
  return h.toString(16).padStart(16, '0');
}

// Checks for values read back from OVSDB, etcd or files: what podvlan wrote there has these
// forms, and anything else (a foreign row, a forged value) must never reach a path or an argv.
export const isPodName = (s: string) => s.length > 0 && s.length <= 253 && DNS1123_SUBDOMAIN.test(s);
export const isContainerId = (s: string) => CONTAINER_ID.test(s);
/** A Linux interface name as podvlan's config allows it (no '/', no whitespace, not . or ..). */
export const isInterfaceName = (s: string) => /^[A-Za-z0-9_.-]{1,15}$/.test(s) && s !== '.' && s !== '..';
export const isMac = (s: string) => /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(s);
/** a.b.c.d/len with each octet 0-255 and len 0-32. */
export function isIpv4Prefix(s: string): boolean {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(s);
  if (!m) return false;
  return m.slice(1, 5).every((o) => Number(o) <= 255) && Number(m[5]) <= 32;
}
export const isIpv4 = (s: string) => isIpv4Prefix(`${s}/32`);
/** A CNI plugin's `type` as a file name in CNI_PATH: no "/", no "..", nothing a path join reads otherwise. */
export const isPluginName = (s: string) => /^[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}$/.test(s) && !s.includes('..');

// SPEC.md's CNI_CONTAINERID: "Must start with an alphanumeric character, optionally followed by any
// combination of one or more alphanumeric characters, underscore (), dot (.) or hyphen (-)".
// Bounded here, as it is hashed into names and stored in OVSDB.
export const isCniContainerId = (s: string) => /^[A-Za-z0-9][A-Za-z0-9_.-]{0,252}$/.test(s);

/** 64 hex digits for a CNI container id (which need not be hex): four independent 64-bit hashes,
 * so a CNI attachment fits the core's container id form. Names, not secrets. */
export function cniHexId(cniContainerId: string): string {
  return [0, 1, 2, 3].map((i) => hash64Hex(`cni-id:${i}:${cniContainerId}`)).join('');
}
