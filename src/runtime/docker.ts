// Container id -> network namespace, through the Docker Engine API on its unix socket. One
// HTTP/1.0 request on a fresh connection (the server closes it, so no chunked decoding). Not
// fetch: it has no unix-socket option under Node, where the tests run this module.
import { InvalidInputError, NotFoundError, UnavailableError } from '../errors';
import { quote } from '../names';
import { openStream, type Stream } from '../net/stream';
import { openSandbox, type Sandbox } from './sandbox';

export interface ContainerInfo {
  id: string;
  pid: number;
  running: boolean;
}

export async function inspectContainer(
  socketPath: string,
  containerId: string,
  timeoutMs: number,
): Promise<ContainerInfo> {
  const { status, body } = await httpGet(socketPath, `/containers/${encodeURIComponent(containerId)}/json`, timeoutMs);
  if (status === 404) throw new NotFoundError(`container ${containerId.slice(0, 12)} not found in Docker`);
  // Docker refuses a prefix that several containers share (400 on current versions).
  if (status >= 400 && status < 500) {
    throw new InvalidInputError(`Docker refused container id ${containerId}: ${dockerMessage(body)}`);
  }
  if (status !== 200)
    throw new UnavailableError(
      `Docker answered ${status} for container ${containerId.slice(0, 12)}: ${body.slice(0, 200)}`,
    );
  let parsed: { Id?: string; State?: { Pid?: number; Running?: boolean } };
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new UnavailableError(`Docker sent an unreadable answer for container ${containerId.slice(0, 12)}`);
  }
  // The full id is what podvlan records: a prefix given here must name this very container (Docker
  // also looks up names, and a name may look like hex).
  const id = parsed.Id ?? '';
  if (!/^[0-9a-f]{64}$/.test(id) || !id.startsWith(containerId)) {
    const found = quote(id.slice(0, 64));
    throw new NotFoundError(`container id ${containerId} is not the id of a Docker container (Docker found ${found})`);
  }
  return { id, pid: parsed.State?.Pid ?? 0, running: parsed.State?.Running === true };
}

/** Docker's error text ({"message": ...}), on one line. */
function dockerMessage(body: string): string {
  try {
    return String((JSON.parse(body) as { message?: unknown }).message ?? body)
      .replace(/\s+/g, ' ')
      .slice(0, 200);
  } catch {
    return body.replace(/\s+/g, ' ').slice(0, 200);
  }
}

/** The network namespace of a running container, opened at once (see sandbox.ts): the caller
 * owns the handle and must close it. NotFound if the container is stopped or has just exited. */
export async function containerNetns(socketPath: string, containerId: string, timeoutMs: number): Promise<Sandbox> {
  const info = await inspectContainer(socketPath, containerId, timeoutMs);
  if (!info.running || info.pid <= 0) throw new NotFoundError(`container ${containerId.slice(0, 12)} is not running`);
  // Opened in the same tick as Docker's answer: from here on the PID no longer matters.
  try {
    // The inode names the namespace: a container restarted under the same id gets a new one.
    return openSandbox(`/proc/${info.pid}/ns/net`, `container ${containerId.slice(0, 12)} (pid ${info.pid})`);
  } catch {
    throw new NotFoundError(`container ${containerId.slice(0, 12)} exited while podvlan looked it up`);
  }
}

/** containerNetns for callers that want only the inode (gc): the handle is closed at once. */
export async function containerNetnsInode(socketPath: string, containerId: string, timeoutMs: number): Promise<string> {
  const sandbox = await containerNetns(socketPath, containerId, timeoutMs);
  sandbox.close();
  return sandbox.inode;
}

function httpGet(socketPath: string, path: string, timeoutMs: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let stream: Stream | undefined;
    let settled = false;
    const settle = (err: Error | undefined, value?: { status: number; body: string }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) {
        stream?.destroy();
        reject(err);
      } else resolve(value!);
    };
    const timer = setTimeout(
      () => settle(new UnavailableError(`Docker at ${socketPath} did not answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const ended = (err?: Error) => {
      if (err) {
        settle(
          new UnavailableError(
            `cannot reach Docker at ${socketPath}: ${(err as NodeJS.ErrnoException).code ?? err.message}`,
          ),
        );
        return;
      }
      const text = Buffer.concat(chunks).toString('utf8');
      const headEnd = text.indexOf('\r\n\r\n');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      if (!m || headEnd < 0) settle(new UnavailableError(`Docker at ${socketPath} sent a malformed HTTP answer`));
      else settle(undefined, { status: Number(m[1]), body: text.slice(headEnd + 4) });
    };
    openStream({ path: socketPath }, { data: (c) => chunks.push(c), closed: ended }).then(
      (s) => {
        stream = s;
        if (settled) s.destroy();
        else s.write(`GET ${path} HTTP/1.0\r\nHost: docker\r\n\r\n`);
      },
      (err: NodeJS.ErrnoException) =>
        settle(new UnavailableError(`cannot reach Docker at ${socketPath}: ${err.code ?? err.message}`)),
    );
  });
}
