// The one place that spawns iproute2. Commands go in as argument arrays through `ip -batch -`
// on stdin (one process for many commands); a pod-side batch runs under nsenter in the pod's
// network namespace. Never a shell. The pod's namespace is handed to the child as an open file
// descriptor (fd 3, an extra stdio slot), named there /proc/self/fd/3, never by PID or
// /proc/PID path: those may name another namespace by the time the child runs.
//
// Spawned with node:child_process rather than execa: loading execa costs ~30 ms in the compiled
// executable (measured, see README), more than the whole rest of a teardown, and we need none
// of its features beyond an argument array, stdin, stderr and a timeout.
import { nodeChildProcess } from '../builtins';
import { existsSync } from 'node:fs';
import { OperationError } from '../errors';

// Absolute paths first: the kubelet's PATH is not ours to trust, and may lack /sbin.
function tool(name: string, candidates: string[]): string {
  return candidates.find((c) => existsSync(c)) ?? name;
}
const IP = tool('ip', ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip']);
const NSENTER = tool('nsenter', ['/usr/bin/nsenter', '/bin/nsenter', '/usr/sbin/nsenter']);

export type IpCommand = string[];

/** Where a child of runIpBatch finds the namespace fd it was given (`ip ... netns CHILD_NETNS`). */
export const CHILD_NETNS = '/proc/self/fd/3';

export interface BatchOptions {
  netnsFd?: number; // an open namespace, passed to the child as fd 3
  enterNetns?: boolean; // run the batch inside that namespace (nsenter); else ip runs in ours
  force?: boolean; // keep going after a failed command (for best-effort cleanup)
  timeoutMs: number;
}

export async function runIpBatch(commands: IpCommand[], opts: BatchOptions): Promise<void> {
  if (commands.length === 0) return;
  for (const c of commands) {
    for (const word of c)
      if (!/^[A-Za-z0-9_.:/@-]+$/.test(word))
        throw new OperationError(`refusing to pass ${JSON.stringify(word)} to ip`);
  }
  const ipArgs = ['-batch', '-', ...(opts.force ? ['-force'] : [])];
  const inPod = opts.enterNetns === true;
  if (inPod && opts.netnsFd === undefined) {
    throw new OperationError('internal: a pod-side ip batch needs a namespace fd');
  }
  const [file, args] = inPod ? [NSENTER, [`--net=${CHILD_NETNS}`, '--', IP, ...ipArgs]] : [IP, ipArgs];
  const input = `${commands.map((c) => c.join(' ')).join('\n')}\n`;
  const res = await spawnWithInput(file, args, input, opts.timeoutMs, opts.netnsFd);
  if (res.exitCode !== 0 && !opts.force) {
    const stderr = res.stderr;
    const failedLine = Number(/Command failed -:(\d+)/.exec(stderr)?.[1] ?? 0);
    const detail = stderr
      .split('\n')
      .filter((l) => l && !l.startsWith('Command failed'))
      .join('; ');
    const where = failedLine > 0 ? ` at "ip ${commands[failedLine - 1].join(' ')}"` : '';
    throw new OperationError(`${inPod ? 'in the pod: ' : ''}ip failed${where}: ${detail || `exit ${res.exitCode}`}`);
  }
}

function spawnWithInput(
  file: string,
  args: string[],
  input: string,
  timeoutMs: number,
  fd3?: number,
): Promise<{ exitCode: number; stderr: string }> {
  return new Promise((resolve) => {
    // An fd in a stdio slot is dup'ed into the child only; ours stays open (the caller closes it).
    const stdio =
      fd3 === undefined ? (['pipe', 'ignore', 'pipe'] as const) : (['pipe', 'ignore', 'pipe', fd3] as const);
    const child = nodeChildProcess().spawn(file, args, { stdio: [...stdio], shell: false });
    const stderr: Buffer[] = [];
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stderr!.on('data', (c: Buffer) => stderr.push(c));
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ exitCode: -1, stderr: `cannot run ${file}: ${err.message}` });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const text = Buffer.concat(stderr).toString('utf8');
      resolve({
        exitCode: code ?? -1,
        stderr: signal ? `${text}\n${file} killed by ${signal} after ${timeoutMs} ms` : text,
      });
    });
    child.stdin!.on('error', () => {
      /* the child exited early; its exit code tells */
    });
    child.stdin!.end(input);
  });
}
