// podvlan under real podman (Debian 12's 4.3.1, CNI backend), with the conflists of
// docs/cni-podman.md (docs/examples/podman/): `podman run` on two VLANs of one subnet (traffic
// within VLAN 22, none across), `podman network reload` (DEL then ADD), `network connect` /
// `disconnect` of a second network, a container that exits, `--ip` inside and outside the pool,
// `podman stop` leaving nothing behind, and `podman start` attaching again.
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { cniOwner } from '../../src/cni/owner';
import { audit } from '../support/consistency';
import { bridgePorts, hostVeths, ovsVsctl, portTag, runPlugin, stateFiles, writeConfig } from '../support/plugin';
import { PODMAN_IMAGE, type Podman, type PodmanNetwork, startPodman } from '../support/podman';

const info = inject('sandbox');
const dir = join(info.dir, 'podman');
const stateDir = join(dir, 'state');
const EXAMPLES = resolve(__dirname, '../../docs/examples/podman');

// podman passes `--ip`, `--mac-address` and, on `network reload`, the previous address and MAC to
// the plugin only as CNI_ARGS `IP=` / `MAC=` (checked with a logging plugin: no runtimeConfig.ips
// or .mac, whatever the conflist's capabilities), so those are what keep a reloaded container's
// address and MAC.

/** The documented conflist with only the node's paths replaced by the sandbox's. */
function example(file: string): PodmanNetwork {
  const conf = JSON.parse(readFileSync(join(EXAMPLES, file), 'utf8')) as PodmanNetwork & {
    plugins: Record<string, unknown>[];
  };
  Object.assign(conf.plugins[0], {
    ovsdb: info.ovsdb,
    stateDir,
    logFile: join(dir, 'podvlan.log'),
    nodeConfig: '/dev/null', // this machine's /etc/podvlan must not leak in
  });
  return conf;
}
const vlan22 = example('vlan22.conflist');
const vlan33 = example('vlan33.conflist');
const BRIDGE = (vlan22.plugins as { bridge: string }[])[0].bridge;

let podman: Podman;
const ids = new Map<string, string>(); // container name -> full id
const runTimes: number[] = [];

async function podmanOk(args: string[]): Promise<string> {
  const r = await podman.run(args);
  expect(r.exitCode, `podman ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout.trim();
}

/** `podman run -d` a sleeping busybox on `network`; returns the container id. */
async function runOn(name: string, network: string, extra: string[] = []): Promise<string> {
  const r = await podman.run([
    'run',
    '-d',
    '--name',
    name,
    '--network',
    network,
    ...extra,
    PODMAN_IMAGE,
    'sleep',
    '3600',
  ]);
  expect(r.exitCode, `podman run ${name}: ${r.stderr}`).toBe(0);
  runTimes.push(r.ms);
  const id = r.stdout.trim();
  ids.set(name, id);
  return id;
}

/** What podman recorded from the plugin's result, per network. */
async function networksOf(name: string): Promise<Record<string, { IPAddress: string; MacAddress: string }>> {
  return JSON.parse(await podmanOk(['inspect', '--format', '{{json .NetworkSettings.Networks}}', name]));
}

/** Address (no prefix) and MAC of `ifname` as the container itself sees them; '' when absent. */
async function inside(name: string, ifname: string): Promise<{ ip: string; mac: string }> {
  const r = await podman.run(['exec', name, 'ip', 'addr', 'show', 'dev', ifname]);
  return {
    ip: /inet (\d+\.\d+\.\d+\.\d+)\//.exec(r.stdout)?.[1] ?? '',
    mac: /link\/ether ([0-9a-f:]{17})/.exec(r.stdout)?.[1] ?? '',
  };
}

async function canPing(from: string, ip: string, via?: string): Promise<boolean> {
  const r = await podman.run(['exec', from, 'ping', ...(via ? ['-I', via] : []), '-c', '2', '-W', '1', ip]);
  return r.exitCode === 0;
}

const portOf = (name: string, network: string, ifname = 'eth0') => cniOwner(ids.get(name)!, network, ifname).port;

describe('podvlan under podman (CNI backend)', () => {
  beforeAll(async () => {
    mkdirSync(dir, { recursive: true });
    podman = await startPodman(info, join(dir, 'podman'), [vlan22, vlan33]);
  });
  afterAll(async () => {
    if (runTimes.length > 0)
      console.info(`podman run -d with podvlan: ${runTimes.map((ms) => Math.round(ms)).join(', ')} ms`);
    await podman?.stop();
    await ovsVsctl(info, ['--if-exists', 'del-br', BRIDGE]);
  });

  it('docs/cni-podman.md shows the example conflist this test runs, as it is', () => {
    const page = readFileSync(resolve(__dirname, '../../docs/cni-podman.md'), 'utf8');
    const file = readFileSync(join(EXAMPLES, 'vlan22.conflist'), 'utf8');
    expect(page).toContain(`\`\`\`json\n${file}\`\`\``);
  });

  it('podman lists the documented conflists as networks of type podvlan', async () => {
    const rows = (await podmanOk(['network', 'ls', '--format', '{{.Name}} {{.Driver}}'])).split('\n');
    expect(rows).toEqual(expect.arrayContaining(['vlan22 podvlan', 'vlan33 podvlan']));
  });

  it('two containers on vlan22 reach each other; one on vlan33 (same subnet) reaches neither', async () => {
    await runOn('a', 'vlan22');
    await runOn('b', 'vlan22');
    await runOn('c', 'vlan33');
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((n) => inside(n, 'eth0')));
    // podman shows what podvlan's result said, and it is what the container has.
    expect((await networksOf('a')).vlan22).toMatchObject({ IPAddress: a.ip, MacAddress: a.mac });
    expect((await networksOf('c')).vlan33).toMatchObject({ IPAddress: c.ip, MacAddress: c.mac });
    expect(a.ip).toMatch(/^10\.239\.0\.(\d|[1-9]\d)$/); // vlan22's range .10-.99
    expect(c.ip).toMatch(/^10\.239\.0\.2\d\d$/); // vlan33's range .200-.250
    expect(await portTag(info, portOf('a', 'vlan22'))).toBe('22');
    expect(await portTag(info, portOf('b', 'vlan22'))).toBe('22');
    expect(await portTag(info, portOf('c', 'vlan33'))).toBe('33');
    expect(await canPing('a', b.ip)).toBe(true);
    expect(await canPing('b', a.ip)).toBe(true);
    expect(await canPing('c', a.ip)).toBe(false);
    expect(await canPing('c', b.ip)).toBe(false);
    expect(await canPing('a', c.ip)).toBe(false);
  });

  it('podman network reload (DEL, then ADD with the IP=, MAC= of before) keeps address, MAC, traffic', async () => {
    const before = await inside('a', 'eth0');
    const b = await inside('b', 'eth0');
    const r = await podman.run(['network', 'reload', 'a']);
    expect(r.exitCode, r.stderr).toBe(0);
    const after = await inside('a', 'eth0');
    expect(after.ip).not.toBe('');
    expect((await networksOf('a')).vlan22).toMatchObject({ IPAddress: after.ip, MacAddress: after.mac });
    expect(await bridgePorts(info, BRIDGE)).toContain(portOf('a', 'vlan22'));
    expect(await portTag(info, portOf('a', 'vlan22'))).toBe('22');
    expect(await canPing('b', after.ip)).toBe(true);
    expect(await canPing('a', b.ip)).toBe(true);
    // One lease for a's vlan22 attachment, not the old one kept beside the new one.
    const leases = stateFiles(stateDir).filter((f) => f.includes('/ipam/vlan22/'));
    expect(leases).toHaveLength(2);
    // The same address and MAC as before: the new ADD asked for them (IP=, MAC=).
    expect(after).toEqual(before);
  });

  it('podman network connect adds eth1 on vlan33; disconnect removes it, its port and its lease', async () => {
    const r = await podman.run(['network', 'connect', 'vlan33', 'b']);
    expect(r.exitCode, r.stderr).toBe(0);
    const eth1 = await inside('b', 'eth1');
    expect(eth1.ip).toMatch(/^10\.239\.0\.2\d\d$/);
    expect((await networksOf('b')).vlan33).toMatchObject({ IPAddress: eth1.ip, MacAddress: eth1.mac });
    const port = portOf('b', 'vlan33', 'eth1');
    expect(await portTag(info, port)).toBe('33');
    // Both networks share one subnet, so eth1 is picked explicitly (the routes put eth0 first).
    const c = await inside('c', 'eth0');
    expect(await canPing('b', c.ip, 'eth1')).toBe(true);
    const d = await podman.run(['network', 'disconnect', 'vlan33', 'b']);
    expect(d.exitCode, d.stderr).toBe(0);
    expect((await inside('b', 'eth1')).ip).toBe('');
    expect((await podman.run(['exec', 'b', 'ip', 'link', 'show', 'eth1'])).exitCode).not.toBe(0);
    expect(await bridgePorts(info, BRIDGE)).not.toContain(port);
    expect(await hostVeths(info)).not.toContain(port);
    expect(stateFiles(stateDir).some((f) => f.endsWith(`/ipam/vlan33/${eth1.ip}`))).toBe(false);
    expect(Object.keys(await networksOf('b'))).toEqual(['vlan22']);
    expect(await canPing('b', (await inside('a', 'eth0')).ip)).toBe(true);
  });

  it('a container whose command exits: podman cleans its network up (DEL), the port and lease go', async () => {
    const files = stateFiles(stateDir);
    const r = await podman.run([
      ...['run', '--name', 'once', '--network', 'vlan22', PODMAN_IMAGE],
      ...['sh', '-c', 'ip addr show dev eth0'],
    ]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/inet 10\.239\.0\.\d+\/24/);
    const id = await podmanOk(['inspect', '--format', '{{.Id}}', 'once']);
    const port = cniOwner(id, 'vlan22', 'eth0').port;
    // conmon runs podman's cleanup when the container exits; give it a moment.
    const deadline = Date.now() + 10000;
    while ((await bridgePorts(info, BRIDGE)).includes(port) && Date.now() < deadline)
      await new Promise((done) => setTimeout(done, 100));
    expect(await bridgePorts(info, BRIDGE)).not.toContain(port);
    expect(await hostVeths(info)).not.toContain(port);
    expect(stateFiles(stateDir)).toEqual(files);
    expect((await podman.run(['rm', 'once'])).exitCode).toBe(0);
  });

  it('podman run --ip: inside the pool it is the address; outside, podvlan refuses', async () => {
    await runOn('fixed', 'vlan22', ['--ip', '10.239.0.50', '--mac-address', '0a:00:00:00:00:50']);
    expect(await inside('fixed', 'eth0')).toEqual({ ip: '10.239.0.50', mac: '0a:00:00:00:00:50' });
    expect(await canPing('fixed', (await inside('b', 'eth0')).ip)).toBe(true);
    const ports = await bridgePorts(info, BRIDGE);
    const files = stateFiles(stateDir);
    const r = await podman.run([
      'run',
      '-d',
      '--name',
      'outside',
      '--network',
      'vlan22',
      '--ip',
      '10.239.0.150',
      PODMAN_IMAGE,
      'sleep',
      '3600',
    ]);
    expect(r.exitCode).not.toBe(0);
    // podman shows the message of podvlan's error object.
    expect(r.stderr).toMatch(/plugin type="podvlan" failed \(add\): cni plugin podvlan failed: .*10\.239\.0\.150/);
    expect(await bridgePorts(info, BRIDGE)).toEqual(ports);
    expect(stateFiles(stateDir)).toEqual(files);
  });

  it('podman stop leaves nothing: no port, veth, lease, netns, cached result; audit, list and ipam agree', async () => {
    const names = [...ids.keys()];
    const sandboxes = await Promise.all(
      names.map((n) => podmanOk(['inspect', '--format', '{{.NetworkSettings.SandboxKey}}', n])),
    );
    expect(sandboxes.every((s) => s.startsWith('/run/netns/'))).toBe(true);
    const r = await podman.run(['stop', '-t', '0', ...names]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(await bridgePorts(info, BRIDGE)).toEqual([]);
    expect(await hostVeths(info)).toEqual([]);
    expect(stateFiles(stateDir)).toEqual([]);
    expect(sandboxes.filter(existsSync)).toEqual([]);
    const cache = existsSync('/var/lib/cni/results') ? readdirSync('/var/lib/cni/results') : [];
    expect(cache.filter((f) => [...ids.values()].some((id) => f.includes(id)))).toEqual([]);
    expect(await audit(info, stateDir, [BRIDGE])).toEqual([]);
    const config = writeConfig(info, join(dir, 'cli'), [{ name: 'vlan22', bridge: BRIDGE, vlan: { id: 22 } }], {
      stateDir,
    });
    const list = await runPlugin(info, ['list', '--output', 'json'], { config });
    expect(list.exitCode, list.all).toBe(0);
    expect((JSON.parse(list.stdout) as { bridge: string }[]).filter((row) => row.bridge === BRIDGE)).toEqual([]);
    const ipam = await runPlugin(info, ['ipam', 'list', '--output', 'json'], { config });
    expect(ipam.exitCode, ipam.all).toBe(0);
    expect(JSON.parse(ipam.stdout).addresses).toEqual([]);
  });

  it('podman start after stop attaches again in a new netns; the next stop leaves nothing', async () => {
    const r = await podman.run(['start', 'a', 'b']);
    expect(r.exitCode, r.stderr).toBe(0);
    const [a, b] = await Promise.all(['a', 'b'].map((n) => inside(n, 'eth0')));
    expect(a.ip).toMatch(/^10\.239\.0\.\d+$/);
    expect(await portTag(info, portOf('a', 'vlan22'))).toBe('22');
    expect(await canPing('a', b.ip)).toBe(true);
    expect((await podman.run(['stop', '-t', '0', 'a', 'b'])).exitCode).toBe(0);
    expect(await bridgePorts(info, BRIDGE)).toEqual([]);
    expect(stateFiles(stateDir)).toEqual([]);
    expect(await audit(info, stateDir, [BRIDGE])).toEqual([]);
  });
});
