// init on CNI nodes: two simulated nodes whose pods come through CNI only. Each node has a
// podvlan.yaml with node keys and `bridges` (uplink nic2, a veth joining the nodes) but no
// `networks`, and a conflist installed by scripts/install-node.sh --cni --conflist into a conf dir
// of its own, naming that podvlan.yaml as its nodeConfig. Pods added through Debian's libcni cross
// the nodes only after `podvlan init --cni-conf-dir DIR`, which reads the network (VLAN 22) from
// the conflist; list, networks and metrics show those pods from the same podvlan.yaml; a second
// conflist's VLAN joins the trunk, and bad conflists are refused in one line, by init and the views.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseResult, runLibcni } from '../support/libcni';
import { type NodeInfo, startNode, wire } from '../support/node';
import { BINARY, runPlugin } from '../support/plugin';

const info = inject('sandbox');
const BR = 'ucni_br';
const NIC = 'nic2';
const base = join(info.dir, 'uplink-cni');
const binDir = join(base, 'opt-cni-bin');
const SCRIPT = resolve(__dirname, '../../scripts/install-node.sh');
const nodes: NodeInfo[] = [];
const netns = [0, 1].map((i) => `ucni-${i}-${randomBytes(3).toString('hex')}`);
const addresses: string[] = [];

const dirOf = (i: number) => join(base, `n${i}`);
const confDir = (i: number) => join(dirOf(i), 'net.d');
const nodeConfig = (i: number) => join(dirOf(i), 'podvlan.yaml');
const conflist = (i: number) => join(confDir(i), '10-ucni.conflist');
const vsctl = (n: NodeInfo, ...args: string[]) => execa('ovs-vsctl', [`--db=${n.ovsdb}`, ...args]);
const ovsState = async (n: NodeInfo) =>
  [
    (await vsctl(n, '-f', 'csv', '--columns=name,ports', 'list', 'Bridge')).stdout,
    (await vsctl(n, '-f', 'csv', '--columns=_uuid,name,trunks,tag,external_ids', 'list', 'Port')).stdout,
  ].join('\n');
const init = (i: number, ...args: string[]) =>
  runPlugin(nodes[i], ['init', '--cni-conf-dir', confDir(i), ...args], { config: nodeConfig(i) });
const ping = (from: number, to: number) =>
  execa('ip', ['netns', 'exec', netns[from], 'ping', '-c', '2', '-W', '1', addresses[to]], { reject: false }).then(
    (r) => r.exitCode === 0,
  );
/** A podvlan plugin entry as install-node.sh writes it, in a conflist of its own name. */
const plugin = (i: number, vlan: number, extra: Record<string, unknown> = {}) => ({
  type: 'podvlan',
  bridge: BR,
  vlan: { id: vlan },
  nodeConfig: nodeConfig(i),
  ...extra,
});
const writeConflist = (file: string, name: string, plugins: object[]) =>
  writeFileSync(file, `${JSON.stringify({ cniVersion: '1.0.0', name, plugins }, null, 2)}\n`);
const libcni = (i: number, verb: 'add' | 'del') =>
  runLibcni(nodes[i], verb, {
    conflist: conflist(i),
    containerId: `ucni-pod-${i}`,
    netns: `/run/netns/${netns[i]}`,
    pluginDirs: [binDir],
    cacheDir: join(dirOf(i), 'libcni-cache'),
  });

describe('init on a CNI node: networks from the conflists, bridges and uplinks from podvlan.yaml', () => {
  beforeAll(async () => {
    nodes.push(...(await Promise.all([startNode(info, 'uc', 21), startNode(info, 'ud', 22)])));
    await wire(nodes[0], nodes[1], NIC);
    for (const i of [0, 1]) {
      mkdirSync(dirOf(i), { recursive: true });
      // Node keys and bridges only: init and the views take the networks from the conf dir.
      writeFileSync(
        nodeConfig(i),
        JSON.stringify({
          ovsdb: nodes[i].ovsdb,
          stateDir: join(dirOf(i), 'state'),
          logFile: join(dirOf(i), 'podvlan.log'),
          nodeName: `ucni-${i}`,
          bridges: [{ name: BR, datapathType: 'netdev', uplinks: [NIC] }],
        }),
      );
      const own = join(dirOf(i), '10-ucni.conflist');
      const pool = {
        type: 'host-local',
        subnet: '10.236.0.0/24',
        rangeStart: `10.236.0.${10 * (i + 1)}`,
        rangeEnd: `10.236.0.${10 * (i + 1) + 9}`,
      };
      writeConflist(own, 'ucni', [plugin(i, 22, { ipam: { type: 'podvlan', pool } })]);
      const r = await execa('bash', [
        SCRIPT,
        '--binary',
        BINARY,
        '--cni',
        '--cni-bin-dir',
        binDir,
        '--cni-conf-dir',
        confDir(i),
        '--conflist',
        own,
      ]);
      expect(r.stdout).toContain(`installed ${conflist(i)} from ${own}`);
      await execa('ip', ['netns', 'add', netns[i]]);
    }
  });
  afterAll(async () => {
    for (const i of [0, 1]) if (nodes[i]) await libcni(i, 'del');
    for (const ns of netns) await execa('ip', ['netns', 'del', ns], { reject: false });
    await Promise.all(nodes.map((n) => n.stop()));
  });

  it('pods added through libcni cross the nodes only after init has read the VLAN from the conflist', async () => {
    for (const i of [0, 1]) {
      const result = parseResult(await libcni(i, 'add'));
      addresses[i] = result.ips![0].address.split('/')[0];
    }
    expect(addresses).toEqual(['10.236.0.10', '10.236.0.20']);
    expect(await ping(0, 1)).toBe(false); // ADD made the bridges; nothing joins them yet
    const dry = await init(0, '--dry-run');
    expect(dry.exitCode, dry.all).toBe(0);
    expect(dry.stdout.split('\n')).toEqual([
      `CNI networks: ucni (${conflist(0)})`,
      `bridges ready: ${BR}`,
      `uplink ${NIC} on ${BR}: would add, trunks 22`,
    ]);
    for (const i of [0, 1]) {
      const r = await init(i);
      expect(r.exitCode, r.all).toBe(0);
      expect(r.stdout).toContain(`uplink ${NIC} on ${BR}: added, trunks 22`);
      expect((await vsctl(nodes[i], 'get', 'Port', NIC, 'trunks')).stdout.trim()).toBe('[22]');
    }
    expect(await ping(0, 1)).toBe(true);
    expect(await ping(1, 0)).toBe(true);
  });

  it("the views take the same podvlan.yaml and the conflists' networks: libcni pods ok, the VLAN's source known", async () => {
    const view = (i: number, ...args: string[]) =>
      runPlugin(nodes[i], [...args, '--cni-conf-dir', confDir(i)], { config: nodeConfig(i) });
    for (const i of [0, 1]) {
      const list = await view(i, 'list', '-o', 'json');
      expect(list.exitCode, list.all).toBe(0);
      expect(list.stderr).toBe('');
      const rows = JSON.parse(list.stdout) as { network: string; tag: number; ip?: string; state: string }[];
      expect(rows.map((r) => [r.network, r.tag, r.ip, r.state])).toEqual([['ucni', 22, `${addresses[i]}/24`, 'ok']]);
      const networks = await view(i, 'networks', '-o', 'json');
      expect(networks.exitCode, networks.all).toBe(0);
      const [net] = JSON.parse(networks.stdout).networks as { name: string; vlanSource: string; declared: string }[];
      expect([net.name, net.vlanSource, net.declared]).toEqual(['ucni', 'id', '22']);
      const metrics = await view(i, 'metrics');
      expect(metrics.exitCode, metrics.all).toBe(0);
      expect(metrics.stdout).toMatch(/^podvlan_node_view_ok(\{[^}]*\})? 1$/m);
      expect(metrics.stdout).toMatch(/^podvlan_attachments\{network="ucni",state="ok"\} 1$/m);
    }
    const table = await view(0, 'networks');
    expect(table.stdout.split('\n')[1]).toMatch(/^ucni\s+ucni_br\s+id 22\s/);
    // gc and ipam too: the pods' leases are listed and nothing of a live pod is collected.
    for (const i of [0, 1]) {
      const leases = await view(i, 'ipam', 'list', '-o', 'json');
      expect(leases.exitCode, leases.all).toBe(0);
      expect(JSON.stringify(JSON.parse(leases.stdout))).toContain(`"${addresses[i]}"`);
      const gc = await view(i, 'gc', '--dry-run');
      expect(gc.exitCode, gc.all).toBe(0);
      expect(gc.stdout.trim()).toBe('nothing to remove');
    }
  });

  it("another conflist's VLAN joins the trunk and leaves with it; the conf dir must exist when given", async () => {
    const second = join(confDir(0), '20-ucni33.conflist');
    writeConflist(second, 'ucni33', [plugin(0, 33), { type: 'tuning' }]);
    const r = await init(0);
    expect(r.exitCode, r.all).toBe(0);
    expect(r.stdout).toContain(`CNI networks: ucni (${conflist(0)}), ucni33 (${second})`);
    expect(r.stdout).toContain(`uplink ${NIC} on ${BR}: changed trunks +33`);
    rmSync(second);
    expect((await init(0)).stdout).toContain(`uplink ${NIC} on ${BR}: changed trunks -33`);
    expect(await ping(0, 1)).toBe(true);
    const missing = await runPlugin(nodes[0], ['init', '--cni-conf-dir', join(base, 'nope')], {
      config: nodeConfig(0),
    });
    expect(missing.exitCode).toBe(4);
    expect(missing.all.trim()).toMatch(/^podvlan: cannot read CNI conf dir .*nope: .*ENOENT/);
    // Without networks anywhere: refused, and the uplink stays as it is.
    const empty = join(base, 'empty');
    mkdirSync(empty, { recursive: true });
    const none = await runPlugin(nodes[0], ['init', '--cni-conf-dir', empty], { config: nodeConfig(0) });
    expect(none.exitCode).toBe(3);
    expect(none.all.trim()).toBe(
      `podvlan: no networks: the podvlan config has none and CNI conf dir ${empty} has no podvlan network: ` +
        'add networks to the config, or give the CNI conf dir (--cni-conf-dir)',
    );
    expect((await vsctl(nodes[0], 'get', 'Port', NIC, 'trunks')).stdout.trim()).toBe('[22]');
  });

  it("takes only what is podvlan's: other plugins, other files, other OVSDBs are left out; bad ones refused", async () => {
    const n = nodes[0];
    const file = (name: string) => join(confDir(0), name);
    // Not podvlan's: ignored without a word (another plugin, a file that is not JSON and does not name podvlan).
    writeConflist(file('30-other.conflist'), 'other', [{ type: 'bridge', bridge: 'cni0' }]);
    writeFileSync(file('31-junk.conf'), 'this is not JSON\n');
    // podvlan's, but on another OVSDB: left out, and said so.
    writeConflist(file('32-far.conflist'), 'far', [plugin(0, 40, { ovsdb: 'unix:/nowhere/db.sock' })]);
    const ok = await init(0);
    expect(ok.exitCode, ok.all).toBe(0);
    expect(ok.stdout).toContain(`CNI networks: ucni (${conflist(0)})\n`);
    expect(ok.stdout).toContain(
      `CNI network far (${file('32-far.conflist')}) is on OVSDB unix:/nowhere/db.sock, not ${n.ovsdb}: left out`,
    );
    expect(ok.stdout).toContain(`uplink ${NIC} on ${BR}: unchanged, trunks 22`);
    // The views take the same networks: the one left out is said on stderr, stdout stays the view.
    const list = (cmd = 'list') => runPlugin(n, [cmd, '--cni-conf-dir', confDir(0)], { config: nodeConfig(0) });
    const listed = await list();
    expect(listed.exitCode, listed.all).toBe(0);
    expect(listed.stderr).toContain(`CNI network far (${file('32-far.conflist')}) is on OVSDB`);
    expect(listed.stdout).toMatch(/\bucni\b.*\bok$/m);
    const emptyNode = join(dirOf(0), 'empty.yaml');
    writeFileSync(emptyNode, `ovsdb: ${n.ovsdb}\n`);
    const cases: [string, string, RegExp][] = [
      [
        '40-bad.conflist',
        JSON.stringify({ cniVersion: '1.0.0', name: 'bad', plugins: [plugin(0, 5000)] }),
        /40-bad\.conflist: network config: vlan.*4094/,
      ],
      [
        '41-broken.conflist',
        '{"plugins": [{"type": "podvlan",',
        /41-broken\.conflist is not JSON .*: fix it, or move it out of/,
      ],
      [
        '42-dup.conf',
        JSON.stringify({ cniVersion: '1.0.0', ...plugin(0, 23), name: 'ucni' }),
        /network ucni is in .*42-dup\.conf and in .*10-ucni\.conflist: network names must be unique/,
      ],
      [
        '43-sys.conflist',
        JSON.stringify({ cniVersion: '1.0.0', name: 'sys', plugins: [plugin(0, 24, { nodeConfig: emptyNode })] }),
        /CNI network sys \(.*43-sys\.conflist\) gives bridge ucni_br datapathType system, the podvlan config netdev/,
      ],
      [
        '44-mtu.conflist',
        JSON.stringify({
          cniVersion: '1.0.0',
          name: 'big',
          plugins: [plugin(0, 25, { nodeConfig: emptyNode, datapathType: 'netdev', mtu: 9000 })],
        }),
        /44-mtu\.conflist: network big: network big's mtu 9000 does not fit bridge ucni_br's uplink mtu 1500/,
      ],
    ];
    for (const [name, text, message] of cases) {
      writeFileSync(file(name), text);
      if (name === '44-mtu.conflist')
        writeFileSync(
          nodeConfig(0),
          readFileSync(nodeConfig(0), 'utf8').replace(`"uplinks":["${NIC}"]`, `"uplinks":["${NIC}"],"mtu":1500`),
        );
      const before = await ovsState(n);
      const r = await init(0);
      expect(r.exitCode, name).toBe(3);
      expect(r.all.trim().split('\n'), name).toHaveLength(1);
      expect(r.all, name).toMatch(message);
      expect(await ovsState(n), name).toBe(before);
      // A conflist that cannot be taken fails the views as it fails init: one line naming the file.
      for (const cmd of ['list', 'metrics']) {
        const v = await list(cmd);
        expect(v.exitCode, `${cmd} ${name}`).toBe(3);
        expect(v.all.trim().split('\n'), `${cmd} ${name}`).toEqual([expect.stringMatching(message)]);
      }
      rmSync(file(name));
    }
    for (const name of ['30-other.conflist', '31-junk.conf', '32-far.conflist']) rmSync(file(name));
    expect(await ping(0, 1)).toBe(true);
  });
});
