// Container id -> network namespace, through the Docker Engine API on its unix socket. One
// HTTP/1.0 request on a fresh connection (the server closes it, so no chunked decoding).
import { statSync } from 'node:fs';
import { nodeNet } from '../builtins';
import { NotFoundError, UnavailableError } from '../errors';

export interface ContainerInfo { id: string; pid: number; running: boolean }

export async function inspectContainer(socketPath: string, containerId: string, timeoutMs: number): Promise<ContainerInfo> {
  const { status, body } = await httpGet(socketPath, `/containers/${encodeURIComponent(containerId)}/json`, timeoutMs);
  if (status === 404) throw new NotFoundError(`container ${containerId.slice(0, 12)} not found in Docker`);
  if (status !== 200) throw new UnavailableError(`Docker answered ${status} for container ${containerId.slice(0, 12)}: ${body.slice(0, 200)}`);
  let parsed: { Id?: string; State?: { Pid?: number; Running?: boolean } };
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new UnavailableError(`Docker sent an unreadable answer for container ${containerId.slice(0, 12)}`);
  }
  return { id: parsed.Id ?? containerId, pid: parsed.State?.Pid ?? 0, running: parsed.State?.Running === true };
}

/** The network namespace path of a running container; NotFound if it is stopped. */
export async function containerNetns(socketPath: string, containerId: string, timeoutMs: number): Promise<{ pid: number; netns: string; inode: string }> {
  const info = await inspectContainer(socketPath, containerId, timeoutMs);
  if (!info.running || info.pid <= 0) throw new NotFoundError(`container ${containerId.slice(0, 12)} is not running`);
  const netns = `/proc/${info.pid}/ns/net`;
  try {
    // The inode names the namespace: a container restarted under the same id gets a new one.
    return { pid: info.pid, netns, inode: String(statSync(netns).ino) };
  } catch {
    throw new NotFoundError(`container ${containerId.slice(0, 12)} exited while podvlan looked it up`);
  }
}

function httpGet(socketPath: string, path: string, timeoutMs: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = nodeNet().connect({ path: socketPath });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new UnavailableError(`Docker at ${socketPath} did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('connect', () => socket.write(`GET ${path} HTTP/1.0\r\nHost: docker\r\n\r\n`));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new UnavailableError(`cannot reach Docker at ${socketPath}: ${err.code ?? err.message}`));
    });
    socket.on('end', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('utf8');
      const headEnd = text.indexOf('\r\n\r\n');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      if (!m || headEnd < 0) {
        reject(new UnavailableError(`Docker at ${socketPath} sent a malformed HTTP answer`));
        return;
      }
      resolve({ status: Number(m[1]), body: text.slice(headEnd + 4) });
    });
  });
}
