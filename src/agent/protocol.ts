// The resident agent's wire format, one call per connection:
//   caller -> agent   the request, one JSON text ended by a newline
//   agent  -> caller  either a decline (a JSON text {done:false}, then the agent hangs up) or READY
//   caller -> agent   GO, only if the caller has not given up waiting for READY
//   agent  -> caller  the reply, one JSON text {done:true}, then the agent hangs up
// The agent runs a call only after GO, and a caller that sent GO never runs the call itself, so
// exactly one of the two runs it. The agent runs exactly the call the executable would have run,
// and sends back what it would have printed and its exit code. Both ends check that the other is
// root (SO_PEERCRED) before anything else.
import pkg from '../../package.json';

export const AGENT_VERSION = pkg.version;
// What a request names and an agent must match: the release and this protocol. An agent of the
// earlier protocol (READY then run at once) declines a request of this one, never runs it.
export const WIRE_VERSION = `${AGENT_VERSION}/go`;
export const MAX_MESSAGE_BYTES = 1 << 20;
export const READY = '?';
export const GO = '!';

export interface AgentRequest {
  version: string; // WIRE_VERSION; an agent of another declines, and the caller does the work itself
  argv: string[]; // the kubelet's arguments, with the config already resolved to an absolute path
}

export type AgentReply = { done: true; code: number; out: string[]; err: string[] } | { done: false; reason: string }; // declined, before READY: the caller does the work itself

/** Where the agent listens: in the state directory, which only root can enter. */
export const agentSocketPath = (stateDir: string) => `${stateDir.replace(/\/+$/, '')}/agent.sock`;
