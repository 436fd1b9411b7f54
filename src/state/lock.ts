// Per-pod serialization. The lock is an abstract unix socket bound under a name derived from the
// pod: the kernel allows one binder, and frees the name when the process dies, even on SIGKILL,
// so there is never a stale lock file to clean up. Abstract names belong to the network
// namespace, and every podvlan call on a node runs in the kubelet's (host) namespace.
import { UnavailableError } from '../errors';
import { hash64Hex } from '../names';
import { type Bound, bindAbstract } from '../net/abstract-socket';

export interface PodLock { release(): void }

const lockName = (scope: string, namespace: string, pod: string) => `podvlan-${hash64Hex(`${scope}\n${namespace}`)}${hash64Hex(pod)}`;

/** The pod's lock if it is free right now, else undefined (for gc, which skips busy pods). */
export async function tryLockPod(scope: string, namespace: string, pod: string): Promise<PodLock | undefined> {
  const server = await tryBind(lockName(scope, namespace, pod));
  return server && { release: () => server.close() };
}

export async function lockPod(scope: string, namespace: string, pod: string, timeoutMs: number): Promise<PodLock> {
  const name = lockName(scope, namespace, pod);
  const deadline = Date.now() + timeoutMs;
  for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
    const server = await tryBind(name);
    if (server) return { release: () => server.close() };
    if (Date.now() + delay > deadline) {
      throw new UnavailableError(`another podvlan call for pod ${namespace}/${pod} still runs after ${timeoutMs} ms`);
    }
    await new Promise((r) => setTimeout(r, delay));
  }
}

async function tryBind(name: string): Promise<Bound | undefined> {
  try {
    return await bindAbstract(name);
  } catch (err) {
    throw new UnavailableError(`cannot take the pod lock: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}
