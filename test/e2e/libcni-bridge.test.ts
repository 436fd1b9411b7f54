// The libcni caller (test/support/libcni) proven against Debian's reference plugins before any
// podvlan plugin uses it: a bridge + host-local conflist with tuning chained, ADDed into fresh
// network namespaces from the sandbox's node namespace, CHECKed, DELeted twice. A recording
// plugin then shows what libcni 1.1.2 hands a plugin on each verb, which a CNI plugin must accept.
// This is also the shape of the bench's CNI ADD/DEL peer (bridge + host-local through this caller).
import { execa } from 'execa';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { buildLibcniCaller, DEBIAN_CNI_DIR, type LibcniCall, parseResult, runLibcni } from '../support/libcni';

const info = inject('sandbox');
const dir = join(info.dir, 'libcni-bridge');
const BRIDGE = 'lcb_br';
const SUBNET = '10.229.1';
const cacheDir = join(dir, 'cni-cache');
const ipamDir = join(dir, 'host-local');

/** Named network namespaces of this test file ("pods"), removed in afterAll. */
const namespaces: string[] = [];
async function newNetns(tag: string): Promise<string> {
  const name = `pvlc-${tag}-${randomBytes(3).toString('hex')}`;
  await execa('ip', ['netns', 'add', name]);
  namespaces.push(name);
  return name;
}

function writeConflist(name: string, conf: Record<string, unknown>): string {
  const path = join(dir, `${name}.conflist`);
  writeFileSync(path, JSON.stringify({ name, ...conf }, null, 2));
  return path;
}

const linkNames = async (ns: string) =>
  (await execa('ip', ['-n', ns, '-o', 'link', 'show'])).stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(':')[1].trim().split('@')[0]);
const ping = (ns: string, ip: string) =>
  execa('ip', ['netns', 'exec', ns, 'ping', '-c', '1', '-W', '2', ip], { reject: false });
/** host-local's leases: one file per address, named by it, under dataDir/<network>. */
const leases = (network: string) =>
  existsSync(join(ipamDir, network)) ? readdirSync(join(ipamDir, network)).filter((f) => /^\d/.test(f)) : [];

let conflist: string;
const call = (containerId: string, netns: string, extra: Partial<LibcniCall> = {}): LibcniCall => ({
  conflist,
  containerId,
  netns: netns && `/run/netns/${netns}`,
  pluginDirs: [DEBIAN_CNI_DIR],
  cacheDir,
  ...extra,
});

beforeAll(async () => {
  mkdirSync(dir, { recursive: true });
  const started = performance.now();
  await buildLibcniCaller();
  console.log(`libcni caller ready in ${Math.round(performance.now() - started)} ms`);
  conflist = writeConflist('lcbridge', {
    cniVersion: '1.0.0',
    plugins: [
      {
        type: 'bridge',
        bridge: BRIDGE,
        isGateway: true,
        ipam: { type: 'host-local', ranges: [[{ subnet: `${SUBNET}.0/24` }]], dataDir: ipamDir },
      },
      // Chained: gets the bridge's result as prevResult; its settings prove it ran in the pod's netns.
      { type: 'tuning', mtu: 1400, capabilities: { mac: true }, sysctl: { 'net.ipv4.conf.eth0.arp_notify': '1' } },
    ],
  });
});

afterAll(async () => {
  for (const ns of namespaces) await execa('ip', ['netns', 'del', ns], { reject: false });
  // The bridge plugin makes the Linux bridge on first ADD and never removes it.
  for (const br of [BRIDGE, 'lcr_br']) await execa('ip', ['-n', info.netns, 'link', 'del', br], { reject: false });
});

describe('libcni caller with bridge + host-local + tuning', () => {
  let a: string;
  let b: string;
  let hostVethA: string;

  it('ADD puts two netns on the bridge with host-local addresses and the chained tuning settings', async () => {
    a = await newNetns('a');
    b = await newNetns('b');
    const mac = '02:00:0a:e5:01:0a';
    const runA = await runLibcni(info, 'add', call('lc-pod-a', a, { capabilityArgs: { mac, portMappings: [] } }));
    const resultA = parseResult(runA);
    const resultB = parseResult(await runLibcni(info, 'add', call('lc-pod-b', b)));

    expect(resultA.cniVersion).toBe('1.0.0');
    const podIf = resultA.interfaces?.findIndex((i) => i.name === 'eth0' && i.sandbox === `/run/netns/${a}`);
    expect(podIf).toBeGreaterThanOrEqual(0);
    expect(resultA.interfaces?.[podIf!].mac).toBe(mac); // tuning's result replaced the bridge's
    expect(resultA.ips).toEqual([
      { interface: podIf, address: expect.stringMatching(`^${SUBNET}\\.`), gateway: `${SUBNET}.1` },
    ]);
    hostVethA = resultA.interfaces!.find((i) => i.name !== BRIDGE && !i.sandbox)!.name;
    expect(await linkNames(info.netns)).toContain(hostVethA);

    const ipA = resultA.ips![0].address.split('/')[0];
    const ipB = resultB.ips![0].address.split('/')[0];
    expect(ipB).not.toBe(ipA);
    expect(leases('lcbridge').sort()).toEqual([ipA, ipB].sort());
    const eth0 = (await execa('ip', ['-n', a, '-o', 'link', 'show', 'eth0'])).stdout;
    expect(eth0).toContain('mtu 1400');
    expect(eth0).toContain(`link/ether ${mac}`);
    // Everything is in the sandbox's node namespace: the host never sees the bridge.
    expect((await execa('ip', ['link', 'show', BRIDGE], { reject: false })).exitCode).not.toBe(0);
    expect((await ping(a, `${SUBNET}.1`)).exitCode).toBe(0);
    expect((await ping(a, ipB)).exitCode).toBe(0);
    // libcni cached the final result under <cacheDir>/results/<network>-<container>-<ifname>.
    expect(readdirSync(join(cacheDir, 'results')).sort()).toEqual(['lcbridge-lc-pod-a-eth0', 'lcbridge-lc-pod-b-eth0']);
    expect(parseResult(await runLibcni(info, 'result', call('lc-pod-a', a)))).toEqual(resultA);
  });

  it('CHECK passes on both attachments', async () => {
    for (const [cid, ns] of [
      ['lc-pod-a', a],
      ['lc-pod-b', b],
    ]) {
      const run = await runLibcni(info, 'check', call(cid, ns));
      expect(run, run.stdout).toMatchObject({ exitCode: 0, stdout: '' });
    }
  });

  it('DEL twice succeeds and leaves no link, lease or cache entry; the other pod keeps working', async () => {
    const ipA = parseResult(await runLibcni(info, 'result', call('lc-pod-a', a))).ips![0].address.split('/')[0];
    for (let i = 0; i < 2; i++) {
      const run = await runLibcni(info, 'del', call('lc-pod-a', a));
      expect(run, run.stdout).toMatchObject({ exitCode: 0, stdout: '' });
    }
    expect(await linkNames(a)).toEqual(['lo']);
    expect(await linkNames(info.netns)).not.toContain(hostVethA);
    expect(leases('lcbridge')).not.toContain(ipA);
    expect(existsSync(join(cacheDir, 'results', 'lcbridge-lc-pod-a-eth0'))).toBe(false);
    expect((await runLibcni(info, 'result', call('lc-pod-a', a))).stdout).toBe('null');
    expect((await ping(b, `${SUBNET}.1`)).exitCode).toBe(0);

    // CHECK of what is gone fails with the plugin's CNI error, on stdout, and a non-zero exit.
    const check = await runLibcni(info, 'check', call('lc-pod-a', a));
    expect(check.exitCode).toBe(1);
    expect(JSON.parse(check.stdout)).toMatchObject({
      code: expect.any(Number),
      msg: expect.stringContaining('lc-pod-a'),
    });
  });

  it('DEL, then a blind DEL (empty CNI_NETNS, as CRI sends at RemovePodSandbox), leave nothing', async () => {
    expect((await runLibcni(info, 'del', call('lc-pod-b', b))).exitCode).toBe(0);
    const blind = await runLibcni(info, 'del', call('lc-pod-b', ''));
    expect(blind, blind.stdout).toMatchObject({ exitCode: 0, stdout: '' });
    expect(await linkNames(b)).toEqual(['lo']);
    expect(leases('lcbridge')).toEqual([]);
    expect(readdirSync(join(cacheDir, 'results'))).toEqual([]);
    const veths = (await execa('ip', ['-n', info.netns, '-o', 'link', 'show', 'master', BRIDGE])).stdout;
    expect(veths).toBe('');
  });

  it('a 1.1.0 conflist is refused by the 1.0.0 reference plugins and leaves nothing', async () => {
    const c = await newNetns('v11');
    const v11 = JSON.parse(readFileSync(conflist, 'utf8'));
    const path = writeConflist('lcbridge11', { ...v11, cniVersion: '1.1.0' });
    const run = await runLibcni(info, 'add', { ...call('lc-pod-c', c), conflist: path });
    expect(run.exitCode).toBe(1);
    expect(JSON.parse(run.stdout)).toMatchObject({
      code: 1,
      msg: expect.stringContaining('incompatible CNI versions'),
    });
    expect(await linkNames(c)).toEqual(['lo']);
    expect(leases('lcbridge11')).toEqual([]);
  });
});

/**
 * A plugin that appends what it was given (verb, CNI_* environment, stdin) to a JSON-lines file,
 * answers ADD with its prevResult (or a minimal result in `answerVersion`), and VERSION honestly.
 */
function writeRecorder(path: string): void {
  writeFileSync(
    path,
    `#!/usr/bin/env node
const fs = require('node:fs');
const conf = JSON.parse(fs.readFileSync(0, 'utf8') || '{}');
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('CNI_') || k === 'MARKER'));
if (conf.recordTo) fs.appendFileSync(conf.recordTo, JSON.stringify({ env, conf }) + '\\n');
const cmd = process.env.CNI_COMMAND;
if (cmd === 'VERSION') {
  console.log(JSON.stringify({ cniVersion: conf.cniVersion, supportedVersions: ['0.4.0', '1.0.0', '1.1.0'] }));
} else if (cmd === 'ADD') {
  console.log(JSON.stringify(conf.prevResult ?? { cniVersion: conf.answerVersion ?? conf.cniVersion, ips: [] }));
}
`,
  );
  chmodSync(path, 0o755);
}

interface Recorded {
  env: Record<string, string>;
  conf: Record<string, unknown> & { prevResult?: unknown; runtimeConfig?: Record<string, unknown> };
}

describe('what libcni 1.1.2 hands a chained plugin', () => {
  const pluginDir = join(dir, 'recorder-bin');
  const record = join(dir, 'recorder.jsonl');
  const recorded = (): Recorded[] =>
    existsSync(record)
      ? readFileSync(record, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l))
      : [];
  let recConflist: string;
  let ns: string;
  const args = 'IgnoreUnknown=1;K8S_POD_NAMESPACE=lc;K8S_POD_NAME=rec;K8S_POD_INFRA_CONTAINER_ID=lc-rec';
  const capabilityArgs = { mac: '02:00:0a:e5:02:0b', portMappings: [{ hostPort: 8080, containerPort: 80 }] };
  const recCall = (extra: Partial<LibcniCall> = {}): LibcniCall => ({
    ...call('lc-rec', ns),
    conflist: recConflist,
    pluginDirs: [pluginDir, DEBIAN_CNI_DIR],
    args,
    capabilityArgs,
    env: { MARKER: 'inherited' },
    ...extra,
  });

  beforeAll(async () => {
    mkdirSync(pluginDir, { recursive: true });
    writeRecorder(join(pluginDir, 'recorder'));
    rmSync(record, { force: true });
    ns = await newNetns('rec');
    recConflist = writeConflist('lcrec', {
      cniVersion: '1.0.0',
      plugins: [
        { type: 'bridge', bridge: 'lcr_br', ipam: { type: 'host-local', subnet: '10.229.2.0/24', dataDir: ipamDir } },
        { type: 'recorder', recordTo: record, capabilities: { mac: true, 'io.kubernetes.cri.pod-annotations': true } },
      ],
    });
  });

  it('ADD: the previous result, declared capabilities only, CNI_ARGS as given, the whole environment', async () => {
    const result = parseResult(await runLibcni(info, 'add', recCall()));
    const [add] = recorded();
    expect(add.env).toEqual({
      CNI_COMMAND: 'ADD',
      CNI_CONTAINERID: 'lc-rec',
      CNI_NETNS: `/run/netns/${ns}`,
      CNI_IFNAME: 'eth0',
      CNI_ARGS: args,
      CNI_PATH: `${pluginDir}:${DEBIAN_CNI_DIR}`,
      MARKER: 'inherited', // plugins inherit the runtime's environment
    });
    expect(add.conf).toMatchObject({ name: 'lcrec', cniVersion: '1.0.0', runtimeConfig: { mac: capabilityArgs.mac } });
    expect(add.conf.runtimeConfig).not.toHaveProperty('portMappings'); // not declared by this plugin
    expect(add.conf.prevResult).toEqual(result); // the bridge's result, which we passed through
  });

  it('CHECK and DEL get the cached result as prevResult; a DEL after that gets none', async () => {
    const cached = parseResult(await runLibcni(info, 'result', recCall()));
    expect((await runLibcni(info, 'check', recCall())).exitCode).toBe(0);
    expect((await runLibcni(info, 'del', recCall())).exitCode).toBe(0);
    expect((await runLibcni(info, 'del', recCall({ netns: '' }))).exitCode).toBe(0);
    const [, check, del, blind] = recorded();
    expect(check.env.CNI_COMMAND).toBe('CHECK');
    expect(check.conf.prevResult).toEqual(cached);
    expect(del.env).toMatchObject({ CNI_COMMAND: 'DEL', CNI_NETNS: `/run/netns/${ns}`, CNI_ARGS: args });
    expect(del.conf.prevResult).toEqual(cached);
    expect(del.conf.runtimeConfig).toEqual({ mac: capabilityArgs.mac });
    expect(blind.env).toMatchObject({ CNI_COMMAND: 'DEL', CNI_NETNS: '', CNI_CONTAINERID: 'lc-rec' });
    expect(blind.conf).not.toHaveProperty('prevResult');
    expect(await linkNames(ns)).toEqual(['lo']);
  });

  it('a 1.1.0 result fails the ADD after the plugin ran (and libcni itself sends no DEL)', async () => {
    rmSync(record, { force: true });
    const path = writeConflist('lcrec11', {
      cniVersion: '1.1.0',
      plugins: [{ type: 'recorder', recordTo: record }],
    });
    const run = await runLibcni(info, 'add', recCall({ conflist: path }));
    expect(run.exitCode).toBe(1);
    expect(JSON.parse(run.stdout).msg).toContain('unsupported CNI result version "1.1.0"');
    expect(recorded().map((r) => r.env.CNI_COMMAND)).toEqual(['ADD']);
    expect(existsSync(join(cacheDir, 'results', 'lcrec11-lc-rec-eth0'))).toBe(false);
  });
});
