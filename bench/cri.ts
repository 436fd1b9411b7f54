// The bench's CRI rows: how long a kubelet's RunPodSandbox takes until PodSandboxStatus says
// ready, through one private containerd 1.6, with podvlan's documented conflist and with Debian's
// `bridge` + `host-local` conflist. Everything but the CNI call is the same (the pause container,
// the netns, loopback), so the difference between the rows is what the network plugin costs a
// pod's start. The two networks take turns in blocks (CRI reloads its conf dir in between), so
// both see the same machine drift.
//
// Run alone: `bun bench/cri.ts` (starts and stops its own sandbox).
import { join } from 'node:path';
import { type Containerd, exampleConflist, startContainerd, useConflist } from '../test/support/containerd';
import { CriClient } from '../test/support/cri';
import { type SandboxInfo, startSandbox, stopSandbox } from '../test/support/sandbox';
import { summarize } from './stats';

const BLOCK = 5;
export const CRI_PODVLAN = 'CRI RunPodSandbox, podvlan';
export const CRI_BRIDGE = 'CRI RunPodSandbox, bridge';

/** Samples (ms) per row name, `runs` each, for the bench's `samples` table. */
export async function criSamples(info: SandboxInfo, dir: string, runs = 20): Promise<Record<string, number[]>> {
  const podvlan = exampleConflist({
    bridge: 'cribench_br',
    datapathType: 'netdev',
    ipam: { type: 'podvlan', pool: { type: 'host-local', subnet: '10.245.0.0/24' } },
    ovsdb: info.ovsdb,
    stateDir: join(dir, 'cri-state'),
    logFile: join(dir, 'cri-podvlan.log'),
    nodeConfig: '/dev/null',
  });
  const bridge = {
    cniVersion: podvlan.cniVersion,
    name: 'cribridge',
    plugins: [
      {
        type: 'bridge',
        bridge: 'cribr0',
        isGateway: false,
        ipMasq: false,
        ipam: { type: 'host-local', ranges: [[{ subnet: '10.239.0.0/24' }]], dataDir: join(dir, 'cri-host-local') },
      },
    ],
  };
  const containerd = await startContainerd({
    dir: join(dir, 'containerd'),
    netns: info.netns,
    plugins: { bridge: '/usr/lib/cni/bridge', 'host-local': '/usr/lib/cni/host-local' },
  });
  const cri = new CriClient(containerd.socket);
  const samples: Record<string, number[]> = { [CRI_PODVLAN]: [], [CRI_BRIDGE]: [] };
  try {
    let pod = 0;
    const networks = [
      [CRI_PODVLAN, podvlan],
      [CRI_BRIDGE, bridge],
    ] as const;
    // One untimed pod per network first: the first sandbox pays for the snapshot and caches.
    for (const [, list] of networks) {
      await useConflist(containerd, cri, list);
      await timedSandbox(containerd, cri, `vlan22-warm-${pod++}`);
    }
    for (let done = 0; done < runs; done += BLOCK)
      for (const [row, list] of networks) {
        await useConflist(containerd, cri, list);
        for (let i = 0; i < Math.min(BLOCK, runs - done); i++)
          samples[row].push(await timedSandbox(containerd, cri, `vlan22-bench-${pod++}`));
      }
  } finally {
    await cri.removeAll().catch(() => undefined);
    cri.close();
    await containerd.stop();
  }
  return samples;
}

/** RunPodSandbox until PodSandboxStatus says ready (timed), then StopPodSandbox and RemovePodSandbox. */
async function timedSandbox(containerd: Containerd, cri: CriClient, name: string): Promise<number> {
  const started = performance.now();
  const id = await cri.runPodSandbox({ name, namespace: 'bench', uid: `uid-${name}` });
  while ((await cri.podSandboxStatus(id)).state !== 'SANDBOX_READY') {
    if (performance.now() - started > 60000) throw new Error(`sandbox ${name} in ${containerd.dir} not ready in 60 s`);
  }
  const ms = performance.now() - started;
  await cri.stopPodSandbox(id);
  await cri.removePodSandbox(id);
  return ms;
}

if (import.meta.main) {
  const info = await startSandbox();
  try {
    const samples = await criSamples(info, join(info.dir, 'bench'), Number(process.env.BENCH_N ?? 20));
    for (const [row, values] of Object.entries(samples)) {
      const s = summarize(values);
      console.log(
        `${row.padEnd(28)} ${s.p50.toFixed(1).padStart(8)} ${s.p90.toFixed(1).padStart(8)} ${String(s.n).padStart(5)}`,
      );
    }
  } finally {
    await stopSandbox(info);
  }
}
