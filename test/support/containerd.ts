// A private containerd (Debian's 1.6) with its CRI plugin, as a kubelet's node runs it, for CNI
// tests and the bench: its own root, state, sockets and CNI dirs under one directory, so it never
// meets the sandbox dockerd's containerd or a system one. It runs in the node's network namespace
// (where the test's ovs-vswitchd runs), so the CNI plugins it calls run there too, as on a node.
//
// It starts under `ip netns exec`, whose fresh /sys shows the node's links (podvlan reads
// /sys/class/net) but has lost /sys/fs/cgroup, without which runc cannot start a sandbox: the
// cgroup hierarchies this process is in are mounted again in that private mount namespace. The
// netns files CRI makes live under its state dir in that namespace too; from outside, a pod's
// network namespace is reached as /proc/<pause pid>/ns/net.
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import type { CriClient } from './cri';
import { BINARY } from './plugin';

export const CNI_LOOPBACK = '/usr/lib/cni/loopback';
/** The conflist docs/cni-containerd.md documents; tests and the bench run this very file. */
export const EXAMPLE_CONFLIST = resolve(__dirname, '../../docs/examples/containerd-podvlan.conflist');
/** The sandbox image's name as CRI normalizes it (what `sandbox_image` must say). */
export const PAUSE_IMAGE = 'docker.io/podvlan-test/pause:1';

export interface Containerd {
  dir: string;
  socket: string; // the gRPC (CRI) socket
  pid: number;
  binDir: string; // CNI_PATH: loopback and podvlan (symlinks) plus whatever a test adds
  confDir: string; // the network config dir (max_conf_num = 1: the first file in it is the network)
  logFile: string;
  stop(): Promise<void>;
}

export interface ContainerdOptions {
  dir: string; // created; removed by stop()
  netns: string; // the named network namespace to run in (the sandbox's node namespace)
  /** Extra CNI plugins to link into the bin dir: name -> executable. */
  plugins?: Record<string, string>;
}

function configToml(o: { dir: string; socket: string; binDir: string; confDir: string }): string {
  const q = JSON.stringify;
  return `version = 2
root = ${q(join(o.dir, 'root'))}
state = ${q(join(o.dir, 'state'))}
temp = ${q(join(o.dir, 'tmp'))}
# Snapshotters and services a CRI sandbox does not use, and that would probe the host's disks.
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = ${q(o.socket)}
[ttrpc]
  address = ${q(`${o.socket}.ttrpc`)}

[plugins."io.containerd.internal.v1.opt"]
  path = ${q(join(o.dir, 'opt'))}
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = ${q(PAUSE_IMAGE)}
  disable_apparmor = true
  restrict_oom_score_adj = true
  # Pod netns files under our state dir, not /var/run/netns: nothing of a run outlives it.
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = ${q(o.binDir)}
    conf_dir = ${q(o.confDir)}
    max_conf_num = 1
`;
}

async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 30000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`containerd: ${what} not ready after ${timeoutMs} ms`);
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Start containerd, wait for its socket, import the pause image; stop() undoes all of it. */
export async function startContainerd(opts: ContainerdOptions): Promise<Containerd> {
  const { dir } = opts;
  const socket = join(dir, 'containerd.sock');
  const binDir = join(dir, 'cni-bin');
  const confDir = join(dir, 'cni-conf');
  const logFile = join(dir, 'containerd.log');
  for (const d of [dir, binDir, confDir, join(dir, 'tmp')]) mkdirSync(d, { recursive: true });
  symlinkSync(CNI_LOOPBACK, join(binDir, 'loopback'));
  symlinkSync(BINARY, join(binDir, 'podvlan'));
  for (const [name, file] of Object.entries(opts.plugins ?? {})) symlinkSync(file, join(binDir, name));
  const config = join(dir, 'config.toml');
  writeFileSync(config, configToml({ dir, socket, binDir, confDir }));
  // CRI puts sandboxes under a k8s.io cgroup of each hierarchy and never removes it: stop() does
  // when this run made it (seen from here; a caller under `ip netns exec` sees no cgroups).
  const cgroupsMadeBy = cgroupHierarchies()
    .map((h) => join(h, 'k8s.io'))
    .filter((c) => !existsSync(c));

  // `ip netns exec` gives a mount namespace of its own with the node's sysfs; sh mounts the cgroup
  // hierarchies again there, then `exec` makes containerd the pid we stop (ip execs too).
  const script = [...cgroupMounts(), `exec containerd --config ${config} >${logFile} 2>&1`].join(' && ');
  const child = execa('ip', ['netns', 'exec', opts.netns, 'sh', '-c', script], {
    detached: true,
    stdio: ['ignore', 'ignore', 'ignore'],
    cleanup: false,
    reject: false,
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
    extendEnv: false,
  });
  child.unref();
  // ip execs sh, which execs containerd: one pid throughout.
  const pid = child.pid!;
  writeFileSync(join(dir, 'containerd.pid'), `${pid}\n`);
  const stop = () => stopContainerd(dir, pid, socket, cgroupsMadeBy);
  const handle: Containerd = { dir, socket, pid, binDir, confDir, logFile, stop };
  try {
    await waitFor('gRPC socket', async () => {
      if (!alive(pid)) throw new Error(`containerd exited at start: ${readFileSync(logFile, 'utf8').slice(-2000)}`);
      return (await ctr(handle, ['version'])).exitCode === 0;
    });
    await importPauseImage(handle);
  } catch (err) {
    await stop();
    throw err;
  }
  return handle;
}

/**
 * Shell commands that mount the cgroup hierarchies of this process (/proc/self/cgroup) under
 * /sys/fs/cgroup: cgroup v1 controllers (and the unified v2 tree beside them), or v2 alone.
 */
function cgroupMounts(): string[] {
  const lines = readFileSync('/proc/self/cgroup', 'utf8').trim().split('\n');
  const v1 = lines.map((l) => l.split(':')[1]).filter((controllers) => controllers);
  if (v1.length === 0) return ['mount -t cgroup2 cgroup2 /sys/fs/cgroup'];
  const out = ['mount -t tmpfs -o mode=755 tmpfs /sys/fs/cgroup'];
  for (const controllers of v1) {
    const named = controllers.startsWith('name=');
    const at = `/sys/fs/cgroup/${named ? controllers.slice(5) : controllers}`;
    out.push(`mkdir ${at}`, `mount -t cgroup -o ${named ? `none,${controllers}` : controllers} cgroup ${at}`);
  }
  return [...out, 'mkdir /sys/fs/cgroup/unified', 'mount -t cgroup2 cgroup2 /sys/fs/cgroup/unified'];
}

export function ctr(c: Pick<Containerd, 'socket'>, args: string[]) {
  return execa('ctr', ['--address', c.socket, '--namespace', 'k8s.io', ...args], { reject: false, all: true });
}

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

/**
 * A docker-archive (`docker save` layout) of one layer, a busybox rootfs whose entrypoint sleeps:
 * all a CRI sandbox ("pause") container needs. Built by hand, offline.
 */
function pauseArchive(dir: string): string {
  const work = join(dir, 'pause');
  const rootfs = join(work, 'rootfs');
  mkdirSync(join(rootfs, 'bin'), { recursive: true });
  copyFileSync('/bin/busybox', join(rootfs, 'bin', 'busybox'));
  chmodSync(join(rootfs, 'bin', 'busybox'), 0o755);
  symlinkSync('busybox', join(rootfs, 'bin', 'sleep'));
  return work;
}

async function importPauseImage(c: Containerd): Promise<void> {
  const work = pauseArchive(c.dir);
  const image = join(work, 'image');
  mkdirSync(image, { recursive: true });
  await execa('tar', ['-C', join(work, 'rootfs'), '-cf', join(work, 'layer.tar'), '.']);
  const layer = readFileSync(join(work, 'layer.tar'));
  const diffId = sha256(layer);
  mkdirSync(join(image, diffId));
  copyFileSync(join(work, 'layer.tar'), join(image, diffId, 'layer.tar'));
  const config = JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    // PID 1 of the sandbox: it only holds the namespaces; CRI stops it with SIGKILL.
    config: { Entrypoint: ['/bin/sleep', '2147483647'], Env: ['PATH=/bin'] },
    rootfs: { type: 'layers', diff_ids: [`sha256:${diffId}`] },
  });
  const configName = `${sha256(config)}.json`;
  writeFileSync(join(image, configName), config);
  writeFileSync(
    join(image, 'manifest.json'),
    JSON.stringify([{ Config: configName, RepoTags: ['podvlan-test/pause:1'], Layers: [`${diffId}/layer.tar`] }]),
  );
  const archive = join(work, 'pause.tar');
  await execa('tar', ['-C', image, '-cf', archive, '.']);
  const r = await ctr(c, ['images', 'import', archive]);
  if (r.exitCode !== 0) throw new Error(`ctr images import ${archive} failed: ${r.all}`);
  const listed = await ctr(c, ['images', 'ls', '-q']);
  if (!listed.stdout.split('\n').includes(PAUSE_IMAGE))
    throw new Error(`pause image not imported as ${PAUSE_IMAGE}: ${listed.all}`);
}

/** containerd-shim-runc-v2 processes serving this containerd (their cmdline names its socket). */
function shimPids(socket: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      if (argv[0]?.endsWith('containerd-shim-runc-v2') && argv.includes(socket)) out.push(Number(name));
    } catch {
      /* gone */
    }
  }
  return out;
}

/** Direct children of these pids (a shim's child is its container's init, the pause process). */
function childrenOf(pids: number[]): number[] {
  const parents = new Set(pids);
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      // "pid (comm) state ppid ...": comm may hold spaces, so read after the last ')'.
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (parents.has(ppid)) out.push(Number(name));
    } catch {
      /* gone */
    }
  }
  return out;
}

/**
 * Stop containerd by its pid, then whatever it left running (shims and their containers, found by
 * this containerd's socket), and remove the directory. Pod sandboxes should be removed through CRI
 * first (that is what sends CNI DEL); this is the fallback that leaves nothing behind either way.
 */
async function stopContainerd(dir: string, pid: number, socket: string, cgroups: string[]): Promise<void> {
  const kill = (p: number, signal: NodeJS.Signals) => {
    try {
      process.kill(p, signal);
    } catch {
      /* gone */
    }
  };
  kill(pid, 'SIGTERM');
  await waitFor('exit', () => !alive(pid), 10000).catch(() => kill(pid, 'SIGKILL'));
  const shims = shimPids(socket);
  for (const p of [...childrenOf(shims), ...shims]) kill(p, 'SIGKILL');
  await waitFor('shims to exit', () => shims.every((p) => !alive(p)), 10000).catch(() => undefined);
  // The mounts (snapshots, netns, sysfs) lived in containerd's own mount namespace and went with
  // its last process; a host mount under dir would be ours too (none is expected).
  const mounts = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1])
    .filter((m) => m?.startsWith(`${dir}/`));
  for (const m of mounts.sort().reverse()) await execa('umount', ['-l', m], { reject: false });
  if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
  for (const c of cgroups)
    try {
      rmdirSync(c); // refused while a cgroup below it is in use: then it is not only ours
    } catch {
      /* absent, or busy */
    }
}

/** Where a k8s.io cgroup can be: under each v1 hierarchy, or at the top of a v2-only tree. */
function cgroupHierarchies(): string[] {
  try {
    const below = readdirSync('/sys/fs/cgroup', { withFileTypes: true }).filter((e) => e.isDirectory());
    return ['/sys/fs/cgroup', ...below.map((e) => join('/sys/fs/cgroup', e.name))];
  } catch {
    return [];
  }
}

/** The documented conflist with podvlan's entry changed by `plugin` (a node's bridge, OVSDB, paths). */
export function exampleConflist(plugin: Record<string, unknown>): {
  cniVersion: string;
  name: string;
  plugins: Record<string, unknown>[];
} {
  const list = JSON.parse(readFileSync(EXAMPLE_CONFLIST, 'utf8'));
  list.plugins[0] = { ...list.plugins[0], ...plugin };
  return list;
}

/** Make `list` the network CRI uses, and wait until CRI has loaded it (it watches the conf dir). */
export async function useConflist(c: Containerd, cri: CriClient, list: object): Promise<void> {
  const text = JSON.stringify(list, null, 2);
  for (const f of readdirSync(c.confDir)) rmSync(join(c.confDir, f));
  writeFileSync(join(c.confDir, '10-network.conflist'), text);
  const deadline = Date.now() + 20000;
  while (Date.now() < deadline) {
    const { networkReady, cniConfig } = await cri.status();
    const networks = (JSON.parse(cniConfig || '{}').Networks ?? []) as { Config: { Source: string } }[];
    if (networkReady && networks.some((n) => n.Config.Source === text)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`CRI did not load the conflist in ${c.confDir} within 20 s`);
}
