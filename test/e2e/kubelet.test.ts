// The kubelet's whole conversation with podvlan, on real OVS, Docker and veths: plugin
// directory with a vendored name, init, setup of three pods on two VLANs, status parsed the
// kubelet's way, traffic inside a VLAN and none across, idempotent retry, teardown twice, and
// nothing left behind.
import { readdirSync, statSync } from 'node:fs';
import { execa } from 'execa';
import { join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import {
  BINARY,
  bridgePorts,
  heldLocks,
  hostVeths,
  ovsVsctl,
  parseKubeletStatus,
  portTag,
  runPlugin,
  stateFiles,
  writeConfig,
} from '../support/plugin';
import { canPing, docker, podExec, startContainer } from '../support/sandbox';

const info = inject('sandbox');
const NS = 'prod-shop';
const BRIDGE = 'kube_br';
const pluginDir = join(info.dir, 'kubelet', 'plugins', 'acme~podvlan');
const executable = join(pluginDir, 'podvlan'); // --network-plugin=acme/podvlan
const stateDir = join(pluginDir, 'state');

const pods = [
  { name: '22-web-a', vlan: 22, id: '' },
  { name: '22-web-b', vlan: 22, id: '' },
  { name: '33-db-c', vlan: 33, id: '' },
];

const call = (...args: string[]) => runPlugin(info, args, { binary: executable });

async function podIp(id: string): Promise<string> {
  const r = await podExec(info, id, ['ip', '-4', 'addr', 'show', 'eth1']);
  return /inet (\d+\.\d+\.\d+\.\d+)\//.exec(r.stdout)?.[1] ?? '';
}

describe('kubelet exec plugin flow', () => {
  beforeAll(async () => {
    // The config is written aside, then installed with the executable by scripts/install-node.sh.
    const staged = writeConfig(
      info,
      join(info.dir, 'kubelet', 'staged'),
      [
        {
          name: 'vlannet',
          bridge: BRIDGE,
          datapathType: 'netdev',
          interface: 'eth1',
          mtu: 1400,
          primary: true,
          match: { namespace: '^prod-', podName: '^\\d+-' },
          vlan: { fromPodName: '^(\\d+)-' },
          ipam: {
            type: 'host-local',
            subnet: '10.231.0.0/24',
            rangeStart: '10.231.0.10',
            rangeEnd: '10.231.0.250',
            gateway: '10.231.0.1',
          },
        },
      ],
      { stateDir, logFile: join(pluginDir, 'podvlan.log') },
    );
    const install = await execa(
      'bash',
      [
        join(__dirname, '../../scripts/install-node.sh'),
        '--binary',
        BINARY,
        '--plugin-dir',
        join(info.dir, 'kubelet', 'plugins'),
        '--vendor',
        'acme',
        '--config',
        staged,
      ],
      { all: true, reject: false },
    );
    expect(install.exitCode, install.all).toBe(0);
    expect(install.all).toMatch(/--network-plugin=acme\/podvlan/);
    for (const p of pods) p.id = await startContainer(info);
  });

  it('init creates the bridge with the configured datapath, and again changes nothing', async () => {
    expect(statSync(executable).mode & 0o111).not.toBe(0);
    const first = await call('init');
    expect(first.exitCode, first.all).toBe(0);
    expect(await ovsVsctl(info, ['get', 'Bridge', BRIDGE, 'datapath_type'])).toBe('netdev');
    const uuid = await ovsVsctl(info, ['get', 'Bridge', BRIDGE, '_uuid']);
    const second = await call('init');
    expect(second.exitCode, second.all).toBe(0);
    expect(await ovsVsctl(info, ['get', 'Bridge', BRIDGE, '_uuid'])).toBe(uuid);
  });

  it('sets up three pods on two VLANs as tagged access ports', async () => {
    for (const p of pods) {
      const r = await call('setup', NS, p.name, p.id, 'docker');
      expect(r.exitCode, r.all).toBe(0);
      expect(r.stderr).toBe('');
    }
    const ports = await bridgePorts(info, BRIDGE);
    expect(ports).toHaveLength(3);
    for (const port of ports) expect(port.length).toBeLessThanOrEqual(15);
    const list = (
      JSON.parse((await call('list', '--output', 'json')).stdout) as {
        namespace: string;
        pod: string;
        port: string;
        tag: number;
        ip: string;
        containerId: string;
      }[]
    ).filter((a) => a.namespace === NS);
    expect(list.map((a) => a.pod).sort()).toEqual(pods.map((p) => p.name).sort());
    for (const p of pods) {
      const a = list.find((x) => x.pod === p.name)!;
      expect(a.containerId).toBe(p.id);
      expect(await portTag(info, a.port)).toBe(String(p.vlan));
      expect(await ovsVsctl(info, ['get', 'Port', a.port, 'external_ids:podvlan/pod'])).toBe(`"${p.name}"`);
      const mtu = await podExec(info, p.id, ['cat', '/sys/class/net/eth1/mtu']);
      expect(mtu.stdout.trim()).toBe('1400');
    }
    expect(new Set(list.map((a) => a.ip)).size).toBe(3);
  });

  it('status prints exactly what the kubelet parses, with the pod IP', async () => {
    for (const p of pods) {
      const r = await call('status', NS, p.name, p.id);
      expect(r.exitCode).toBe(0);
      expect(r.stderr).toBe('');
      const status = parseKubeletStatus(r.all);
      expect(status?.ip).toBe(await podIp(p.id));
    }
    const unknown = await call('status', NS, '22-nobody', 'ab'.repeat(32));
    expect(unknown).toMatchObject({ exitCode: 0, all: '' });
  });

  it('carries traffic inside a VLAN and none across VLANs', async () => {
    const [a, b, c] = pods;
    expect(await canPing(info, a.id, await podIp(b.id))).toBe(true);
    expect(await canPing(info, b.id, await podIp(a.id))).toBe(true);
    expect(await canPing(info, a.id, await podIp(c.id))).toBe(false);
    expect(await canPing(info, c.id, await podIp(b.id))).toBe(false);
  });

  it('a retried setup succeeds and changes nothing', async () => {
    const before = (await call('list', '--output', 'json')).stdout;
    const portUuids = await ovsVsctl(info, ['--columns=_uuid', 'list', 'Port']);
    const r = await call('setup', NS, pods[0].name, pods[0].id);
    expect(r.exitCode, r.all).toBe(0);
    expect((await call('list', '--output', 'json')).stdout).toBe(before);
    expect(await ovsVsctl(info, ['--columns=_uuid', 'list', 'Port'])).toBe(portUuids);
  });

  it('a setup retried after the container restarted (same id, new namespace) re-attaches it with the same address', async () => {
    const c = pods[2];
    const ip = await podIp(c.id);
    await docker(info, ['restart', '-t', '0', c.id]);
    expect(await podIp(c.id)).toBe('');
    const r = await call('setup', NS, c.name, c.id);
    expect(r.exitCode, r.all).toBe(0);
    expect(r.all).not.toMatch(/unchanged/);
    expect(await podIp(c.id)).toBe(ip);
    expect(await bridgePorts(info, BRIDGE)).toHaveLength(3);
  });

  it('teardown removes one pod and a second teardown is still success', async () => {
    const [a, b] = pods;
    const ipA = await podIp(a.id);
    for (let i = 0; i < 2; i++) {
      const r = await call('teardown', NS, a.name, a.id);
      expect(r.exitCode, r.all).toBe(0);
    }
    expect(await bridgePorts(info, BRIDGE)).toHaveLength(2);
    expect(await podIp(a.id)).toBe('');
    expect((await call('status', NS, a.name, a.id)).all).toBe('');
    expect(await canPing(info, b.id, ipA)).toBe(false);
    // A pod that was never set up tears down fine too.
    expect((await call('teardown', NS, '22-never', 'cd'.repeat(32))).exitCode).toBe(0);
  });

  it('leaves nothing behind once every pod is torn down', async () => {
    for (const p of pods.slice(1)) {
      const r = await call('teardown', NS, p.name, p.id, 'docker');
      expect(r.exitCode, r.all).toBe(0);
    }
    expect(await bridgePorts(info, BRIDGE)).toEqual([]);
    expect(await hostVeths(info)).toEqual([]);
    expect(stateFiles(stateDir)).toEqual([]);
    expect(heldLocks(stateDir)).toEqual([]);
    // teardown removed each pod's lock file: they stay bounded
    expect(readdirSync(join(stateDir, 'locks'))).toEqual([]);
    const list = await call('list');
    expect(list.stdout).not.toMatch(new RegExp(NS));
  });
});
