// The kubelet's most frequent call, kept off the full CLI: `status` loads no argument parser,
// YAML parser or schema, only the pod record reader. Output rules as in program.ts: stdout
// only, never stderr.
import { statusOutput } from '../commands/status';
import { findConfigPath, quickStateDir, readConfigText } from '../config/locate';
import { INTERNAL_EXIT_CODE, oneLine, PodvlanError } from '../errors';
import { parsePodArgs } from '../names';

export interface StatusArgs { config?: string; positional: string[] }

/** `[-c P | --config P | --config=P] status NS POD ID [RUNTIME]`, else undefined (full CLI). */
export function parseStatusArgv(argv: string[]): StatusArgs | undefined {
  let config: string | undefined;
  let i = 0;
  if ((argv[0] === '--config' || argv[0] === '-c') && argv.length > 1) { config = argv[1]; i = 2; }
  else if (argv[0]?.startsWith('--config=')) { config = argv[0].slice('--config='.length); i = 1; }
  if (argv[i] !== 'status') return undefined;
  const positional = argv.slice(i + 1);
  if (positional.length < 3 || positional.length > 4 || positional.some((a) => a.startsWith('-'))) return undefined;
  return { config, positional };
}

export async function runStatus(args: StatusArgs, out: (line: string) => void): Promise<number> {
  try {
    const [ns, pod, id, runtime] = args.positional;
    const ref = parsePodArgs(ns, pod, id, runtime);
    const path = findConfigPath(args.config);
    const text = readConfigText(path);
    const stateDir = quickStateDir(text) ?? (await import('../config/load')).loadConfig(path).config.stateDir;
    const line = statusOutput(stateDir, ref);
    if (line) out(line);
    return 0;
  } catch (err) {
    out(`podvlan: ${err instanceof PodvlanError ? '' : 'internal error: '}${oneLine(err)}`);
    return err instanceof PodvlanError ? err.exitCode : INTERNAL_EXIT_CODE;
  }
}
