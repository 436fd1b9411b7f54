// podvlan as a Multus delegate, from docs/cni-multus.md: the NetworkAttachmentDefinition, the node's
// podvlan.yaml and the pod's annotation are read from that page, and podvlan is called through
// Debian's libcni with exactly what Multus hands a delegate (the page's "What Multus sends"): the
// NAD's config with its name filled in, CNI_IFNAME net1, Multus's CNI_ARGS (the thick form, and the
// thin form with the runtime's own appended). The result must carry what Multus publishes as
// network-status, and two such pods must reach each other over net1.
import { execa } from 'execa';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { type EtcdServer, startEtcd } from '../integration/etcd-server';
import { audit } from '../support/consistency';
import { parseResult, runLibcni } from '../support/libcni';
import { BINARY, ovsVsctl } from '../support/plugin';

const info = inject('sandbox');
const dir = join(info.dir, 'cni-multus');
const cacheDir = join(dir, 'cni-cache');
const DOC = resolve(__dirname, '../../docs/cni-multus.md');

/** The YAML blocks of the page, parsed, in order. */
function docYamlBlocks(): Record<string, unknown>[] {
  const text = readFileSync(DOC, 'utf8');
  return [...text.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => parseYaml(m[1]) as Record<string, unknown>);
}

interface Nad {
  kind: string;
  metadata: { name: string; namespace: string };
  spec: { config: string };
}
interface Pod {
  kind: string;
  metadata: { namespace: string; annotations: Record<string, string> };
}
interface Result {
  cniVersion: string;
  interfaces: { name: string; mac?: string; sandbox?: string }[];
  ips: { address: string; gateway?: string; interface?: number }[];
  dns?: Record<string, unknown>;
}

/** Multus's network-status entries from a delegate's result (nadutils CreateNetworkStatuses, not default). */
function networkStatus(result: Result, networkName: string) {
  const statuses: { name: string; interface: string; mac?: string; ips: string[]; dns: unknown }[] = [];
  const byIndex = new Map<number, number>();
  result.interfaces.forEach((iface, i) => {
    if (!iface.sandbox) return; // only pod interfaces
    byIndex.set(i, statuses.length);
    statuses.push({ name: networkName, interface: iface.name, mac: iface.mac, ips: [], dns: result.dns ?? {} });
  });
  for (const ip of result.ips) {
    const at = ip.interface === undefined ? statuses.length - 1 : byIndex.get(ip.interface);
    if (at !== undefined && at >= 0) statuses[at].ips.push(ip.address.split('/')[0]);
  }
  return statuses;
}

let etcd: EtcdServer;
let nad: Nad;
let pod: Pod;
let conflist: string; // what libcni runs: the delegate's config, as AddNetwork would (one plugin)
let stateDir: string;
let bridge: string;
const namespaces: string[] = [];

beforeAll(async () => {
  mkdirSync(dir, { recursive: true });
  etcd = await startEtcd({ netns: info.netns });
  const blocks = docYamlBlocks();
  nad = blocks.find((b) => b.kind === 'NetworkAttachmentDefinition') as unknown as Nad;
  pod = blocks.find((b) => b.kind === 'Pod') as unknown as Pod;
  const nodeFile = blocks.find((b) => 'stateDir' in b) as Record<string, unknown>;
  // The node's podvlan.yaml as the page gives it, pointed at this sandbox: its OVSDB, etcd, dirs.
  stateDir = join(dir, 'state');
  const nodeConfig = join(dir, 'podvlan.yaml');
  writeFileSync(
    nodeConfig,
    JSON.stringify({
      ...nodeFile,
      ovsdb: info.ovsdb,
      stateDir,
      logFile: join(dir, 'podvlan.log'),
      etcd: {
        ...(nodeFile.etcd as object),
        endpoints: [etcd.url],
        prefix: `/multus-${randomBytes(3).toString('hex')}`,
      },
    }),
  );
  // Multus (getCNIConfigFromSpec) fills in the NAD's name when the config has none.
  const config = JSON.parse(nad.spec.config) as Record<string, unknown>;
  const delegate: Record<string, unknown> = { name: nad.metadata.name, ...config };
  bridge = String(delegate.bridge);
  // Only nodeConfig is added: a test cannot use the node's /etc/podvlan/podvlan.yaml.
  conflist = join(dir, 'delegate.conflist');
  writeFileSync(
    conflist,
    JSON.stringify({
      cniVersion: delegate.cniVersion,
      name: delegate.name,
      plugins: [{ ...delegate, nodeConfig }],
    }),
  );
});

afterAll(async () => {
  for (const ns of namespaces) await execa('ip', ['netns', 'del', ns], { reject: false });
  if (bridge) await ovsVsctl(info, ['--if-exists', 'del-br', bridge]);
  await etcd?.destroy();
});

/** One pod sandbox as containerd makes it: a 64-hex id, a cni-<uuid> netns, a pod uid. */
async function sandboxFor(name: string) {
  const ns = `cni-${randomUUID()}`;
  await execa('ip', ['netns', 'add', ns]);
  await execa('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  namespaces.push(ns);
  return { name, ns, id: randomBytes(32).toString('hex'), uid: randomUUID() };
}
type Sandbox = Awaited<ReturnType<typeof sandboxFor>>;

/** CNI_ARGS as Multus builds them; the thin plugin appends the runtime's (containerd's) own. */
function multusArgs(s: Sandbox, thin: boolean): string {
  const namespace = pod.metadata.namespace;
  const pairs = [
    `K8S_POD_NAMESPACE=${namespace}`,
    `K8S_POD_NAME=${s.name}`,
    `K8S_POD_INFRA_CONTAINER_ID=${s.id}`,
    `K8S_POD_UID=${s.uid}`,
  ].join(';');
  const own = `IgnoreUnknown=true;${pairs}`;
  const runtime = `${pairs};IgnoreUnknown=1`; // containerd's order
  return thin ? `${own};${runtime}` : own;
}

const delegateCall = (s: Sandbox, thin: boolean) => ({
  conflist,
  containerId: s.id,
  netns: `/var/run/netns/${s.ns}`,
  ifName: 'net1', // the first network of the annotation, after the default one
  args: multusArgs(s, thin),
  pluginDirs: [dirname(BINARY)], // Multus's binDir
  cacheDir,
});

describe('podvlan as a Multus delegate (docs/cni-multus.md)', () => {
  const pods: { s: Sandbox; result: Result; thin: boolean }[] = [];

  it('the page selects the NAD from the pod annotation, and the NAD config has no name of its own', () => {
    expect(pod.metadata.annotations['k8s.v1.cni.cncf.io/networks']).toBe(nad.metadata.name);
    expect(JSON.parse(nad.spec.config)).not.toHaveProperty('name');
  });

  it('ADD for two pods answers what Multus needs for network-status, and they ping over net1', async () => {
    for (const [name, thin] of [
      ['web-a', false],
      ['web-b', true],
    ] as const) {
      const s = await sandboxFor(name);
      const result = parseResult(await runLibcni(info, 'add', delegateCall(s, thin))) as Result;
      pods.push({ s, result, thin });
      const statuses = networkStatus(result, `${nad.metadata.namespace}/${nad.metadata.name}`);
      const link = (await execa('ip', ['-n', s.ns, '-o', '-4', 'addr', 'show', 'dev', 'net1'])).stdout;
      const address = /inet (\S+)/.exec(link)![1];
      const mac = /link\/ether (\S+)/.exec((await execa('ip', ['-n', s.ns, '-o', 'link', 'show', 'net1'])).stdout)![1];
      expect(statuses).toEqual([
        { name: 'default/vlan22', interface: 'net1', mac, ips: [address.split('/')[0]], dns: {} },
      ]);
      expect(result.interfaces[result.ips[0].interface!]).toEqual({
        name: 'net1',
        mac,
        sandbox: `/var/run/netns/${s.ns}`,
      });
      expect(result.ips).toEqual([{ address, gateway: '10.253.0.1', interface: 1 }]);
    }
    const [a, b] = pods;
    const ipOf = (p: (typeof pods)[number]) => p.result.ips[0].address.split('/')[0];
    expect(ipOf(a)).not.toBe(ipOf(b));
    const ping = (from: string, to: string) =>
      execa('ip', ['netns', 'exec', from, 'ping', '-c', '1', '-W', '2', to], { reject: false });
    expect((await ping(a.s.ns, ipOf(b))).exitCode).toBe(0);
    expect((await ping(b.s.ns, ipOf(a))).exitCode).toBe(0);
    // The addresses are etcd's: both under the prefix of the node file.
    const keys = await execa('ip', [
      'netns',
      'exec',
      info.netns,
      'etcdctl',
      '--endpoints',
      etcd.url,
      'get',
      '--prefix',
      '--keys-only',
      '/',
    ]);
    expect(keys.stdout).toContain(`/ipam/vlan22/ip/${ipOf(a)}`);
    expect(keys.stdout).toContain(`/ipam/vlan22/ip/${ipOf(b)}`);
  });

  it('CHECK (Multus forwards it to the delegate with the cached result) passes', async () => {
    for (const p of pods) {
      const run = await runLibcni(info, 'check', delegateCall(p.s, p.thin));
      expect(run, run.stdout).toMatchObject({ exitCode: 0, stdout: '' });
    }
  });

  it('DEL, then the blind second DEL, leave nothing: no port, veth, etcd address', async () => {
    for (const p of pods) {
      expect((await runLibcni(info, 'del', delegateCall(p.s, p.thin))).exitCode).toBe(0);
      const blind = await runLibcni(info, 'del', { ...delegateCall(p.s, p.thin), netns: '' });
      expect(blind, blind.stdout).toMatchObject({ exitCode: 0, stdout: '' });
      expect((await execa('ip', ['-n', p.s.ns, '-o', 'link', 'show'])).stdout).not.toContain('net1');
    }
    expect(await audit(info, stateDir, [bridge])).toEqual([]);
    const keys = await execa('ip', [
      'netns',
      'exec',
      info.netns,
      'etcdctl',
      '--endpoints',
      etcd.url,
      'get',
      '--prefix',
      '--keys-only',
      '/',
    ]);
    expect(keys.stdout).not.toContain('/ipam/vlan22/ip/');
  });
});
