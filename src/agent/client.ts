// The executable's side of the resident agent: hand a setup or teardown to a running agent, or
// return undefined when none takes it, so the caller does the work itself. Costs one failed
// connect when no agent runs (bun:ffi is loaded only once a connect succeeded).
//
// Exactly one of the two runs each call. Until it says GO, the caller may still give up and work
// here (the agent ran nothing and never will: it runs only on GO, and a caller that gave up has
// hung up). Once it said GO it never falls back: it waits for the reply, however long the call
// takes (the call's own deadlines bound it), and an agent that goes away without one fails the
// call with one line, so the kubelet retries rather than this process racing the agent.
import { UnavailableError } from '../errors';
import { GO, MAX_MESSAGE_BYTES, READY, WIRE_VERSION, type AgentReply, agentSocketPath } from './protocol';

export interface AgentResult {
  code: number;
  out: string[];
  err: string[];
}

// An agent that does not take the request at once is stuck (stopped, or its loop blocked): work
// here instead.
const READY_LIMIT_MS = 3000;
// After GO the caller never falls back, but it must not wait for ever either (the kubelet's exec
// plugin calls have no timeout of their own): an agent wedged mid-call fails the call. A call's
// own waits are each bounded by timeoutMs (at most 600 s); two of them and a margin fit here.
const REPLY_LIMIT_MS = 1_300_000;

interface BunSocket {
  fd?: number;
  write(data: Uint8Array | string): number;
  end(): void;
  terminate?(): void;
}
type Handlers = Record<string, (s: BunSocket, arg?: unknown) => void>;
interface BunConnect {
  connect(o: { unix: string; socket: Handlers }): Promise<BunSocket>;
}

export function askAgent(stateDir: string, argv: string[]): Promise<AgentResult | undefined> {
  const bun = (globalThis as { Bun?: BunConnect }).Bun;
  if (!bun) return Promise.resolve(undefined); // only the executable (bun) talks to an agent
  const path = agentSocketPath(stateDir);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let socket: BunSocket | undefined;
    let pending: Uint8Array | undefined;
    let asked = false; // the request went out: only then may the agent speak
    let saidGo = false;
    let settled = false;
    const finish = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (socket) {
        if (socket.terminate) socket.terminate();
        else socket.end();
      }
      outcome();
    };
    const fallBack = () => finish(() => resolve(undefined));
    const lost = (why: string) =>
      finish(() =>
        reject(
          new UnavailableError(
            `the agent on ${path} ${why} after taking the call; it may have run in part, not retried here`,
          ),
        ),
      );
    let timer = setTimeout(() => {
      if (!saidGo) fallBack();
    }, READY_LIMIT_MS);
    const write = (s: BunSocket, bytes: Uint8Array) => {
      const n = s.write(bytes);
      pending = n >= 0 && n < bytes.length ? bytes.subarray(n) : undefined;
    };
    const received = (s: BunSocket, chunk: Buffer) => {
      if (settled) return;
      if (!asked) {
        fallBack();
        return;
      } // speaks first: not an agent
      if (!saidGo && size === 0 && chunk[0] === READY.charCodeAt(0)) {
        saidGo = true; // from here on, this process never does the call itself
        clearTimeout(timer);
        timer = setTimeout(() => lost(`did not answer within ${REPLY_LIMIT_MS / 1000} s`), REPLY_LIMIT_MS);
        write(s, new TextEncoder().encode(GO));
        chunk = chunk.subarray(1);
      }
      size += chunk.length;
      if (size > MAX_MESSAGE_BYTES) {
        if (saidGo) lost('sent an oversized reply');
        else fallBack();
        return;
      }
      chunks.push(chunk);
    };
    const ended = () => {
      if (settled) return;
      let reply: AgentReply | undefined;
      try {
        reply = JSON.parse(Buffer.concat(chunks).toString('utf8')) as AgentReply;
      } catch {
        /* none, or garbage */
      }
      if (saidGo) {
        if (reply?.done === true) finish(() => resolve({ code: reply.code, out: reply.out, err: reply.err }));
        else lost('hung up without an answer');
      } else {
        fallBack(); // declined (another version, a malformed request), died, or not an agent at all
      }
    };
    bun
      .connect({
        unix: path,
        socket: {
          data: (s, chunk) => received(s, chunk as Buffer),
          drain: (s) => {
            if (pending) write(s, pending);
          },
          end: ended,
          close: ended,
          error: ended,
        },
      })
      .then(async (s) => {
        socket = s;
        if (settled) {
          if (s.terminate) s.terminate();
          else s.end();
          return;
        } // gave up while connecting
        // Only root may stand in for podvlan: a socket someone else listens on is ignored.
        if (!(await servedByRoot(s))) {
          fallBack();
          return;
        }
        if (settled) return;
        asked = true;
        write(s, new TextEncoder().encode(`${JSON.stringify({ version: WIRE_VERSION, argv })}\n`));
      }, fallBack); // no socket file (ENOENT), or a dead agent's (ECONNREFUSED): do the work here
  });
}

async function servedByRoot(s: BunSocket): Promise<boolean> {
  try {
    const { peerCredentialsReader } = await import('../sys/libc');
    return (await peerCredentialsReader())(s.fd ?? -1).uid === 0;
  } catch {
    return false; // credentials unreadable: not trusted
  }
}
