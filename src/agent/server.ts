// `podvlan agent`: a resident process that runs the kubelet's setup and teardown calls for the
// executable, which then only starts, hands the call over and prints the reply. What it saves
// is the per-call module loading and cold code (measured: a warm setup takes ~6 ms in process,
// a cold one ~20 ms). Each request runs exactly as the executable would run it (same code, same
// config file, same per-pod lock), so a call that finds no agent loses nothing but time.
// The socket is in the state directory, which must be root's alone, and is itself 0600.
import { chmodSync, existsSync, unlinkSync } from 'node:fs';
import { loadContext } from '../cli/calls';
import type { Io } from '../cli/edge';
import { parseKubeletArgv, runKubeletCall } from '../cli/fast';
import { ConflictError, oneLine, UnavailableError } from '../errors';
import type { Logger } from '../log';
import { openStream } from '../net/stream';
import { checkStateDir } from '../state/state-dir';
import { ACK, AGENT_VERSION, type AgentReply, agentSocketPath, MAX_MESSAGE_BYTES } from './protocol';

interface Conn { chunks: Buffer[]; size: number; started: boolean; gone: boolean; pending?: Uint8Array; timer?: ReturnType<typeof setTimeout> }
interface BunSocket { data: Conn; write(b: Uint8Array | string): number; end(): void }
interface BunServer { stop(closeActive?: boolean): void }
type BunListen = { listen(o: { unix: string; socket: Record<string, (s: BunSocket, a?: unknown) => void> }): BunServer };

// A client that connects and says nothing is hung up on.
const REQUEST_LIMIT_MS = 5000;

export async function runAgent(configFlag: string | undefined, io: Io): Promise<void> {
  const bun = (globalThis as { Bun?: BunListen }).Bun;
  if (!bun) throw new UnavailableError('the agent runs only in the podvlan executable');
  const ctx = await loadContext(configFlag);
  const { log } = ctx;
  // One failed call must never take the others down with the process.
  process.on('unhandledRejection', (err) => log.error('agent: unhandled rejection', { error: oneLine(err) }));
  process.on('uncaughtException', (err) => log.error('agent: uncaught exception', { error: oneLine(err) }));
  const path = agentSocketPath(ctx.config.stateDir);
  // It holds the socket: root's alone, or anyone could stand in for the agent.
  checkStateDir(ctx.config.stateDir, { create: true });
  await takeOverSocket(path);
  let inFlight = 0;
  let stopped = false;
  let stopping: (() => void) | undefined;
  const idle = new Set<BunSocket>();
  const oldUmask = process.umask(0o077); // the socket is born 0600, not widened until chmod
  let server: BunServer;
  try {
    server = bun.listen({
      unix: path,
      socket: {
        open: (s) => {
          s.data = { chunks: [], size: 0, started: false, gone: false, timer: setTimeout(() => s.end(), REQUEST_LIMIT_MS) };
          idle.add(s);
        },
        data: (s, chunk) => received(s, chunk as Buffer),
        drain: (s) => flush(s),
        end: (s) => { s.data.gone = true; },
        close: (s) => { s.data.gone = true; idle.delete(s); clearTimeout(s.data.timer); },
      },
    });
  } finally {
    process.umask(oldUmask);
  }
  chmodSync(path, 0o600);

  function received(s: BunSocket, chunk: Buffer): void {
    const c = s.data;
    if (c.started) return;
    c.chunks.push(chunk);
    c.size += chunk.length;
    if (c.size > MAX_MESSAGE_BYTES) { c.started = true; s.end(); return; }
    if (!chunk.includes(0x0a)) return;
    c.started = true;
    clearTimeout(c.timer);
    idle.delete(s);
    // A caller that gave up waiting (this agent was stopped or busy) has done the work itself and
    // hung up: its hang-up arrives in the same turn as its request, so look once more before
    // starting, or a late setup could undo a teardown that followed.
    setImmediate(() => (c.gone ? s.end() : start(s, c)));
  }

  function start(s: BunSocket, c: Conn): void {
    if (stopped) { s.end(); return; } // the caller does it itself
    s.write(ACK); // taken: from now on the caller waits for the answer rather than falling back
    inFlight++;
    serve(Buffer.concat(c.chunks).toString('utf8'), log)
      .then((reply) => send(s, reply))
      .catch((err: unknown) => { log.error('agent: cannot answer', { error: oneLine(err) }); s.end(); })
      .finally(() => { if (--inFlight === 0) stopping?.(); });
  }

  // SIGTERM or SIGINT: stop taking calls, finish the ones under way, leave. Handled before the
  // ready line goes out: console.log writes at once, and whoever waits for that line may signal
  // before the next statement runs (the default action would leave the socket file behind).
  const done = new Promise<void>((resolve) => {
    const stop = () => {
      stopped = true;
      server.stop(false);
      try { unlinkSync(path); } catch { /* already gone */ }
      for (const s of idle) s.end();
      if (inFlight === 0) resolve(); else stopping = resolve;
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  log.info('agent listening', { socket: path, version: AGENT_VERSION });
  io.out(`podvlan agent ${AGENT_VERSION} listening on ${path}`);
  await done;
  log.info('agent stopped', { socket: path });
}

async function serve(text: string, log: Logger): Promise<AgentReply> {
  let req: unknown;
  try {
    req = JSON.parse(text);
  } catch {
    return { done: false, reason: 'unreadable request' };
  }
  const { version, argv } = (req ?? {}) as { version?: unknown; argv?: unknown };
  if (version !== AGENT_VERSION) return { done: false, reason: `agent is version ${AGENT_VERSION}` };
  if (!Array.isArray(argv) || !argv.every((a) => typeof a === 'string')) return { done: false, reason: 'malformed request' };
  const call = parseKubeletArgv(argv);
  if (!call || call.command === 'status' || !call.config?.startsWith('/')) return { done: false, reason: 'not a setup or teardown with an absolute config path' };
  const out: string[] = [];
  const err: string[] = [];
  try {
    const code = await runKubeletCall(call, argv, { out: (l) => out.push(l), err: (l) => err.push(l) }, { local: true });
    return { done: true, code, out, err };
  } catch (e) {
    log.error('agent: call failed outside its own handling', { argv, error: oneLine(e) });
    return { done: false, reason: 'internal error in the agent' };
  }
}

function send(s: BunSocket, reply: AgentReply): void {
  s.data.pending = new TextEncoder().encode(JSON.stringify(reply));
  flush(s);
}

/** Write what is pending; the rest goes when the socket drains. Ends the connection when all is out. */
function flush(s: BunSocket): void {
  const bytes = s.data?.pending;
  if (!bytes) return;
  const n = s.write(bytes);
  if (n < 0) { s.data.pending = undefined; return; } // the caller went away
  s.data.pending = bytes.subarray(n);
  if (s.data.pending.length === 0) { s.data.pending = undefined; s.end(); }
}

/** A socket file nobody answers on is a dead agent's: remove it. One that answers is not ours to take. */
async function takeOverSocket(path: string): Promise<void> {
  if (!existsSync(path)) return;
  const alive = await openStream({ path }, { data: () => {}, closed: () => {} }).then((s) => { s.destroy(); return true; }, () => false);
  if (alive) throw new ConflictError(`another podvlan agent listens on ${path}`);
  unlinkSync(path);
}
