// `podvlan agent`: a resident process that runs the kubelet's setup and teardown calls for the
// executable, which then only starts, hands the call over and prints the reply. What it saves
// is the per-call module loading and cold code (measured: a warm setup takes ~6 ms in process,
// a cold one ~20 ms). Each request runs exactly as the executable would run it (same code, same
// config file, same per-pod lock), so a call that finds no agent loses nothing but time.
// The socket is in the state directory (root only) and is itself 0600.
import { chmodSync, existsSync, mkdirSync, unlinkSync } from 'node:fs';
import { loadContext } from '../cli/calls';
import { parseKubeletArgv, runKubeletCall } from '../cli/fast';
import type { Io } from '../cli/edge';
import { ConflictError, UnavailableError } from '../errors';
import { openStream } from '../net/stream';
import { AGENT_VERSION, type AgentReply, type AgentRequest, agentSocketPath, MAX_MESSAGE_BYTES } from './protocol';

interface Conn { chunks: Buffer[]; size: number; started: boolean }
interface BunSocket { data: Conn; write(b: Uint8Array): number; end(): void }
interface BunServer { stop(closeActive?: boolean): void }
type BunListen = { listen(o: { unix: string; socket: Record<string, (s: BunSocket, a?: unknown) => void> }): BunServer };

export async function runAgent(configFlag: string | undefined, io: Io): Promise<void> {
  const bun = (globalThis as { Bun?: BunListen }).Bun;
  if (!bun) throw new UnavailableError('the agent runs only in the podvlan executable');
  const ctx = await loadContext(configFlag);
  const path = agentSocketPath(ctx.config.stateDir);
  mkdirSync(ctx.config.stateDir, { recursive: true, mode: 0o700 });
  await takeOverSocket(path);
  let inFlight = 0;
  let stopping: (() => void) | undefined;
  const server = bun.listen({
    unix: path,
    socket: {
      open: (s) => { s.data = { chunks: [], size: 0, started: false }; },
      data: (s, chunk) => {
        const c = s.data;
        if (c.started) return;
        c.chunks.push(chunk as Buffer);
        c.size += (chunk as Buffer).length;
        if (c.size > MAX_MESSAGE_BYTES) { c.started = true; s.end(); return; }
        if (!(chunk as Buffer).includes(0x0a)) return;
        c.started = true;
        inFlight++;
        serve(Buffer.concat(c.chunks).toString('utf8')).then((reply) => send(s, reply)).finally(() => {
          if (--inFlight === 0) stopping?.();
        });
      },
    },
  });
  chmodSync(path, 0o600);
  ctx.log.info('agent listening', { socket: path, version: AGENT_VERSION });
  io.out(`podvlan agent ${AGENT_VERSION} listening on ${path}`);
  // SIGTERM or SIGINT: stop taking calls, finish the ones under way, leave.
  await new Promise<void>((resolve) => {
    const stop = () => {
      server.stop(false);
      try { unlinkSync(path); } catch { /* already gone */ }
      if (inFlight === 0) resolve(); else stopping = resolve;
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  ctx.log.info('agent stopped', { socket: path });
}

async function serve(text: string): Promise<AgentReply> {
  let req: AgentRequest;
  try {
    req = JSON.parse(text) as AgentRequest;
  } catch {
    return { done: false, reason: 'unreadable request' };
  }
  if (req.version !== AGENT_VERSION) return { done: false, reason: `agent is version ${AGENT_VERSION}` };
  const call = Array.isArray(req.argv) ? parseKubeletArgv(req.argv) : undefined;
  if (!call || call.command === 'status' || !call.config?.startsWith('/')) return { done: false, reason: 'not a setup or teardown with an absolute config path' };
  const out: string[] = [];
  const err: string[] = [];
  const code = await runKubeletCall(call, req.argv, { out: (l) => out.push(l), err: (l) => err.push(l) }, { local: true });
  return { done: true, code, out, err };
}

function send(s: BunSocket, reply: AgentReply): void {
  let bytes = new TextEncoder().encode(JSON.stringify(reply));
  // Replies are small; a socket that will not take one whole is a client that went away.
  for (let tries = 0; bytes.length > 0 && tries < 100; tries++) {
    const n = s.write(bytes);
    if (n < 0) break;
    bytes = bytes.subarray(n);
  }
  s.end();
}

/** A socket file nobody answers on is a dead agent's: remove it. One that answers is not ours to take. */
async function takeOverSocket(path: string): Promise<void> {
  if (!existsSync(path)) return;
  const alive = await openStream({ path }, { data: () => {}, closed: () => {} }).then((s) => { s.destroy(); return true; }, () => false);
  if (alive) throw new ConflictError(`another podvlan agent listens on ${path}`);
  unlinkSync(path);
}
