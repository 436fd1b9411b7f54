// `podvlan agent`: a resident process that runs the kubelet's setup and teardown calls for the
// executable, which then only starts, hands the call over and prints the reply. What it saves
// is the per-call module loading and cold code (measured: a warm setup takes ~6 ms in process,
// a cold one ~20 ms). Each request runs exactly as the executable would run it (same code, same
// config file, same per-pod lock), so a call that finds no agent loses nothing but time.
// The socket is in the state directory, which must be root's alone, and is itself 0600; on top of
// that, each caller's credentials are checked (SO_PEERCRED): the agent serves only root.
import { chmodSync, existsSync, unlinkSync } from 'node:fs';
import { loadContext } from '../cli/calls';
import type { Io } from '../cli/edge';
import { type KubeletCall, parseKubeletArgv, runKubeletCall } from '../cli/fast';
import { ConflictError, INTERNAL_EXIT_CODE, oneLine, UnavailableError } from '../errors';
import { openStream } from '../net/stream';
import { measureFromCallStart } from '../state/call-log';
import { checkStateDir } from '../state/state-dir';
import { peerCredentialsReader } from '../sys/libc';
import {
  AGENT_VERSION,
  type AgentReply,
  agentSocketPath,
  GO,
  MAX_MESSAGE_BYTES,
  READY,
  WIRE_VERSION,
} from './protocol';

// request: reading the request; ready: READY sent, waiting for GO; running: GO came; over: nothing more to do.
type Phase = 'request' | 'ready' | 'running' | 'over';
interface Request {
  call: KubeletCall;
  argv: string[];
}
interface Conn {
  phase: Phase;
  chunks: Buffer[];
  size: number;
  request?: Request;
  pending?: Uint8Array;
  timer?: ReturnType<typeof setTimeout>;
}
interface BunSocket {
  data: Conn;
  fd?: number;
  write(b: Uint8Array | string): number;
  end(): void;
}
interface BunServer {
  stop(closeActive?: boolean): void;
}
type Handlers = Record<string, (s: BunSocket, a?: unknown) => void>;
type BunListen = { listen(o: { unix: string; socket: Handlers }): BunServer };

// A caller that connects and says nothing, or does not say GO after READY, is hung up on. Its
// call is not run: a caller that says GO late finds the connection closed and fails its call.
const REQUEST_LIMIT_MS = 5000;

export async function runAgent(configFlag: string | undefined, io: Io): Promise<void> {
  const bun = (globalThis as { Bun?: BunListen }).Bun;
  if (!bun) throw new UnavailableError('the agent runs only in the podvlan executable');
  const ctx = await loadContext(configFlag);
  const { log } = ctx;
  measureFromCallStart(); // the calls' times for `metrics`: this process started long before them
  // One failed call must never take the others down with the process.
  process.on('unhandledRejection', (err) => log.error('agent: unhandled rejection', { error: oneLine(err) }));
  process.on('uncaughtException', (err) => log.error('agent: uncaught exception', { error: oneLine(err) }));
  const path = agentSocketPath(ctx.config.stateDir);
  // It holds the socket: root's alone, or anyone could stand in for the agent.
  checkStateDir(ctx.config.stateDir, { create: true });
  // Loaded before listening, so that each connection is checked at once, before any of its data.
  const peerOf = await peerCredentialsReader().catch((err: unknown) => {
    throw new UnavailableError(`the agent cannot check its callers (SO_PEERCRED through libc): ${oneLine(err)}`);
  });
  await takeOverSocket(path);
  let inFlight = 0; // READY sent and not over: the caller counts on this agent
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
          s.data = { phase: 'request', chunks: [], size: 0, timer: setTimeout(() => s.end(), REQUEST_LIMIT_MS) };
          if (!fromRoot(s)) {
            over(s);
            s.end();
            return;
          }
          idle.add(s);
        },
        data: (s, chunk) => received(s, chunk as Buffer),
        drain: (s) => flush(s),
        end: (s) => hungUp(s),
        close: (s) => hungUp(s),
      },
    });
  } finally {
    process.umask(oldUmask);
  }
  chmodSync(path, 0o600);

  /** Only root may have the agent act: the socket's mode is one guard, the caller's credentials another. */
  function fromRoot(s: BunSocket): boolean {
    try {
      const peer = peerOf(s.fd ?? -1);
      if (peer.uid === 0) return true;
      log.warn('agent: refused a caller that is not root', { uid: peer.uid, callerPid: peer.pid });
    } catch (err) {
      log.warn('agent: refused a caller whose credentials cannot be read', { error: oneLine(err) });
    }
    return false;
  }

  /** The caller hung up: unless it said GO, its call is not run (it may be doing it itself). */
  function hungUp(s: BunSocket): void {
    if (s.data.phase === 'ready') {
      log.info('agent: the caller hung up before saying go; not run', { argv: s.data.request?.argv });
    }
    if (s.data.phase !== 'running') over(s);
  }

  /** The connection needs nothing more from this agent (it may still be sending its reply). */
  function over(s: BunSocket): void {
    const c = s.data;
    if (c.phase === 'over') return;
    if (c.phase === 'ready' || c.phase === 'running') {
      if (--inFlight === 0) stopping?.();
    }
    c.phase = 'over';
    clearTimeout(c.timer);
    idle.delete(s);
  }

  function received(s: BunSocket, chunk: Buffer): void {
    const c = s.data;
    if (c.phase === 'ready') {
      if (chunk.length !== 1 || chunk[0] !== GO.charCodeAt(0)) {
        over(s);
        s.end();
        return;
      }
      c.phase = 'running';
      clearTimeout(c.timer);
      run(s, c);
      return;
    }
    if (c.phase !== 'request') return;
    c.chunks.push(chunk);
    c.size += chunk.length;
    if (c.size > MAX_MESSAGE_BYTES) {
      over(s);
      s.end();
      return;
    }
    const newline = chunk.indexOf(0x0a);
    if (newline < 0) return;
    if (newline !== chunk.length - 1) {
      over(s);
      s.end();
      return;
    } // nothing may follow before READY
    clearTimeout(c.timer);
    idle.delete(s);
    const request = readRequest(Buffer.concat(c.chunks).toString('utf8'));
    if ('reason' in request || stopped) {
      over(s);
      send(s, { done: false, reason: 'reason' in request ? request.reason : 'the agent is stopping' });
      return;
    }
    c.chunks = [];
    c.request = request;
    c.phase = 'ready';
    inFlight++;
    c.timer = setTimeout(() => {
      log.info('agent: no go from the caller; not run', { argv: request.argv });
      over(s);
      s.end();
    }, REQUEST_LIMIT_MS);
    s.write(READY); // the caller now says GO, or has given up and hangs up: either way, one of us runs it
  }

  /** After GO: whatever happens, the caller gets a done reply (or a hang-up if this process dies). */
  function run(s: BunSocket, c: Conn): void {
    const { call, argv } = c.request!;
    const out: string[] = [];
    const err: string[] = [];
    runKubeletCall(call, argv, { out: (l) => out.push(l), err: (l) => err.push(l) }, { local: true })
      .then(
        (code) => ({ done: true as const, code, out, err }),
        (e: unknown) => {
          log.error('agent: call failed outside its own handling', { argv, error: oneLine(e) });
          const line = `podvlan: internal error in the agent: ${oneLine(e)}`;
          return { done: true as const, code: INTERNAL_EXIT_CODE, out, err: [...err, line] };
        },
      )
      .then((reply) => send(s, reply))
      .catch((e: unknown) => log.error('agent: cannot answer', { argv, error: oneLine(e) }))
      .finally(() => over(s));
  }

  // SIGTERM or SIGINT: stop taking calls, finish the ones under way (also those READY and waiting
  // for GO: their callers count on this agent), leave. Handled before the ready line goes out:
  // console.log writes at once, and whoever waits for that line may signal before the next
  // statement runs (the default action would leave the socket file behind).
  const done = new Promise<void>((resolve) => {
    const stop = () => {
      stopped = true;
      server.stop(false);
      try {
        unlinkSync(path);
      } catch {
        /* already gone */
      }
      for (const s of idle) {
        over(s);
        s.end();
      }
      if (inFlight === 0) resolve();
      else stopping = resolve;
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  log.info('agent listening', { socket: path, version: AGENT_VERSION });
  io.out(`podvlan agent ${AGENT_VERSION} listening on ${path}`);
  await done;
  log.info('agent stopped', { socket: path });
}

/** A request the agent will run, or why it declines (before READY: the caller then works itself). */
function readRequest(text: string): Request | { reason: string } {
  let req: unknown;
  try {
    req = JSON.parse(text);
  } catch {
    return { reason: 'unreadable request' };
  }
  const { version, argv } = (req ?? {}) as { version?: unknown; argv?: unknown };
  if (version !== WIRE_VERSION) return { reason: `agent is version ${WIRE_VERSION}` };
  if (!Array.isArray(argv) || !argv.every((a) => typeof a === 'string')) return { reason: 'malformed request' };
  const call = parseKubeletArgv(argv);
  if (!call || call.command === 'status' || !call.config?.startsWith('/')) {
    return { reason: 'not a setup or teardown with an absolute config path' };
  }
  return { call, argv };
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
  if (n < 0) {
    s.data.pending = undefined;
    return;
  } // the caller went away
  s.data.pending = bytes.subarray(n);
  if (s.data.pending.length === 0) {
    s.data.pending = undefined;
    s.end();
  }
}

/** A socket file nobody answers on is a dead agent's: remove it. One that answers is not ours to take. */
async function takeOverSocket(path: string): Promise<void> {
  if (!existsSync(path)) return;
  const alive = await openStream({ path }, { data: () => {}, closed: () => {} }).then(
    (s) => {
      s.destroy();
      return true;
    },
    () => false,
  );
  if (alive) throw new ConflictError(`another podvlan agent listens on ${path}`);
  unlinkSync(path);
}
