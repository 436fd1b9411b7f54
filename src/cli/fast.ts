// The kubelet's calls, kept off the full CLI: `setup|teardown|status NS POD ID [RUNTIME]`
// (optionally after -c PATH) load no argument parser, and status not even the YAML parser or
// schema. Anything else (help, options, other commands) goes to program.ts.
import { parsePodArgs, type PodRef } from '../names';
import { checkArgLengths, failure, type Io } from './edge';
import { locateConfig, stateDirOf, statusCall } from './status-call';

// setup and teardown load their machinery on demand; status carries almost nothing.
const CALLS = {
  setup: async (ref: PodRef, config: string | undefined, io: Io) =>
    (await import('./calls')).setupCall(ref, config, io),
  teardown: async (ref: PodRef, config: string | undefined, io: Io) =>
    (await import('./calls')).teardownCall(ref, config, io),
} as const;
type CallName = keyof typeof CALLS | 'status';

export interface KubeletCall {
  command: CallName;
  config?: string;
  positional: string[];
}

export function parseKubeletArgv(argv: string[]): KubeletCall | undefined {
  let config: string | undefined;
  let i = 0;
  if ((argv[0] === '--config' || argv[0] === '-c') && argv.length > 1) {
    config = argv[1];
    i = 2;
  } else if (argv[0]?.startsWith('--config=')) {
    config = argv[0].slice('--config='.length);
    i = 1;
  }
  const command = argv[i];
  if (command !== 'setup' && command !== 'teardown' && command !== 'status') return undefined;
  const positional = argv.slice(i + 1);
  if (positional.length < 3 || positional.length > 4 || positional.some((a) => a.startsWith('-'))) return undefined;
  return { command, config, positional };
}

/** local: run here even if an agent listens (the agent itself runs calls this way). */
export async function runKubeletCall(
  call: KubeletCall,
  argv: string[],
  io: Io,
  opts: { local?: boolean } = {},
): Promise<number> {
  // status must never write to stderr: its failures go to stdout (the kubelet fails it either way).
  const report = call.command === 'status' ? io.out : io.err;
  const config = call.command === 'status' ? locateConfig(call.config) : undefined;
  try {
    checkArgLengths(argv);
    const [ns, pod, id, runtime] = call.positional;
    const ref = parsePodArgs(ns, pod, id, runtime);
    if (call.command === 'status') {
      await statusCall(ref, config!, io);
      return 0;
    }
    if (!opts.local) {
      const handed = await handToAgent(call);
      if (handed) {
        handed.out.forEach((l) => io.out(l));
        handed.err.forEach((l) => io.err(l));
        return handed.code;
      }
    }
    await CALLS[call.command](ref, call.config, io);
    return 0;
  } catch (err) {
    return failure(err, report, argv);
  }
}

/** The call, done by a running `podvlan agent` if one answers on this config's state directory
 * (and $PODVLAN_AGENT is not "off"); undefined means: do it here. */
async function handToAgent(call: KubeletCall): Promise<{ code: number; out: string[]; err: string[] } | undefined> {
  if (process.env.PODVLAN_AGENT === 'off') return undefined;
  const where = locateConfig(call.config);
  // The state directory the full parser reads (quickly when it can): an unreadable or invalid
  // config is reported by the local call.
  const stateDir = await stateDirOf(where).catch(() => undefined);
  if (!stateDir) return undefined;
  const { askAgent } = await import('../agent/client');
  return askAgent(stateDir, ['--config', where.path, call.command, ...call.positional]);
}
