// A private podman (Debian 12's 4.3.1) on its CNI backend, for the podman e2e test: its own
// storage, run and tmp dirs and containers.conf under one directory, the networks given as
// conflists, podvlan as the CNI plugin `podvlan` (a symlink to the built executable, beside
// Debian's reference plugins), and a busybox image imported from a tarball (nothing is pulled).
//
// podman runs in the sandbox's network namespace so podvlan, which podman executes, reaches the
// sandbox's OVS and the host ends of the veths land beside its bridges. It is entered with
// `nsenter --net` rather than `ip netns exec`: the latter also gives each call a private mount
// namespace with the netns's own /sys, where runc finds no cgroup mount (`podman run` fails) and
// where the netns bind mounts podman makes under /run/netns would not outlive the call.
import { execa } from 'execa';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BINARY } from './plugin';
import { busyboxRootfsTar, type SandboxInfo } from './sandbox';

export const PODMAN_IMAGE = 'localhost/podvlan-test/busybox:1';
/** Where libcni (inside podman) caches each ADD result: `<network>-<container id>-<ifname>`. */
const CNI_RESULT_CACHE = '/var/lib/cni/results';

export interface PodmanRun {
  exitCode: number;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface Podman {
  dir: string;
  /** `podman ARGS` with the private dirs and config, in the sandbox's netns. */
  run(args: string[]): Promise<PodmanRun>;
  /** Removes every container (their netns too), the storage and the dirs. */
  stop(): Promise<void>;
}

export interface PodmanNetwork {
  name: string;
  [key: string]: unknown;
}

/** Start nothing long-lived: podman has no daemon; this prepares the dirs and imports the image. */
export async function startPodman(info: SandboxInfo, dir: string, conflists: PodmanNetwork[]): Promise<Podman> {
  const dirs = {
    plugins: join(dir, 'cni-bin'),
    networks: join(dir, 'cni-conf'),
    root: join(dir, 'root'),
    runroot: join(dir, 'runroot'),
    tmp: join(dir, 'tmp'),
  };
  for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true });
  symlinkSync(BINARY, join(dirs.plugins, 'podvlan'));
  for (const c of conflists) writeFileSync(join(dirs.networks, `${c.name}.conflist`), JSON.stringify(c, null, 2));
  const conf = join(dir, 'containers.conf');
  writeFileSync(conf, containersConf(dirs.plugins, dirs.networks));
  const run = async (args: string[]): Promise<PodmanRun> => {
    const started = performance.now();
    const r = await execa(
      'nsenter',
      [
        `--net=/run/netns/${info.netns}`,
        'podman',
        '--root',
        dirs.root,
        '--runroot',
        dirs.runroot,
        '--tmpdir',
        dirs.tmp,
        // vfs: plain copies, no overlay mounts to leak from a test that fails halfway.
        '--storage-driver',
        'vfs',
        ...args,
      ],
      {
        reject: false,
        env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: dir, CONTAINERS_CONF: conf },
        extendEnv: false,
        timeout: 60000,
      },
    );
    return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr, ms: performance.now() - started };
  };
  const imported = await run(['import', await busyboxRootfsTar(dir), PODMAN_IMAGE]);
  if (imported.exitCode !== 0) throw new Error(`podman import failed: ${imported.stderr}`);
  return { dir, run, stop: () => stopPodman(dir, run) };
}

function containersConf(pluginDir: string, networkDir: string): string {
  return [
    '[containers]',
    // The machine's hard limits are below podman's defaults, which runc would refuse to set.
    'default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]',
    '[engine]',
    'cgroup_manager = "cgroupfs"',
    'events_logger = "file"',
    '[network]',
    'network_backend = "cni"',
    `cni_plugin_dirs = ${JSON.stringify([pluginDir, '/usr/lib/cni'])}`,
    `network_config_dir = ${JSON.stringify(networkDir)}`,
    '',
  ].join('\n');
}

async function stopPodman(dir: string, run: Podman['run']): Promise<void> {
  const ids = (await run(['ps', '-aq', '--no-trunc'])).stdout.split('\n').filter(Boolean);
  const netnsPaths: string[] = [];
  for (const id of ids) {
    const key = (await run(['inspect', '--format', '{{.NetworkSettings.SandboxKey}}', id])).stdout.trim();
    if (key.startsWith('/run/netns/')) netnsPaths.push(key);
  }
  if (ids.length > 0) await run(['rm', '-f', '-t', '0', ...ids]);
  // What a failed teardown leaves: the container's netns (a bind mount podman made) and the
  // cached results libcni keeps until a DEL succeeds.
  for (const path of netnsPaths.filter(existsSync)) {
    await execa('umount', [path], { reject: false });
    rmSync(path, { force: true });
  }
  if (existsSync(CNI_RESULT_CACHE))
    for (const f of readdirSync(CNI_RESULT_CACHE))
      if (ids.some((id) => f.includes(`-${id}-`))) rmSync(join(CNI_RESULT_CACHE, f), { force: true });
  for (const pid of processesUnder(dir))
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  const mounts = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1])
    .filter((m) => m?.startsWith(`${dir}/`));
  for (const m of mounts.sort().reverse()) await execa('umount', ['-l', m], { reject: false });
  rmSync(dir, { recursive: true, force: true });
}

/** Processes (conmon, a container's) whose command line names a path under `dir`. */
function processesUnder(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(`${dir}/`)) pids.push(Number(entry));
    } catch {
      /* exited */
    }
  }
  return pids;
}
