// A private sandbox of the real parts podvlan talks to: ovsdb-server and ovs-vswitchd
// (userspace datapath) inside a network namespace of our own, and a dockerd of our own with an
// offline-built busybox image. Used by the e2e tests, the demo and the bench. Everything lives
// under one temporary directory and one netns, removed by stop().
import { execa } from 'execa';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  copyFileSync,
  chmodSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HINT_DIR } from '../../src/config/state-dir-hint';

export const IMAGE = 'podvlan-test/busybox:1';

export interface SandboxInfo {
  dir: string;
  netns: string; // the "host" namespace of the node: OVS datapath, host-side veths, plugin calls
  ovsdb: string; // unix:PATH
  dockerSocket: string;
  vswitchdCtl: string;
}

async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 30000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`sandbox: ${what} not ready after ${timeoutMs} ms`);
}

export async function startSandbox(): Promise<SandboxInfo> {
  const dir = mkdtempSync(join(tmpdir(), 'pvsbx-'));
  const netns = `pvsbx-${dir.slice(-6).toLowerCase()}`;
  const info: SandboxInfo = {
    dir,
    netns,
    ovsdb: `unix:${dir}/db.sock`,
    dockerSocket: `${dir}/docker.sock`,
    vswitchdCtl: `${dir}/vswitchd.ctl`,
  };
  await execa('ip', ['netns', 'add', netns]);
  await execa('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
  await startOvs(dir, netns);
  await startDocker(info);
  return info;
}

/** ovsdb-server (socket `dir`/db.sock) and ovs-vswitchd inside `netns`, everything under `dir`:
 * the sandbox's node, and each simulated cluster node (node.ts). */
export async function startOvs(dir: string, netns: string): Promise<void> {
  const ovsdb = await startOvsdb(dir);
  const vswitchd = [ovsdb, `--pidfile=${dir}/vswitchd.pid`, '--detach', `--log-file=${dir}/vswitchd.log`];
  await execa('ip', ['netns', 'exec', netns, 'ovs-vswitchd', ...vswitchd, `--unixctl=${dir}/vswitchd.ctl`], {
    env: { OVS_RUNDIR: dir },
  });
}

/** An initialised ovsdb-server alone (pid file dir/ovsdb.pid); returns its `unix:` remote. */
export async function startOvsdb(dir: string): Promise<string> {
  const ovsdb = `unix:${dir}/db.sock`;
  await execa('ovsdb-tool', ['create', `${dir}/conf.db`, '/usr/share/openvswitch/vswitch.ovsschema']);
  await execa('ovsdb-server', [
    `${dir}/conf.db`,
    `--remote=punix:${dir}/db.sock`,
    `--pidfile=${dir}/ovsdb.pid`,
    '--detach',
    `--log-file=${dir}/ovsdb.log`,
    `--unixctl=${dir}/ovsdb.ctl`,
  ]);
  await execa('ovs-vsctl', [`--db=${ovsdb}`, '--no-wait', 'init']);
  return ovsdb;
}

async function startDocker(info: SandboxInfo): Promise<void> {
  const { dir } = info;
  mkdirSync(`${dir}/docker`, { recursive: true });
  // Detached so it outlives this call; stopped by pid in stopSandbox.
  const child = execa(
    'dockerd',
    [
      `--host=unix://${info.dockerSocket}`,
      `--data-root=${dir}/docker`,
      `--exec-root=${dir}/dexec`,
      `--pidfile=${dir}/docker.pid`,
      '--iptables=false',
      '--ip-forward=false',
      '--bridge=none',
    ],
    {
      detached: true,
      stdio: ['ignore', 'ignore', 'ignore'],
      cleanup: false,
      reject: false,
    },
  );
  child.unref();
  await waitFor('dockerd', async () => (await docker(info, ['info'], false)).exitCode === 0);
  await docker(info, ['import', await busyboxRootfsTar(dir), IMAGE]);
}

/** A busybox (from busybox-static) root filesystem as a tar under `dir`, for `docker|podman import`. */
export async function busyboxRootfsTar(dir: string): Promise<string> {
  const rootfs = `${dir}/rootfs`;
  mkdirSync(`${rootfs}/bin`, { recursive: true });
  copyFileSync('/bin/busybox', `${rootfs}/bin/busybox`);
  chmodSync(`${rootfs}/bin/busybox`, 0o755);
  for (const tool of ['sh', 'ip', 'ping', 'sleep', 'cat', 'ls']) symlinkSync('busybox', `${rootfs}/bin/${tool}`);
  await execa('tar', ['-C', rootfs, '-cf', `${dir}/rootfs.tar`, '.']);
  return `${dir}/rootfs.tar`;
}

export function docker(info: SandboxInfo, args: string[], reject = true) {
  return execa('docker', ['-H', `unix://${info.dockerSocket}`, ...args], { reject, all: true });
}

/** Start a pod's infra container as the kubelet would with --net=none; returns its full id. */
export async function startContainer(info: SandboxInfo): Promise<string> {
  const { stdout } = await docker(info, ['run', '-d', '--net=none', IMAGE, 'sleep', '3600']);
  return stdout.trim();
}

export function podExec(info: SandboxInfo, id: string, cmd: string[]) {
  return docker(info, ['exec', id, ...cmd], false);
}

/** Whether `from` can ping `ip` (two tries, one second each). */
export async function canPing(info: SandboxInfo, from: string, ip: string): Promise<boolean> {
  const r = await podExec(info, from, ['ping', '-c', '2', '-W', '1', ip]);
  return r.exitCode === 0;
}

function pidOf(file: string): number | undefined {
  try {
    return Number(readFileSync(file, 'utf8').trim()) || undefined;
  } catch {
    return undefined;
  }
}

export async function stopSandbox(info: SandboxInfo): Promise<void> {
  const { dir } = info;
  const ids = (await docker(info, ['ps', '-aq'], false)).stdout.split('\n').filter(Boolean);
  if (ids.length) await docker(info, ['rm', '-f', ...ids], false);
  for (const f of ['docker.pid', 'vswitchd.pid', 'ovsdb.pid']) {
    const pid = pidOf(join(dir, f));
    if (pid)
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        /* gone */
      }
  }
  await waitFor(
    'daemons to stop',
    () =>
      ['docker.pid', 'vswitchd.pid', 'ovsdb.pid'].every((f) => {
        const pid = pidOf(join(dir, f));
        if (!pid) return true;
        try {
          process.kill(pid, 0);
          return false;
        } catch {
          return true;
        }
      }),
    20000,
  ).catch(() => undefined);
  // Whatever did not stop in time (and the container processes it leaves) is killed outright.
  await execa('pkill', ['-9', '-f', dir], { reject: false });
  const mounts = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1])
    .filter((m) => m?.startsWith(dir));
  for (const m of mounts.sort().reverse()) await execa('umount', ['-l', m], { reject: false });
  await execa('ip', ['netns', 'del', info.netns], { reject: false });
  if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
  removeStatusHints(dir);
}

/** status's stateDir hints (/run/podvlan) of the configs that lived in the sandbox. */
function removeStatusHints(dir: string): void {
  let names: string[] = [];
  try {
    names = readdirSync(HINT_DIR);
  } catch {
    return;
  }
  for (const name of names) {
    const file = join(HINT_DIR, name);
    try {
      if ((JSON.parse(readFileSync(file, 'utf8')) as { path?: string }).path?.startsWith(`${dir}/`))
        rmSync(file, { force: true });
    } catch {
      /* not a hint, or gone */
    }
  }
}
