// Delegated IPAM through Debian's libcni: podvlan makes the OVS port and veth and takes the pod's
// address from the reference host-local and static plugins found in CNI_PATH (SPEC.md "Delegated
// plugins (IPAM)"). The configs are docs/cni-ipam.md's examples. A recording wrapper around the
// real host-local shows what the delegate is given (podvlan's environment and stdin) and when
// (ADD; DEL on teardown and on the rollback of a failed ADD).
import { execa } from 'execa';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cniOwner } from '../../src/cni/owner';
import { cni, cniGc, delNetns, netnsAddress, netnsPing } from '../support/cni';
import { leaseFiles } from '../support/consistency';
import { docExample } from '../support/doc-example';
import { DEBIAN_CNI_DIR, type LibcniCall, parseResult, runLibcni } from '../support/libcni';
import { BINARY, bridgePorts, hostVeths, ovsVsctl, runPlugin, stateFiles, writeConfig } from '../support/plugin';

const info = inject('sandbox');
const dir = join(info.dir, 'cni-ipam-delegate');
const stateDir = join(dir, 'state');
const dataDir = join(dir, 'host-local');
const binDir = join(dir, 'bin');
const cacheDir = join(dir, 'cni-cache');
const record = join(dir, 'record.jsonl');
const BRIDGE = 'tenant_br'; // the examples' bridge

const namespaces: string[] = [];
async function newNetns(tag: string): Promise<string> {
  const name = `pvid-${tag}-${randomBytes(3).toString('hex')}`;
  await execa('ip', ['netns', 'add', name]);
  await execa('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  namespaces.push(name);
  return name;
}

type Plugin = Record<string, unknown> & { ipam: Record<string, unknown> };
type Conflist = { name: string; cniVersion: string; plugins: Plugin[] };

/**
 * A docs example with this machine's paths (ovsdb, stateDir, logFile, host-local's dataDir,
 * nodeConfig); `change` makes a variant of it (another network name, VLAN or ipam) for a test of its own.
 */
function localized(example: string, change: (p: Plugin) => Plugin = (p) => p, name?: string): Conflist {
  const list = docExample('cni-ipam.md', example) as unknown as Conflist;
  const [p] = list.plugins;
  const plugin: Plugin = {
    ...p,
    ovsdb: info.ovsdb,
    stateDir,
    logFile: join(dir, 'podvlan.log'),
    nodeConfig: '/dev/null', // this machine's /etc/podvlan must not leak in
    ipam: { ...p.ipam, ...('dataDir' in p.ipam ? { dataDir } : {}) },
  };
  return { ...list, ...(name ? { name } : {}), plugins: [change(plugin)] };
}
function writeConflist(file: string, list: Conflist): string {
  const path = join(dir, `${file}.conflist`);
  writeFileSync(path, JSON.stringify(list, null, 2));
  return path;
}

const call = (conflist: string, containerId: string, netns: string, extra: Partial<LibcniCall> = {}): LibcniCall => ({
  conflist,
  containerId,
  netns: netns && `/run/netns/${netns}`,
  pluginDirs: [binDir, DEBIAN_CNI_DIR],
  cacheDir,
  env: { MARKER: 'inherited', RECORD_TO: record },
  ...extra,
});

/** host-local's leases: one file per address under dataDir/<network>. */
const hostLocalLeases = (network: string) =>
  existsSync(join(dataDir, network)) ? readdirSync(join(dataDir, network)).filter((f) => /^\d/.test(f)) : [];
const hasLink = async (ns: string, name: string) =>
  (await execa('ip', ['-n', ns, 'link', 'show', name], { reject: false })).exitCode === 0;
const podvlanLeases = () => leaseFiles(stateDir);

interface Recorded {
  env: Record<string, string>;
  stdin: string;
}
const recorded = (): Recorded[] =>
  existsSync(record)
    ? readFileSync(record, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l))
    : [];

/** rec-<plugin>: records its environment and stdin, then runs the real /usr/lib/cni/<plugin> with both. */
function writeRecorder(name: string): void {
  const path = join(binDir, name);
  writeFileSync(
    path,
    `#!/usr/bin/env node
const fs = require('node:fs');
const { spawnSync } = require('node:child_process');
const stdin = fs.readFileSync(0, 'utf8');
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('CNI_') || k === 'MARKER'));
fs.appendFileSync(process.env.RECORD_TO, JSON.stringify({ env, stdin }) + '\\n');
const real = '/usr/lib/cni/' + require('node:path').basename(process.argv[1]).replace(/^rec-/, '');
const r = spawnSync(real, [], { input: stdin, env: process.env, encoding: 'utf8' });
process.stdout.write(r.stdout);
process.exit(r.status ?? 1);
`,
  );
  chmodSync(path, 0o755);
}

beforeAll(async () => {
  mkdirSync(binDir, { recursive: true });
  symlinkSync(BINARY, join(binDir, 'podvlan'));
  writeRecorder('rec-host-local');
  // Never answers an ADD: the timeout test's delegate.
  writeFileSync(join(binDir, 'sleepy'), '#!/bin/sh\n[ "$CNI_COMMAND" = ADD ] && exec sleep 30\nexit 0\n');
  chmodSync(join(binDir, 'sleepy'), 0o755);
  // Refuses every ADD with an error object of its own, and records its verbs.
  writeFileSync(
    join(binDir, 'refuser'),
    '#!/bin/sh\necho "$CNI_COMMAND" >> "$RECORD_TO.refuser"\n[ "$CNI_COMMAND" = ADD ] || exit 0\n' +
      'echo \'{"cniVersion":"1.0.0","code":11,"msg":"pool busy","details":"try later"}\'\nexit 1\n',
  );
  chmodSync(join(binDir, 'refuser'), 0o755);
});

afterAll(async () => {
  for (const ns of namespaces) await delNetns(ns);
  await ovsVsctl(info, ['--if-exists', 'del-br', BRIDGE]);
});

describe('delegated host-local (docs/cni-ipam.md "podvlan-host-local")', () => {
  let conflist: string;
  let a: string;
  let b: string;
  let ipA: string;
  let ipB: string;
  let resultA: ReturnType<typeof parseResult>;

  beforeAll(() => {
    conflist = writeConflist('vlan41', localized('podvlan-host-local'));
  });

  it("ADD: two pods get host-local's addresses on VLAN 41, its gateway and routes, and reach each other", async () => {
    a = await newNetns('a');
    b = await newNetns('b');
    resultA = parseResult(await runLibcni(info, 'add', call(conflist, 'hl-a', a)));
    const resultB = parseResult(await runLibcni(info, 'add', call(conflist, 'hl-b', b)));
    ipA = resultA.ips![0].address.split('/')[0];
    ipB = resultB.ips![0].address.split('/')[0];
    expect(resultA.ips).toEqual([
      { address: expect.stringMatching(/^10\.226\.2\.\d+\/24$/), gateway: '10.226.2.1', interface: 1 },
    ]);
    expect(ipB).not.toBe(ipA);
    // host-local's route without gw goes via the address's gateway, as the reference plugins do.
    expect(resultA.routes).toEqual([{ dst: '10.226.0.0/16', gw: '10.226.2.1' }]);
    expect(await netnsAddress(a, 'eth0')).toBe(`${ipA}/24`);
    expect((await execa('ip', ['-n', a, 'route', 'show', '10.226.0.0/16'])).stdout).toContain('via 10.226.2.1');
    // The addresses are host-local's (its lease files), not podvlan's.
    expect(hostLocalLeases('vlan41').sort()).toEqual([ipA, ipB].sort());
    expect(podvlanLeases()).toEqual([]);
    const port = resultA.interfaces![0].name;
    expect(await ovsVsctl(info, ['get', 'Port', port, 'tag'])).toBe('41');
    const ids = await ovsVsctl(info, ['get', 'Port', port, 'external_ids']);
    expect(ids).toContain('"podvlan/ipamPlugin"=host-local');
    expect(ids).toContain(`"podvlan/ip"="${ipA}/24"`);
    expect(await netnsPing(a, ipB)).toBe(true);
    expect(await netnsPing(b, ipA)).toBe(true);
    // podvlan list shows where the address came from.
    const config = writeConfig(info, join(dir, 'list'), [{ name: 'vlan41', bridge: BRIDGE, vlan: { id: 41 } }], {
      stateDir,
    });
    const list = await runPlugin(info, ['list', '--output', 'json'], { config });
    expect(list.exitCode, list.all).toBe(0);
    const rows = JSON.parse(list.stdout) as { port: string; ipamPlugin?: string; ip?: string }[];
    expect(rows.find((r) => r.port === port)).toMatchObject({ ipamPlugin: 'host-local', ip: `${ipA}/24` });
  });

  it('a repeated ADD answers the same result from the port record, without a second ADD of host-local', async () => {
    // host-local refuses a second ADD of one container ("duplicate allocation"): asking it again would fail.
    const again = parseResult(await runLibcni(info, 'add', call(conflist, 'hl-a', a)));
    expect(again).toEqual(resultA);
    expect(hostLocalLeases('vlan41').sort()).toEqual([ipA, ipB].sort());
  });

  it("an ADD over what an interrupted ADD left runs host-local's DEL first, then gets an address again", async () => {
    // The OVS port gone, the veth and host-local's lease left: as if the ADD was killed before the port.
    const port = resultA.interfaces![0].name;
    await ovsVsctl(info, ['del-port', BRIDGE, port]);
    const r = parseResult(await runLibcni(info, 'add', call(conflist, 'hl-a', a)));
    ipA = r.ips![0].address.split('/')[0];
    expect(hostLocalLeases('vlan41').sort()).toEqual([ipA, ipB].sort());
    expect(await netnsPing(a, ipB)).toBe(true);
  });

  it("CHECK runs host-local's CHECK too: it passes, and fails once host-local's lease is gone", async () => {
    const ok = await runLibcni(info, 'check', call(conflist, 'hl-b', b));
    expect(ok, ok.stdout).toMatchObject({ exitCode: 0, stdout: '' });
    // host-local's lease of b removed behind its back: podvlan's port is fine, host-local's CHECK is not.
    const lease = join(dataDir, 'vlan41', ipB);
    const saved = readFileSync(lease);
    rmSync(lease);
    try {
      const run = await runLibcni(info, 'check', call(conflist, 'hl-b', b));
      expect(run.exitCode).toBe(1);
      expect(JSON.parse(run.stdout).msg).toContain('ipam plugin "host-local" CHECK: ');
    } finally {
      writeFileSync(lease, saved);
    }
  });

  it("GC of a stale attachment runs host-local's DEL for it: no address of it is left", async () => {
    const ns = await newNetns('gc');
    const added = await runLibcni(info, 'add', call(conflist, 'hl-gc', ns));
    expect(added.exitCode, added.stdout).toBe(0);
    const ip = parseResult(added).ips![0].address.split('/')[0];
    expect(hostLocalLeases('vlan41')).toContain(ip);
    // The network config as a 1.1.0 runtime sends GC: the one plugin's config with the list's name.
    const list = JSON.parse(readFileSync(conflist, 'utf8')) as Conflist;
    const config = { ...list.plugins[0], name: list.name, cniVersion: '1.1.0' };
    const valid = ['hl-a', 'hl-b'].map((id) => ({ containerID: id, ifname: 'eth0' }));
    const run = await cniGc(info, config, valid);
    expect(run, run.stdout).toMatchObject({ exitCode: 0, stdout: '' });
    expect(hostLocalLeases('vlan41').sort()).toEqual([ipA, ipB].sort());
    expect(await bridgePorts(info, BRIDGE)).not.toContain(cniOwner('hl-gc', 'vlan41', 'eth0').port);
  });

  it("DEL runs host-local's DEL: its lease goes with the port and veth; twice, and blind, succeed", async () => {
    const port = cniOwner('hl-a', 'vlan41', 'eth0').port;
    for (const netns of [a, a, '']) {
      const run = await runLibcni(info, 'del', call(conflist, 'hl-a', netns));
      expect(run, run.stdout).toMatchObject({ exitCode: 0, stdout: '' });
    }
    expect(hostLocalLeases('vlan41')).toEqual([ipB]);
    expect(await bridgePorts(info, BRIDGE)).not.toContain(port);
    expect(await hostVeths(info)).not.toContain(port);
    expect(await hasLink(a, 'eth0')).toBe(false);
  });

  it("a failed ADD after host-local's ADD runs host-local's DEL; the foreign port stays", async () => {
    const ns = await newNetns('fail');
    const port = cniOwner('hl-fail', 'vlan41', 'eth0').port;
    // A port podvlan did not make holds the name of this attachment's port: the OVS step fails.
    await ovsVsctl(info, ['add-port', BRIDGE, port, '--', 'set', 'Interface', port, 'type=internal']);
    try {
      const run = await runLibcni(info, 'add', call(conflist, 'hl-fail', ns));
      expect(run.exitCode).toBe(1);
      expect(JSON.parse(run.stdout).code, run.stdout).toBe(100);
      expect(hostLocalLeases('vlan41')).toEqual([ipB]);
      expect(await hasLink(ns, 'eth0')).toBe(false);
      expect(await ovsVsctl(info, ['get', 'Port', port, 'name'])).toBe(port);
    } finally {
      await ovsVsctl(info, ['del-port', BRIDGE, port]);
    }
  });

  it("host-local's own error comes back with its code and message, and nothing is left", async () => {
    // One address only: the second pod's ADD finds the range exhausted.
    const one = writeConflist(
      'vlan43',
      localized(
        'podvlan-host-local',
        (p) => ({
          ...p,
          vlan: { id: 43 },
          ipam: {
            ...p.ipam,
            ranges: [[{ subnet: '10.226.4.0/24', rangeStart: '10.226.4.5', rangeEnd: '10.226.4.5' }]],
          },
        }),
        'vlan43',
      ),
    );
    const x = await newNetns('x');
    const y = await newNetns('y');
    expect(parseResult(await runLibcni(info, 'add', { ...call(one, 'hl-x', x), conflist: one })).ips![0].address).toBe(
      '10.226.4.5/24',
    );
    const ports = await bridgePorts(info, BRIDGE);
    const run = await runLibcni(info, 'add', call(one, 'hl-y', y));
    expect(run.exitCode).toBe(1);
    const err = JSON.parse(run.stdout) as { code: number; msg: string };
    // host-local's own code and message (999, "no IP addresses available in range set ..."), not podvlan's.
    expect(err.code).toBe(999);
    expect(err.msg).toContain('ipam plugin "host-local" ADD: ');
    expect(err.msg).toContain('no IP addresses available');
    expect(await bridgePorts(info, BRIDGE)).toEqual(ports);
    expect(await hasLink(y, 'eth0')).toBe(false);
    expect(hostLocalLeases('vlan43')).toEqual(['10.226.4.5']);
    expect((await runLibcni(info, 'del', call(one, 'hl-x', x))).exitCode).toBe(0);
    expect(hostLocalLeases('vlan43')).toEqual([]);
  });

  it('teardown of the last pod leaves no lease, port or veth of this network', async () => {
    expect((await runLibcni(info, 'del', call(conflist, 'hl-b', b))).exitCode).toBe(0);
    expect(hostLocalLeases('vlan41')).toEqual([]);
    expect(podvlanLeases()).toEqual([]);
    expect(await hostVeths(info)).toEqual([]);
  });
});

describe('delegated static (docs/cni-ipam.md "podvlan-static")', () => {
  it('two pods with their static addresses on VLAN 42 reach each other; DEL succeeds and removes them', async () => {
    const c = await newNetns('c');
    const d = await newNetns('d');
    const first = writeConflist('vlan42-c', localized('podvlan-static'));
    const second = writeConflist(
      'vlan42-d',
      localized('podvlan-static', (p) => ({
        ...p,
        ipam: { ...p.ipam, addresses: [{ address: '10.226.3.11/24', gateway: '10.226.3.1' }] },
      })),
    );
    const rc = parseResult(await runLibcni(info, 'add', call(first, 'st-c', c)));
    const rd = parseResult(await runLibcni(info, 'add', call(second, 'st-d', d)));
    expect(rc.ips).toEqual([{ address: '10.226.3.10/24', gateway: '10.226.3.1', interface: 1 }]);
    expect(rd.ips?.[0].address).toBe('10.226.3.11/24');
    expect(rc.routes).toEqual([{ dst: '10.226.0.0/16', gw: '10.226.3.1' }]);
    expect(await netnsAddress(c, 'eth0')).toBe('10.226.3.10/24');
    expect(await ovsVsctl(info, ['get', 'Port', rc.interfaces![0].name, 'tag'])).toBe('42');
    expect(await ovsVsctl(info, ['get', 'Port', rc.interfaces![0].name, 'external_ids'])).toContain(
      '"podvlan/ipamPlugin"=static',
    );
    expect(await netnsPing(c, '10.226.3.11')).toBe(true);
    expect(podvlanLeases()).toEqual([]);
    for (const [list, cid, ns] of [
      [first, 'st-c', c],
      [second, 'st-d', d],
    ]) {
      const run = await runLibcni(info, 'del', call(list, cid, ns));
      expect(run, run.stdout).toMatchObject({ exitCode: 0, stdout: '' });
      expect(await hasLink(ns, 'eth0')).toBe(false);
    }
    expect(await hostVeths(info)).toEqual([]);
  });
});

describe('what the delegate is given', () => {
  let conflist: string;
  const args = 'IgnoreUnknown=1;K8S_POD_NAMESPACE=lab;K8S_POD_NAME=rec';
  beforeAll(() => {
    conflist = writeConflist(
      'vlan44',
      localized(
        'podvlan-host-local',
        (p) => ({
          ...p,
          vlan: { id: 44 },
          ipam: { ...p.ipam, type: 'rec-host-local', ranges: [[{ subnet: '10.226.5.0/24' }]] },
        }),
        'vlan44',
      ),
    );
  });

  it("podvlan's environment and stdin: ADD, then DEL at teardown", async () => {
    rmSync(record, { force: true });
    const ns = await newNetns('rec');
    const r = parseResult(await runLibcni(info, 'add', call(conflist, 'rec-1', ns, { args })));
    expect(await netnsAddress(ns, 'eth0')).toBe(r.ips![0].address);
    expect((await runLibcni(info, 'del', call(conflist, 'rec-1', ns, { args }))).exitCode).toBe(0);
    const [add, del] = recorded();
    expect(recorded()).toHaveLength(2);
    expect(add.env).toEqual({
      CNI_COMMAND: 'ADD',
      CNI_CONTAINERID: 'rec-1',
      CNI_NETNS: `/run/netns/${ns}`,
      CNI_IFNAME: 'eth0',
      CNI_ARGS: args,
      CNI_PATH: `${binDir}:${DEBIAN_CNI_DIR}`,
      MARKER: 'inherited',
    });
    // The whole network config podvlan got from libcni, unchanged.
    const list = JSON.parse(readFileSync(conflist, 'utf8')) as Conflist;
    expect(JSON.parse(add.stdin)).toEqual({ cniVersion: list.cniVersion, name: list.name, ...list.plugins[0] });
    expect(del.env).toEqual({ ...add.env, CNI_COMMAND: 'DEL' });
    expect(JSON.parse(del.stdin)).toMatchObject({ name: 'vlan44', ipam: { type: 'rec-host-local' } });
    expect(hostLocalLeases('vlan44')).toEqual([]);
  });

  it("a failed ADD runs the delegate's DEL after its ADD, with the same stdin", async () => {
    rmSync(record, { force: true });
    const ns = await newNetns('recf');
    const port = cniOwner('rec-fail', 'vlan44', 'eth0').port;
    await ovsVsctl(info, ['add-port', BRIDGE, port, '--', 'set', 'Interface', port, 'type=internal']);
    try {
      const run = await runLibcni(info, 'add', call(conflist, 'rec-fail', ns));
      expect(run.exitCode).toBe(1);
    } finally {
      await ovsVsctl(info, ['del-port', BRIDGE, port]);
    }
    const calls = recorded();
    // The first DEL: a link of the port's name exists (the foreign internal port's), which ADD
    // takes for what an interrupted ADD of this owner left. The last: the rollback.
    expect(calls.map((c) => c.env.CNI_COMMAND)).toEqual(['DEL', 'ADD', 'DEL']);
    expect(calls[2].stdin).toBe(calls[1].stdin);
    expect(hostLocalLeases('vlan44')).toEqual([]);
  });

  it("a delegate's error object becomes podvlan's with its code, msg and details; its DEL runs", async () => {
    rmSync(`${record}.refuser`, { force: true });
    const refused = writeConflist(
      'vlan47',
      localized('podvlan-host-local', (p) => ({ ...p, vlan: { id: 47 }, ipam: { type: 'refuser' } }), 'vlan47'),
    );
    const ns = await newNetns('refused');
    const ports = await bridgePorts(info, BRIDGE);
    const run = await runLibcni(info, 'add', call(refused, 'refused-1', ns));
    expect(run.exitCode).toBe(1);
    expect(JSON.parse(run.stdout)).toMatchObject({
      code: 11,
      msg: expect.stringContaining('ipam plugin "refuser" ADD: pool busy'),
      details: 'try later',
    });
    // SPEC.md: a delegate whose ADD fails gets a DEL before the failure is returned.
    expect(readFileSync(`${record}.refuser`, 'utf8').split('\n').filter(Boolean)).toEqual(['ADD', 'DEL']);
    expect(await bridgePorts(info, BRIDGE)).toEqual(ports);
    expect(await hasLink(ns, 'eth0')).toBe(false);
    expect(await hostVeths(info)).toEqual([]);
  });

  it('a delegate that does not answer within timeoutMs is killed: code 11, and nothing is left', async () => {
    const slow = writeConflist(
      'vlan45',
      localized(
        'podvlan-host-local',
        (p) => ({ ...p, vlan: { id: 45 }, timeoutMs: 1500, ipam: { type: 'sleepy' } }),
        'vlan45',
      ),
    );
    const ns = await newNetns('slow');
    const ports = await bridgePorts(info, BRIDGE);
    const run = await runLibcni(info, 'add', call(slow, 'slow-1', ns));
    expect(run.exitCode).toBe(1);
    expect(JSON.parse(run.stdout), run.stdout).toMatchObject({
      code: 11,
      msg: expect.stringContaining('did not answer ADD within 1500 ms'),
    });
    expect(run.ms).toBeLessThan(10000);
    expect(await bridgePorts(info, BRIDGE)).toEqual(ports);
    expect(await hasLink(ns, 'eth0')).toBe(false);
  });
});

describe('ipam types podvlan cannot run', () => {
  const spec = (ipam: Record<string, unknown>) => localized('podvlan-host-local', (p) => ({ ...p, ipam })).plugins[0];
  const withNames = (p: Plugin) => ({ cniVersion: '1.0.0', name: 'vlan41', ...p });

  it('a type not in CNI_PATH: code 7 naming it and the path, nothing left; on DEL too', async () => {
    const ns = await newNetns('none');
    const list = writeConflist(
      'nonesuch',
      localized('podvlan-host-local', (p) => ({ ...p, vlan: { id: 46 }, ipam: { type: 'nonesuch' } }), 'vlan46'),
    );
    const ports = await bridgePorts(info, BRIDGE);
    const files = stateFiles(stateDir);
    const run = await runLibcni(info, 'add', call(list, 'none-1', ns));
    expect(run.exitCode).toBe(1);
    const err = JSON.parse(run.stdout) as { code: number; msg: string; details?: string };
    expect(err.code).toBe(7);
    expect(err.msg).toContain('ipam plugin "nonesuch" is not installed in any CNI_PATH directory');
    expect(err.details).toBe(`CNI_PATH=${binDir}:${DEBIAN_CNI_DIR}`);
    expect(await bridgePorts(info, BRIDGE)).toEqual(ports);
    expect(await hostVeths(info)).toEqual([]);
    expect(await hasLink(ns, 'eth0')).toBe(false);
    expect(stateFiles(stateDir)).toEqual(files);
    // The runtime's DEL after it cannot free what the plugin would hold: the same error, nothing touched.
    const del = await runLibcni(info, 'del', call(list, 'none-1', ns));
    expect(JSON.parse(del.stdout).code).toBe(7);
    expect(await bridgePorts(info, BRIDGE)).toEqual(ports);
  });

  it('a type with a path in it is refused before it becomes a path; an empty CNI_PATH is code 4', async () => {
    rmSync(record, { force: true });
    const ns = await newNetns('path');
    const sub = join(dir, 'sub');
    mkdirSync(sub, { recursive: true });
    // From CNI_PATH=<dir>/sub, "../bin/rec-host-local" would name the recorder.
    for (const type of ['../bin/rec-host-local', '..', 'bin/rec-host-local']) {
      const r = await cni(info, 'ADD', withNames(spec({ type })), {
        containerId: 'path-1',
        netns: `/run/netns/${ns}`,
        path: sub,
        env: { RECORD_TO: record },
      });
      expect(r.json, type).toMatchObject({ code: 7, msg: expect.stringContaining('is not a plugin file name') });
      expect(r.stderr).toBe('');
    }
    expect(recorded()).toEqual([]);
    const empty = await cni(info, 'ADD', withNames(spec({ type: 'host-local' })), {
      containerId: 'path-1',
      netns: `/run/netns/${ns}`,
      path: '',
    });
    expect(empty.json).toMatchObject({ code: 4, msg: expect.stringContaining('CNI_PATH is empty') });
    expect(await hasLink(ns, 'eth0')).toBe(false);
    expect(await hostVeths(info)).toEqual([]);
  });
});
