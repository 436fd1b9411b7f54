// What the CNI specification (containernetworking/cni SPEC.md) fixes for every plugin: the protocol
// versions podvlan speaks, the well-known error codes, and the error object printed on stdout.
import { PodvlanError } from '../errors';

export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
export const LATEST_VERSION = '1.1.0';

/** The spec's reserved error codes (SPEC.md "Error"); 100 and up are plugin-specific. */
export const CniCode = {
  incompatibleVersion: 1,
  unsupportedField: 2,
  unknownContainer: 3,
  invalidEnvironment: 4,
  ioFailure: 5,
  decodingFailure: 6,
  invalidNetworkConfig: 7,
  tryAgainLater: 11,
  pluginNotAvailable: 50,
  limitedConnectivity: 51,
  // podvlan's own, for failures the spec has no code for (kernel or OVS refused an operation).
  operationFailed: 100,
  conflict: 101,
  exhausted: 102,
  internal: 999,
} as const;

/** A failure with its CNI code: what the front end prints as the spec's error object. */
export class CniError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly details?: string,
  ) {
    super(message);
    this.name = 'CniError';
  }
}

export interface CniErrorObject {
  cniVersion: string;
  code: number;
  msg: string;
  details?: string;
}

/** The error object for anything thrown: podvlan's typed errors keep their kind as the code. */
export function toErrorObject(err: unknown, cniVersion: string): CniErrorObject {
  const { code, msg, details } = classify(err);
  return details === undefined ? { cniVersion, code, msg } : { cniVersion, code, msg, details };
}

function classify(err: unknown): { code: number; msg: string; details?: string } {
  if (err instanceof CniError) return { code: err.code, msg: err.message, details: err.details };
  if (err instanceof PodvlanError) return { code: codeOfKind(err.kind), msg: err.message };
  const text = err instanceof Error ? err.message : String(err);
  return { code: CniCode.internal, msg: `internal error: ${text}` };
}

function codeOfKind(kind: string): number {
  switch (kind) {
    case 'invalid-input':
    case 'config':
      return CniCode.invalidNetworkConfig;
    case 'not-found':
      return CniCode.unknownContainer;
    case 'conflict':
      return CniCode.conflict;
    case 'exhausted':
      return CniCode.exhausted;
    // A dependency that does not answer now may answer on the runtime's retry.
    case 'unavailable':
      return CniCode.tryAgainLater;
    case 'operation-failed':
      return CniCode.operationFailed;
    default:
      return CniCode.internal;
  }
}

export function isSupportedVersion(v: string): boolean {
  return (SUPPORTED_VERSIONS as readonly string[]).includes(v);
}

/** Compare two dotted versions numerically (-1, 0, 1). */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}
