// The one place that spawns iproute2. Commands go in as argument arrays through `ip -batch -`
// on stdin (one process for many commands); a pod-side batch runs under nsenter in the pod's
// network namespace. Never a shell.
import { existsSync } from 'node:fs';
import { OperationError } from '../errors';

// Absolute paths first: the kubelet's PATH is not ours to trust, and may lack /sbin.
function tool(name: string, candidates: string[]): string {
  return candidates.find((c) => existsSync(c)) ?? name;
}
const IP = tool('ip', ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip']);
const NSENTER = tool('nsenter', ['/usr/bin/nsenter', '/bin/nsenter', '/usr/sbin/nsenter']);

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
  const [file, args] = opts.netns ? [NSENTER, [`--net=${opts.netns}`, '--', IP, ...ipArgs]] : [IP, ipArgs];
  const { execa } = await import('execa'); // loaded only by calls that spawn
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
