// Driving CNI plugins through Debian's real libcni (1.1.2): test/support/libcni/main.go, built
// offline against golang-github-appc-cni-dev the first time a run needs it and again only when
// its source is newer than the built binary (so a suite, and the next run, pay the build once).
import { execa } from 'execa';
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { SandboxInfo } from './sandbox';

const SOURCE_DIR = resolve(__dirname, 'libcni');
const OUT_DIR = resolve(__dirname, '../../dist');
export const LIBCNI_CALLER = join(OUT_DIR, 'libcni-caller');
/** Where Debian's containernetworking-plugins live (bridge, host-local, tuning, ...). */
export const DEBIAN_CNI_DIR = '/usr/lib/cni';

export type CniVerb = 'add' | 'check' | 'del' | 'result' | 'validate';

export interface LibcniRun {
  exitCode: number;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface LibcniCall {
  conflist: string; // path to a .conflist file
  containerId?: string;
  netns?: string; // path, e.g. /run/netns/NAME; empty or absent means CNI_NETNS=""
  ifName?: string; // eth0 unless given
  args?: string; // CNI_ARGS form, "K=V;K=V"
  capabilityArgs?: Record<string, unknown>; // becomes runtimeConfig for plugins declaring the capability
  pluginDirs: string[]; // CNI_PATH
  cacheDir: string; // libcni's result cache (results/<net>-<cid>-<ifname>); keep it per test file
  env?: Record<string, string>; // plugins inherit the caller's whole environment, as under a runtime
  timeoutMs?: number;
}

let built: Promise<string> | undefined;

/** Build the caller if it is missing or older than its source; returns its path. Concurrent
 * callers (a wave of 40 ADDs as a file's first libcni use) share the one build. */
export function buildLibcniCaller(): Promise<string> {
  built ??= build().catch((err) => {
    built = undefined; // a failed build is retried by the next caller
    throw err;
  });
  return built;
}

async function build(): Promise<string> {
  const sourceMtime = statSync(join(SOURCE_DIR, 'main.go')).mtimeMs;
  if (!existsSync(LIBCNI_CALLER) || statSync(LIBCNI_CALLER).mtimeMs < sourceMtime) {
    mkdirSync(OUT_DIR, { recursive: true });
    // Built under a temporary name and renamed, so a concurrent run never executes half a file.
    const partial = `${LIBCNI_CALLER}.${process.pid}`;
    await execa('go', ['build', '-o', partial, '.'], {
      cwd: SOURCE_DIR,
      env: {
        PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
        GO111MODULE: 'off', // no module download: only Debian's packaged sources under GOPATH
        GOPATH: '/usr/share/gocode',
        GOCACHE: join(OUT_DIR, '.gocache'),
        GOFLAGS: '',
        // No C compiler needed: golang-go comes without its recommended gcc under --no-install-recommends.
        CGO_ENABLED: '0',
      },
      extendEnv: false,
    });
    renameSync(partial, LIBCNI_CALLER);
  }
  return LIBCNI_CALLER;
}

/** Run one libcni verb on a conflist in the node's namespace (`ip netns exec`), as a runtime would. */
export async function runLibcni(info: SandboxInfo, verb: CniVerb, call: LibcniCall): Promise<LibcniRun> {
  const caller = await buildLibcniCaller();
  const flags = [
    `-containerid=${call.containerId ?? ''}`,
    `-netns=${call.netns ?? ''}`,
    `-ifname=${call.ifName ?? 'eth0'}`,
    `-args=${call.args ?? ''}`,
    `-cap-args=${call.capabilityArgs ? JSON.stringify(call.capabilityArgs) : ''}`,
    `-plugin-dirs=${call.pluginDirs.join(':')}`,
    `-cache-dir=${call.cacheDir}`,
  ];
  const started = performance.now();
  const r = await execa('ip', ['netns', 'exec', info.netns, caller, ...flags, verb, call.conflist], {
    reject: false,
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', ...call.env },
    extendEnv: false,
    timeout: call.timeoutMs ?? 60000,
  });
  return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr, ms: performance.now() - started };
}

/** A CNI result (1.0.0 form), as much of it as the tests read. */
export interface CniResult {
  cniVersion: string;
  interfaces?: { name: string; mac?: string; sandbox?: string }[];
  ips?: { address: string; gateway?: string; interface?: number }[];
  routes?: { dst: string; gw?: string }[];
  dns?: Record<string, unknown>;
}

/** The result of a successful add (or result) run; throws with the caller's output otherwise. */
export function parseResult(run: LibcniRun): CniResult {
  if (run.exitCode !== 0) throw new Error(`libcni call failed (${run.exitCode}): ${run.stdout} ${run.stderr}`);
  return JSON.parse(run.stdout) as CniResult;
}
