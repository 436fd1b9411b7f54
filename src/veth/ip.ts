// The one place that spawns iproute2. Commands go in as argument arrays through `ip -batch -`
// on stdin (one process for many commands); a pod-side batch runs under nsenter in the pod's
// network namespace. Never a shell.
import { execa } from 'execa';
import { OperationError } from '../errors';

export type IpCommand = string[];

export interface BatchOptions {
  netns?: string; // /proc/PID/ns/net of the pod; absent = our own namespace
  force?: boolean; // keep going after a failed command (for best-effort cleanup)
  timeoutMs: number;
}

export async function runIpBatch(commands: IpCommand[], opts: BatchOptions): Promise<void> {
  if (commands.length === 0) return;
  for (const c of commands) {
    for (const word of c) if (!/^[A-Za-z0-9_.:/@-]+$/.test(word)) throw new OperationError(`refusing to pass ${JSON.stringify(word)} to ip`);
  }
  const ipArgs = ['-batch', '-', ...(opts.force ? ['-force'] : [])];
  const [file, args] = opts.netns ? ['nsenter', [`--net=${opts.netns}`, '--', 'ip', ...ipArgs]] : ['ip', ipArgs];
  const res = await execa(file, args, {
    input: commands.map((c) => c.join(' ')).join('\n') + '\n',
    reject: false,
    timeout: opts.timeoutMs,
    stdout: 'ignore',
    stderr: 'pipe',
  });
  if (res.exitCode !== 0 && !opts.force) {
    const stderr = res.stderr || res.message || '';
    const failedLine = Number(/Command failed -:(\d+)/.exec(stderr)?.[1] ?? 0);
    const detail = stderr.split('\n').filter((l) => l && !l.startsWith('Command failed')).join('; ');
    const where = failedLine > 0 ? ` at "ip ${commands[failedLine - 1].join(' ')}"` : '';
    throw new OperationError(`${opts.netns ? 'in the pod: ' : ''}ip failed${where}: ${detail || `exit ${res.exitCode}`}`);
  }
}
