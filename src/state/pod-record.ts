// A small per-pod file, with two jobs. It is the node's intent log: setup writes it (not ready)
// before it creates anything and teardown removes it after everything else is gone, so any
// leftover of a crashed call can be traced to its pod. And once ready, it lets `status` answer
// from the local disk without any OVSDB or Docker round trip. It is never the state of record
// (that is OVSDB); gc rebuilds it from the ports.
// node:fs is loaded on first use, not at import: status reads a record through small-file alone.
import { nodeFs } from '../builtins';
import { UnavailableError } from '../errors';
import { hash64Hex, hostVethName, isDns1123Label } from '../names';
import { writeFreshFile } from './own-file';
import { readSmallFile } from './small-file';

export interface PodRecord {
  namespace: string;
  pod: string;
  containerId: string;
  ready: boolean; // false while setup runs (or after it crashed)
  primaryIp?: string; // bare address of the primary network, what status prints
  // ips: addresses/prefixes, IPv4 first; `ip` (one) is what a record of an older podvlan has.
  attachments: { network: string; interface: string; port: string; tag: number; ips?: string[]; ip?: string }[];
}

export function podRecordPath(stateDir: string, namespace: string, pod: string): string {
  return `${podsDir(stateDir)}/${podRecordName(namespace, pod)}`;
}

// A file name is at most 255 bytes (NAME_MAX), and the record's temp file adds `.tmp-<pid>`
// (pid_max is at most 2^22, 7 digits). Names are ASCII (DNS-1123), so characters are bytes.
const NAME_MAX = 255;
const TEMP_SUFFIX_MAX = '.tmp-4194304'.length;
const READABLE_MAX = NAME_MAX - TEMP_SUFFIX_MAX - '.json'.length;

/**
 * `<namespace>_<pod>.json`, readable, for every name that fits (namespaces cannot contain '_',
 * so it is unambiguous). A longer one (a 63-character namespace and a pod name near Kubernetes'
 * 253) keeps a readable start and ends in `~` and a hash of the whole: '~' is in no
 * Kubernetes name, so the two forms never meet. Only long names pay for the hash.
 */
export function podRecordName(namespace: string, pod: string): string {
  const readable = `${namespace}_${pod}`;
  if (readable.length <= READABLE_MAX) return `${readable}.json`;
  const hash = hash64Hex(`${namespace}/${pod}`);
  return `${readable.slice(0, READABLE_MAX - hash.length - 1)}~${hash}.json`;
}

function podsDir(stateDir: string): string {
  return `${stateDir.replace(/\/+$/, '')}/pods`;
}

const MAX_RECORD_BYTES = 1 << 20;

const readNoFollow = (path: string, maxBytes: number): string => readSmallFile(path, maxBytes, { noFollow: true });

/** The record, undefined if there is none or it is unreadable (or a link). status passes
 * readOwnFileQuick: no node:fs and no worker thread under bun (it reads a record on every call). */
export function readPodRecord(
  stateDir: string,
  namespace: string,
  pod: string,
  read = readNoFollow,
): PodRecord | undefined {
  try {
    return JSON.parse(read(podRecordPath(stateDir, namespace, pod), MAX_RECORD_BYTES)) as PodRecord;
  } catch {
    return undefined;
  }
}

export function writePodRecord(stateDir: string, record: PodRecord): void {
  const path = podRecordPath(stateDir, record.namespace, record.pod);
  const temp = `${path}.tmp-${process.pid}`;
  const fs = nodeFs();
  const { mkdirSync, renameSync, unlinkSync } = fs;
  try {
    mkdirSync(podsDir(stateDir), { recursive: true, mode: 0o700 });
    writeFreshFile(temp, `${JSON.stringify(record)}\n`);
    renameSync(temp, path);
  } catch (err) {
    try {
      unlinkSync(temp);
    } catch {
      /* never written */
    }
    throw new UnavailableError(
      `cannot write pod state ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
}

export function removePodRecord(stateDir: string, namespace: string, pod: string, containerId: string): void {
  const record = readPodRecord(stateDir, namespace, pod);
  if (record && record.containerId !== containerId) return; // a newer container's record
  try {
    nodeFs().unlinkSync(podRecordPath(stateDir, namespace, pod));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT')
      throw new UnavailableError(
        `cannot remove pod state ${podRecordPath(stateDir, namespace, pod)}: ${code ?? (err as Error).message}`,
      );
  }
}

/** Every record in the state directory (unreadable ones skipped). */
export function listPodRecords(stateDir: string): PodRecord[] {
  let names: string[];
  try {
    names = nodeFs().readdirSync(podsDir(stateDir));
  } catch {
    return [];
  }
  return names
    .filter((n) => n.endsWith('.json'))
    .flatMap((n) => {
      try {
        return [JSON.parse(readNoFollow(`${podsDir(stateDir)}/${n}`, MAX_RECORD_BYTES)) as PodRecord];
      } catch {
        return [];
      }
    });
}

/** The addresses (addr/len) the record says this container held on a network: lease hints. A
 * record is a file: only strings come back (each pool still checks what it is given). */
export function recordedIps(record: PodRecord | undefined, containerId: string, network: string): string[] {
  if (record?.containerId !== containerId) return [];
  const a = record.attachments.find((x) => x.network === network);
  const ips = Array.isArray(a?.ips) ? a.ips : typeof a?.ip === 'string' ? [a.ip] : [];
  return ips.filter((ip): ip is string => typeof ip === 'string');
}

/** A recorded attachment whose port is the pod's own veth name for its network: a record is a
 * file, and only such names may become `ip` arguments (gc, teardown). */
export function isOwnRecordedPort(
  r: Pick<PodRecord, 'namespace' | 'pod'>,
  a: { network: unknown; port: unknown },
): boolean {
  return (
    typeof a?.network === 'string' &&
    typeof a.port === 'string' &&
    isDns1123Label(a.network) &&
    a.port === hostVethName(r.namespace, r.pod, a.network)
  );
}
