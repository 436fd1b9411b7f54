// scripts/install-node.sh --cni: the executable into a CNI bin dir and a conflist into a CNI conf
// dir (temp dirs here), what it prints, running it again, and a conflist it did not write. The
// installed conflist is then run as a runtime runs it, through the libcni caller (ADD, DEL), with
// only the installed bin dir as CNI_PATH, on the sandbox's OVS.
import { execa } from 'execa';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { leaseFiles, ourPorts } from '../support/consistency';
import { parseResult, runLibcni } from '../support/libcni';
import { BINARY, bridgePorts, ovsVsctl, portTag } from '../support/plugin';

const info = inject('sandbox');
const dir = join(info.dir, 'install-cni');
const binDir = join(dir, 'opt-cni-bin');
const confDir = join(dir, 'etc-cni-net.d');
const stateDir = join(dir, 'state');
const nodeConfig = join(dir, 'podvlan.yaml');
const BRIDGE = 'icni_br';
const SCRIPT = resolve(__dirname, '../../scripts/install-node.sh');
const conflist = join(confDir, '10-icni.conflist');
const netns = `icni-${randomBytes(3).toString('hex')}`;

const install = (...args: string[]) =>
  execa('bash', [SCRIPT, '--binary', BINARY, '--cni', '--cni-bin-dir', binDir, '--cni-conf-dir', confDir, ...args], {
    reject: false,
  });
const flags = ['--network', 'icni', '--bridge', BRIDGE, '--datapath-type', 'netdev', '--vlan', '41'];
const ipamFlags = ['--subnet', '10.233.0.0/24', '--gateway', '10.233.0.1', '--node-config', nodeConfig];

beforeAll(async () => {
  mkdirSync(dir, { recursive: true });
  writeFileSync(nodeConfig, `ovsdb: ${info.ovsdb}\nstateDir: ${stateDir}\nlogFile: ${join(dir, 'podvlan.log')}\n`);
  await execa('ip', ['netns', 'add', netns]);
});

afterAll(async () => {
  await execa('ip', ['netns', 'del', netns], { reject: false });
  await ovsVsctl(info, ['--if-exists', 'del-br', BRIDGE]);
});

describe('install-node.sh --cni', () => {
  it('installs the executable and a conflist written from the flags, and says so', async () => {
    const r = await install(...flags, ...ipamFlags);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain(`installed ${binDir}/podvlan (mode 0755)`);
    expect(r.stdout).toContain(`wrote ${conflist} (mode 0644): network icni, bridge ${BRIDGE}, VLAN 41`);
    expect(r.stdout).toMatch(/check passed: .*"supportedVersions"/);
    expect(statSync(join(binDir, 'podvlan')).mode & 0o777).toBe(0o755);
    expect(statSync(conflist).mode & 0o777).toBe(0o644);
    const list = JSON.parse(readFileSync(conflist, 'utf8'));
    expect(list).toMatchObject({
      cniVersion: '1.0.0',
      name: 'icni',
      plugins: [
        {
          type: 'podvlan',
          bridge: BRIDGE,
          datapathType: 'netdev',
          vlan: { id: 41 },
          ipam: { type: 'podvlan', pool: { type: 'host-local', subnet: '10.233.0.0/24', gateway: '10.233.0.1' } },
          nodeConfig,
        },
      ],
    });
  });

  it('the installed conflist works through libcni: ADD puts the pod on VLAN 41, DEL leaves nothing', async () => {
    const call = { conflist, containerId: 'icni-pod', netns: `/run/netns/${netns}`, pluginDirs: [binDir] };
    const cacheDir = join(dir, 'libcni-cache');
    const result = parseResult(await runLibcni(info, 'add', { ...call, cacheDir }));
    expect(result.ips).toEqual([
      { interface: 1, address: expect.stringMatching(/^10\.233\.0\.\d+\/24$/), gateway: '10.233.0.1' },
    ]);
    const [port] = await bridgePorts(info, BRIDGE);
    expect(port).toBe(result.interfaces?.[0].name);
    expect(await portTag(info, port)).toBe('41');
    expect(leaseFiles(stateDir)).toHaveLength(1);
    const del = await runLibcni(info, 'del', { ...call, cacheDir });
    expect(del, del.stdout).toMatchObject({ exitCode: 0, stdout: '' });
    expect(await ourPorts(info, [BRIDGE])).toEqual([]);
    expect(leaseFiles(stateDir)).toEqual([]);
  });

  it('run again with the same flags changes nothing; with other flags replaces its own conflist', async () => {
    const before = statSync(conflist).ino;
    const exeBefore = statSync(join(binDir, 'podvlan')).ino;
    const again = await install(...flags, ...ipamFlags);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stdout).toContain(`kept ${binDir}/podvlan (already this executable)`);
    expect(again.stdout).toContain(`kept ${conflist} (unchanged)`);
    expect(statSync(conflist).ino).toBe(before);
    expect(statSync(join(binDir, 'podvlan')).ino).toBe(exeBefore);
    const other = await install(...flags.slice(0, -1), '42', ...ipamFlags);
    expect(other.exitCode, other.stderr).toBe(0);
    expect(JSON.parse(readFileSync(conflist, 'utf8')).plugins[0].vlan).toEqual({ id: 42 });
  });

  it('refuses to replace a conflist it did not write (one line, nothing changed), unless --force', async () => {
    const foreign = `${JSON.stringify({ cniVersion: '1.0.0', name: 'icni', plugins: [{ type: 'bridge' }] })}\n`;
    writeFileSync(conflist, foreign);
    const refused = await install(...flags, ...ipamFlags);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toBe(
      `install-node.sh: ${conflist} exists and was not written by install-node.sh: pass --force to replace it`,
    );
    expect(readFileSync(conflist, 'utf8')).toBe(foreign);
    const forced = await install(...flags, ...ipamFlags, '--force');
    expect(forced.exitCode, forced.stderr).toBe(0);
    expect(JSON.parse(readFileSync(conflist, 'utf8')).plugins[0].type).toBe('podvlan');
  });

  it('installs a given conflist as it is, under its own name', async () => {
    const own = join(dir, '20-mine.conflist');
    writeFileSync(own, readFileSync(conflist, 'utf8').replace('"icni"', '"mine"'));
    const r = await install('--conflist', own);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain(`installed ${join(confDir, '20-mine.conflist')} from ${own} (mode 0644)`);
    expect(readFileSync(join(confDir, '20-mine.conflist'), 'utf8')).toBe(readFileSync(own, 'utf8'));
  });

  it('bad usage is one line and exit 2, before anything is written', async () => {
    const cases: [string[], string][] = [
      [['--vlan', '4095'], "invalid --vlan '4095': 1-4094"],
      [['--bridge', 'a"b', '--vlan', '3'], "invalid --bridge 'a\"b'"],
      [['--vlan', '3', '--gateway', '10.0.0.1'], '--gateway needs --subnet'],
      [['--vlan', '3', '--subnet', '10.0.0.0/33'], "invalid --subnet '10.0.0.0/33'"],
      [['--vendor', 'acme'], '--vendor is an exec-mode option'],
      [[], '--cni needs --vlan ID, or --conflist FILE'],
    ];
    for (const [args, message] of cases) {
      const r = await execa('bash', [SCRIPT, '--cni', '--cni-conf-dir', join(dir, 'never'), ...args], {
        reject: false,
      });
      expect(r.exitCode, args.join(' ')).toBe(2);
      expect(r.stderr.split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr).toContain(message);
    }
    const noCni = await execa('bash', [SCRIPT, '--vlan', '3'], { reject: false });
    expect(noCni).toMatchObject({ exitCode: 2, stderr: 'install-node.sh: --vlan needs --cni (see --help)' });
    expect(() => statSync(join(dir, 'never'))).toThrow();
  });
});
