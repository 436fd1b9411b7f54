// The resident agent's wire format: one request per connection, one JSON text each way, the
// request ended by a newline, the reply preceded by ACK as soon as the agent has taken the
// request. The agent runs exactly the call the executable would have run, and sends back what
// it would have printed and its exit code.
import pkg from '../../package.json';

export const AGENT_VERSION = pkg.version;
export const MAX_MESSAGE_BYTES = 1 << 20;
export const ACK = '+';

export interface AgentRequest {
  version: string; // an agent of another version declines, and the caller does the work itself
  argv: string[]; // the kubelet's arguments, with the config already resolved to an absolute path
}

export type AgentReply =
  | { done: true; code: number; out: string[]; err: string[] }
  | { done: false; reason: string }; // declined: the caller does the work itself

/** Where the agent listens: in the state directory, which only root can enter. */
export const agentSocketPath = (stateDir: string) => `${stateDir.replace(/\/+$/, '')}/agent.sock`;
