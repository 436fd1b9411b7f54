// podvlan under containerd's CRI, driven as a kubelet drives it: a private containerd 1.6
// (test/support/containerd.ts) in the node's namespace, podvlan in its CNI bin dir, the conflist
// of docs/examples/ in its conf dir, and the CRI gRPC calls a kubelet makes for a pod's sandbox
// (test/support/cri.ts). The pod's name picks its VLAN (fromPodName); pods on one VLAN reach each
// other and no other; PodSandboxStatus reports podvlan's address; StopPodSandbox and
// RemovePodSandbox (two DELs, the second blind) leave nothing, nor does a DEL whose netns is gone.
import { execa } from 'execa';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { audit } from '../support/consistency';
import {
  type Containerd,
  EXAMPLE_CONFLIST,
  exampleConflist,
  startContainerd,
  useConflist,
} from '../support/containerd';
import { CriClient, type SandboxStatus } from '../support/cri';
import { bridgePorts, hostVeths, ovsVsctl, runPlugin, writeConfig } from '../support/plugin';

const info = inject('sandbox');
const dir = join(info.dir, 'cri');
const BRIDGE = 'cri_br';
const NETWORK = 'pods'; // the example's network name
const SUBNET = '10.226.0';
const stateDir = join(dir, 'state');
const logFile = join(dir, 'podvlan.log');
/** libcni's result cache (containerd 1.6 keeps libcni's default): <network>-<sandbox id>-<ifname>. */
const CNI_RESULTS = '/var/lib/cni/results';

/** The documented conflist, with this sandbox's node keys (bridge, datapath, OVSDB, state, log). */
const conflist = (plugin: Record<string, unknown> = {}) =>
  exampleConflist({
    bridge: BRIDGE,
    datapathType: 'netdev',
    ipam: { type: 'podvlan', pool: { type: 'host-local', subnet: `${SUBNET}.0/24`, rangeStart: `${SUBNET}.10` } },
    ovsdb: info.ovsdb,
    stateDir,
    logFile,
    nodeConfig: '/dev/null', // this machine's /etc/podvlan must not leak in
    ...plugin,
  });

let containerd: Containerd;
let cri: CriClient;

interface PodCase {
  name: string; // the pod's name, which fromPodName reads
  tag: number; // the VLAN it must land on
  annotations?: Record<string, string>;
}
interface Pod extends PodCase, SandboxStatus {
  port: string; // podvlan's OVS port (host veth)
}

/** podvlan's port of a CRI sandbox, found by the runtime's own id (podvlan/cniContainerId). */
async function portOf(sandboxId: string): Promise<{ name: string; tag: number; ip: string } | undefined> {
  const out = await ovsVsctl(info, [
    '--format=json',
    '--columns=name,tag,external_ids',
    'find',
    'Port',
    `external_ids:podvlan/cniContainerId=${sandboxId}`,
  ]);
  const row = (JSON.parse(out) as { data: [string, number, ['map', [string, string][]]][] }).data[0];
  if (!row) return undefined;
  return { name: row[0], tag: row[1], ip: Object.fromEntries(row[2][1])['podvlan/ip'] };
}

/** RunPodSandbox for each case, as a kubelet does (namespace, uid, annotations), and check what
 * podvlan made: the port's tag, the address in the pod's netns, what CRI reports. */
async function runPods(cases: PodCase[]): Promise<Pod[]> {
  const pods: Pod[] = [];
  for (const c of cases) {
    const id = await cri.runPodSandbox({ name: c.name, namespace: 'cri-test', uid: randomUUID() }, c.annotations);
    const status = await cri.podSandboxStatus(id);
    expect(status.state).toBe('SANDBOX_READY');
    const port = await portOf(id);
    expect(port, `no podvlan port for ${c.name}`).toBeDefined();
    expect(port!.tag).toBe(c.tag);
    expect(status.ip).toMatch(new RegExp(`^${SUBNET.replace(/\./g, '\\.')}\\.\\d+$`));
    expect(port!.ip).toBe(`${status.ip}/24`); // CRI's pod IP is the one podvlan leased and recorded
    // The netns CRI made (under its state dir) is the one podvlan put the interface in.
    expect(status.netnsPath).toMatch(new RegExp(`^${containerd.dir}/state/.*/netns/cni-`));
    const eth0 = (status.cniResult as { Interfaces: Record<string, { Sandbox: string }> }).Interfaces.eth0;
    expect(eth0.Sandbox).toBe(status.netnsPath);
    const addr = await inPod(status, ['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
    expect(addr.stdout).toContain(`inet ${status.ip}/24`);
    pods.push({ ...c, ...status, port: port!.name });
  }
  return pods;
}

/** A command in the pod's network namespace (the pause process's; CRI's netns file lives in
 * containerd's own mount namespace). */
const inPod = (pod: SandboxStatus, cmd: string[]) =>
  execa('nsenter', [`--net=/proc/${pod.pid}/ns/net`, ...cmd], { reject: false });
const canPing = async (from: SandboxStatus, ip: string) =>
  (await inPod(from, ['ping', '-c', '2', '-W', '1', ip])).exitCode === 0;

interface LogLine {
  msg: string;
  container?: string;
  netns?: string;
  ports?: string[];
  addresses?: string[];
  k8s?: Record<string, string>;
}
const logLines = (container: string, msg: string): LogLine[] =>
  existsSync(logFile)
    ? readFileSync(logFile, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as LogLine)
        .filter((l) => l.container === container && l.msg === msg)
    : [];

/** What podvlan's own listings say is on this test's bridge / network. */
async function listed(): Promise<{
  ports: {
    port: string;
    bridge: string;
    runtime?: string;
    cniContainerId?: string;
    tag: number;
    k8sNamespace?: string;
    k8sPod?: string;
  }[];
  addresses: { network: string; address: string }[];
}> {
  const config = writeConfig(info, join(dir, 'list'), [{ name: NETWORK, bridge: BRIDGE, vlan: { id: 22 } }], {
    stateDir,
  });
  const list = await runPlugin(info, ['list', '--output', 'json'], { config });
  expect(list.exitCode, list.all).toBe(0);
  const ipam = await runPlugin(info, ['ipam', 'list', '-o', 'json'], { config });
  expect(ipam.exitCode, ipam.all).toBe(0);
  return {
    ports: (JSON.parse(list.stdout) as Awaited<ReturnType<typeof listed>>['ports']).filter((p) => p.bridge === BRIDGE),
    addresses: (JSON.parse(ipam.stdout) as { addresses: { network: string; address: string }[] }).addresses.filter(
      (a) => a.network === NETWORK,
    ),
  };
}

/** Everything of one pod podvlan made or CRI keeps: its port, veth, lease, libcni cache entry. */
async function leftOf(pod: Pod): Promise<string[]> {
  const left: string[] = [];
  if (await portOf(pod.id)) left.push(`port of ${pod.name}`);
  if ((await hostVeths(info)).includes(pod.port)) left.push(`veth ${pod.port}`);
  if ((await listed()).addresses.some((a) => a.address === pod.ip)) left.push(`lease ${pod.ip}`);
  if (existsSync(join(CNI_RESULTS, `${NETWORK}-${pod.id}-eth0`))) left.push(`libcni cache of ${pod.name}`);
  return left;
}

describe('podvlan under containerd CRI (the calls a kubelet makes)', () => {
  let a: Pod;
  let b: Pod;
  let c: Pod;

  beforeAll(async () => {
    mkdirSync(dir, { recursive: true });
    const started = performance.now();
    containerd = await startContainerd({ dir: join(dir, 'containerd'), netns: info.netns });
    cri = new CriClient(containerd.socket);
    await useConflist(containerd, cri, conflist());
    console.log(`containerd with CRI ready in ${Math.round(performance.now() - started)} ms`);
  });

  afterAll(async () => {
    // The kubelet's way out first (CNI DEL for each), then the process and its directory.
    await cri?.removeAll().catch((err) => console.error(`CRI cleanup: ${err}`));
    cri?.close();
    await containerd?.stop();
    await ovsVsctl(info, ['--if-exists', 'del-br', BRIDGE]);
  });

  it('docs/cni-containerd.md shows the very conflist this test runs', () => {
    const doc = readFileSync(resolve(__dirname, '../../docs/cni-containerd.md'), 'utf8');
    const shown = /## The conflist[\s\S]*?```json\n([\s\S]*?)```/.exec(doc)?.[1];
    expect(JSON.parse(shown ?? 'null')).toEqual(JSON.parse(readFileSync(EXAMPLE_CONFLIST, 'utf8')));
  });

  it('RunPodSandbox puts each pod on the VLAN its name picks; PodSandboxStatus has the IP podvlan gave', async () => {
    [a, b, c] = await runPods([
      { name: 'vlan22-a', tag: 22 },
      { name: 'vlan22-b', tag: 22 },
      { name: 'vlan33-c', tag: 33 },
    ]);
    expect(new Set([a.ip, b.ip, c.ip]).size).toBe(3);
    // podvlan list shows them as CNI attachments under the runtime's sandbox ids.
    const { ports } = await listed();
    for (const p of [a, b, c])
      expect(ports.find((r) => r.port === p.port)).toMatchObject({
        runtime: 'cni',
        cniContainerId: p.id,
        tag: p.tag,
        k8sNamespace: 'cri-test', // from CRI's K8S_POD_* arguments
        k8sPod: p.name,
      });
  });

  it('the two pods on VLAN 22 reach each other; the pod on VLAN 33 (same subnet) reaches neither', async () => {
    const [ab, ba, ca, ac] = await Promise.all([
      canPing(a, b.ip),
      canPing(b, a.ip),
      canPing(c, a.ip),
      canPing(a, c.ip),
    ]);
    expect({ ab, ba, ca, ac }).toEqual({ ab: true, ba: true, ca: false, ac: false });
  });

  it("podvlan's log names the pod from CRI's K8S_POD_* arguments", () => {
    for (const p of [a, b, c]) {
      const [added] = logLines(p.id, 'added');
      expect(added?.k8s).toEqual({
        K8S_POD_NAMESPACE: 'cri-test',
        K8S_POD_NAME: p.name,
        K8S_POD_INFRA_CONTAINER_ID: p.id,
        K8S_POD_UID: expect.stringMatching(/^[0-9a-f-]{36}$/),
      });
    }
  });

  it("a name whose VLAN is outside the range fails RunPodSandbox with podvlan's error, leaving nothing", async () => {
    const ports = await bridgePorts(info, BRIDGE);
    const before = await listed();
    const sandboxes = (await cri.listPodSandboxes()).sort();
    await expect(cri.runPodSandbox({ name: 'vlan50-x', namespace: 'cri-test', uid: randomUUID() })).rejects.toThrow(
      /outside VLAN range 20-39/,
    );
    expect(await bridgePorts(info, BRIDGE)).toEqual(ports);
    expect(await listed()).toEqual(before);
    expect((await cri.listPodSandboxes()).sort()).toEqual(sandboxes); // CRI removed the failed sandbox
  });

  it('StopPodSandbox, then RemovePodSandbox: two DELs, the second blind, and nothing of the pod is left', async () => {
    await cri.stopPodSandbox(a.id);
    const [first] = logLines(a.id, 'deleted');
    expect(first).toMatchObject({ netns: a.netnsPath, ports: [a.port], addresses: [a.ip] });
    expect(await leftOf(a)).toEqual([]);
    await cri.removePodSandbox(a.id);
    const dels = logLines(a.id, 'deleted');
    expect(dels).toHaveLength(2);
    expect(dels[1]).toMatchObject({ netns: '', ports: [], addresses: [] }); // blind: nothing left to find
    expect(logLines(a.id, 'cni call failed')).toEqual([]);
    expect(await cri.listPodSandboxes()).not.toContain(a.id);
    expect(await leftOf(a)).toEqual([]);
    expect(await portOf(b.id)).toMatchObject({ name: b.port, tag: 22 }); // the other pod of the VLAN is untouched
  });

  it('a pod whose netns is gone by StopPodSandbox is cleaned up by the blind DEL alone', async () => {
    // As after the netns mount is lost (a node whose /run was cleared): CRI finds it closed and
    // sends the only DEL with an empty CNI_NETNS. The pause process still holds the namespace.
    const umount = await execa('nsenter', [`--mount=/proc/${containerd.pid}/ns/mnt`, 'umount', c.netnsPath], {
      reject: false,
      all: true,
    });
    expect(umount.exitCode, umount.all).toBe(0);
    await cri.stopPodSandbox(c.id);
    const [del] = logLines(c.id, 'deleted');
    expect(del).toMatchObject({ netns: '', ports: [c.port], addresses: [c.ip] });
    expect(await leftOf(c)).toEqual([]);
    await cri.removePodSandbox(c.id);
    expect(await leftOf(c)).toEqual([]);
  });

  it('vlan fromAnnotation: the pod annotation CRI passes in runtimeConfig picks the VLAN', async () => {
    // The same network (name, bridge, state), its VLAN now read from an annotation; pod b (VLAN 22,
    // attached under the name rule) stays and is removed under this config later.
    await useConflist(containerd, cri, conflist({ vlan: { fromAnnotation: 'podvlan.io/vlan', range: '20-39' } }));
    const annotated = await runPods([
      { name: 'web-1', tag: 22, annotations: { 'podvlan.io/vlan': '22' } },
      { name: 'web-2', tag: 33, annotations: { 'podvlan.io/vlan': '33', 'other.io/x': 'y' } },
    ]);
    const [ab, cb] = await Promise.all([canPing(annotated[0], b.ip), canPing(annotated[1], b.ip)]);
    expect({ ab, cb }).toEqual({ ab: true, cb: false });
    const ports = await bridgePorts(info, BRIDGE);
    const missing = await cri.runPodSandbox({ name: 'web-3', namespace: 'cri-test', uid: randomUUID() }).then(
      () => 'started',
      (err: Error) => err.message,
    );
    // A pod with no annotations at all: CRI sends the capability as null.
    expect(missing).toContain('the pod has no annotation podvlan.io/vlan');
    expect(await bridgePorts(info, BRIDGE)).toEqual(ports);
    for (const p of annotated) {
      await cri.stopPodSandbox(p.id);
      await cri.removePodSandbox(p.id);
      expect(await leftOf(p)).toEqual([]);
    }
  });

  it('after the last pod goes, the audit, podvlan list and ipam list find nothing, nor does CRI', async () => {
    await cri.stopPodSandbox(b.id);
    await cri.removePodSandbox(b.id);
    expect(await leftOf(b)).toEqual([]);
    expect(await audit(info, stateDir, [BRIDGE])).toEqual([]);
    expect(await listed()).toEqual({ ports: [], addresses: [] });
    expect(await bridgePorts(info, BRIDGE)).toEqual([]);
    expect(await cri.listPodSandboxes()).toEqual([]);
    // CRI's netns files (in containerd's mount namespace) are gone too.
    const netnsFiles = await execa(
      'nsenter',
      [`--mount=/proc/${containerd.pid}/ns/mnt`, 'find', join(containerd.dir, 'state'), '-path', '*/netns/*'],
      { reject: false },
    );
    expect(netnsFiles.stdout).toBe('');
    for (const p of [a, b, c]) expect(logLines(p.id, 'cni call failed')).toEqual([]);
  });
});
