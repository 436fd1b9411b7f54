// The one place that spawns iproute2 (and procps' sysctl, for what ip cannot set). Commands go in as argument arrays through `ip -batch -`
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
import { OperationError, oneLine } from '../errors';

// Absolute paths first: the kubelet's PATH is not ours to trust, and may lack /sbin.
function tool(name: string, candidates: string[]): string {
  return candidates.find((c) => existsSync(c)) ?? name;
}
const IP = tool('ip', ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip']);
const NSENTER = tool('nsenter', ['/usr/bin/nsenter', '/bin/nsenter', '/usr/sbin/nsenter']);
const SYSCTL = tool('sysctl', ['/usr/sbin/sysctl', '/sbin/sysctl']);

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
  checkWords(commands);
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

/**
 * Read-only queries (`addr show`, `route show`, ...) run inside the namespace `netnsFd` holds, with
 * `ip -json`: one JSON document per command that ran, in order. A command that fails (a device
 * that does not exist) ends the batch there: `outputs` is shorter and `stderr` says why.
 */
export async function queryIpJson(
  commands: IpCommand[],
  opts: { netnsFd: number; timeoutMs: number },
): Promise<{ outputs: unknown[]; stderr: string }> {
  checkWords(commands);
  const args = [`--net=${CHILD_NETNS}`, '--', IP, '-json', '-details', '-batch', '-'];
  const input = `${commands.map((c) => c.join(' ')).join('\n')}\n`;
  const res = await spawnWithInput(NSENTER, args, input, opts.timeoutMs, opts.netnsFd, true);
  const outputs: unknown[] = [];
  for (const line of res.stdout.split('\n')) {
    if (line.trim() === '') continue;
    try {
      outputs.push(JSON.parse(line));
    } catch {
      throw new OperationError(`in the pod: ip -json printed something that is not JSON: ${line.slice(0, 80)}`);
    }
  }
  return { outputs, stderr: res.stderr.trim() };
}

/** `ip -json addr show` in our own namespace: every link's addresses, whether the link is up or not. */
export async function hostAddressesJson(timeoutMs: number): Promise<unknown> {
  const res = await spawnWithInput(IP, ['-json', 'addr', 'show'], '', timeoutMs, undefined, true);
  if (res.exitCode !== 0)
    throw new OperationError(`ip addr show failed: ${oneLine(res.stderr) || `exit ${res.exitCode}`}`);
  try {
    return JSON.parse(res.stdout);
  } catch {
    throw new OperationError(`ip -json addr show printed something that is not JSON: ${res.stdout.slice(0, 80)}`);
  }
}

/** `sysctl -w` of `net.ipv4.conf.IF.arp_notify=1` for each of `arp` and of
 * `net.ipv6.conf.IF.ndisc_notify=1` for each of `ndisc`, in one process inside the namespace
 * `netnsFd` holds: iproute2 has no word for them. The slash form of the key keeps a dot in an
 * interface name a dot. */
export async function notifyInPod(
  interfaces: { arp: string[]; ndisc: string[] },
  opts: { netnsFd: number; timeoutMs: number },
): Promise<void> {
  const key = (i: string, path: string) => {
    if (!/^[A-Za-z0-9_.-]{1,15}$/.test(i) || i === '.' || i === '..')
      throw new OperationError(`refusing to pass interface ${JSON.stringify(i)} to sysctl`);
    return path.replace('IF', i);
  };
  const keys = [
    ...interfaces.arp.map((i) => key(i, 'net/ipv4/conf/IF/arp_notify=1')),
    ...interfaces.ndisc.map((i) => key(i, 'net/ipv6/conf/IF/ndisc_notify=1')),
  ];
  if (keys.length === 0) return;
  const args = [`--net=${CHILD_NETNS}`, '--', SYSCTL, '-q', '-w', ...keys];
  const res = await spawnWithInput(NSENTER, args, '', opts.timeoutMs, opts.netnsFd);
  if (res.exitCode !== 0)
    throw new OperationError(`in the pod: sysctl failed: ${oneLine(res.stderr) || `exit ${res.exitCode}`}`);
}

/** `sysctl -w net.ipv6.conf.IF.disable_ipv6=0` for each of `interfaces` (podvlan's own pod ends
 * with an IPv6 address), in one process inside the namespace, before their addresses: see
 * ipv6OnIn of netlink-ffi.ts for why. Throws on failure: the addresses would fail without it. */
export async function ipv6InPod(interfaces: string[], opts: { netnsFd: number; timeoutMs: number }): Promise<void> {
  if (interfaces.length === 0) return;
  for (const i of interfaces)
    if (!/^[A-Za-z0-9_.-]{1,15}$/.test(i) || i === '.' || i === '..')
      throw new OperationError(`refusing to pass interface ${JSON.stringify(i)} to sysctl`);
  const keys = interfaces.map((i) => `net/ipv6/conf/${i}/disable_ipv6=0`);
  const args = [`--net=${CHILD_NETNS}`, '--', SYSCTL, '-q', '-w', ...keys];
  const res = await spawnWithInput(NSENTER, args, '', opts.timeoutMs, opts.netnsFd);
  if (res.exitCode !== 0)
    throw new OperationError(`in the pod: sysctl failed: ${oneLine(res.stderr) || `exit ${res.exitCode}`}`);
}

function checkWords(commands: IpCommand[]): void {
  for (const c of commands) {
    for (const word of c)
      if (!/^[A-Za-z0-9_.:/@-]+$/.test(word))
        throw new OperationError(`refusing to pass ${JSON.stringify(word)} to ip`);
  }
}

function spawnWithInput(
  file: string,
  args: string[],
  input: string,
  timeoutMs: number,
  fd3?: number,
  captureStdout = false,
): Promise<{ exitCode: number; stderr: string; stdout: string }> {
  return new Promise((resolve) => {
    // An fd in a stdio slot is dup'ed into the child only; ours stays open (the caller closes it).
    const out = captureStdout ? 'pipe' : 'ignore';
    const stdio = fd3 === undefined ? (['pipe', out, 'pipe'] as const) : (['pipe', out, 'pipe', fd3] as const);
    const child = nodeChildProcess().spawn(file, args, { stdio: [...stdio], shell: false });
    const stderr: Buffer[] = [];
    const stdout: Buffer[] = [];
    child.stdout?.on('data', (c: Buffer) => stdout.push(c));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stderr!.on('data', (c: Buffer) => stderr.push(c));
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ exitCode: -1, stderr: `cannot run ${file}: ${err.message}`, stdout: '' });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const text = Buffer.concat(stderr).toString('utf8');
      resolve({
        exitCode: code ?? -1,
        stderr: signal ? `${text}\n${file} killed by ${signal} after ${timeoutMs} ms` : text,
        stdout: Buffer.concat(stdout).toString('utf8'),
      });
    });
    child.stdin!.on('error', () => {
      /* the child exited early; its exit code tells */
    });
    child.stdin!.end(input);
  });
}
