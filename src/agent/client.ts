// The executable's side of the resident agent: hand a setup or teardown to a running agent, or
// return undefined at once when none answers, so the caller does the work itself. Costs one
// failed connect when no agent runs. Safe to fall back even mid-call: setup and teardown are
// idempotent, and the per-pod lock makes a fallback wait for whatever the agent still holds.
import { openStream, type Stream } from '../net/stream';
import { ACK, AGENT_VERSION, type AgentReply, agentSocketPath, MAX_MESSAGE_BYTES } from './protocol';

export interface AgentResult { code: number; out: string[]; err: string[] }

// An agent that does not take the request at once is stuck (stopped, or its loop blocked): work
// here instead. Once taken, the agent enforces the call's own deadlines; the second limit is for
// an agent wedged mid-call.
const ACK_LIMIT_MS = 3000;
const REPLY_LIMIT_MS = 120_000;

export function askAgent(stateDir: string, argv: string[]): Promise<AgentResult | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let stream: Stream | undefined;
    let settled = false;
    const settle = (result: AgentResult | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      stream?.destroy();
      resolve(result);
    };
    let timer = setTimeout(() => settle(undefined), ACK_LIMIT_MS);
    const ended = () => {
      const text = Buffer.concat(chunks).toString('utf8');
      try {
        if (!text.startsWith(ACK)) throw new Error('no acknowledgement');
        const reply = JSON.parse(text.slice(ACK.length)) as AgentReply;
        settle(reply.done ? { code: reply.code, out: reply.out, err: reply.err } : undefined);
      } catch {
        settle(undefined); // the agent declined, died or sent garbage: do the work here
      }
    };
    openStream({ path: agentSocketPath(stateDir) }, {
      data: (c) => {
        if (size === 0 && c.length > 0) { clearTimeout(timer); timer = setTimeout(() => settle(undefined), REPLY_LIMIT_MS); }
        size += c.length;
        if (size > MAX_MESSAGE_BYTES) settle(undefined);
        else chunks.push(c);
      },
      closed: ended,
    }).then((s) => {
      stream = s;
      if (settled) s.destroy();
      else s.write(`${JSON.stringify({ version: AGENT_VERSION, argv })}\n`);
    }, () => settle(undefined));
  });
}
