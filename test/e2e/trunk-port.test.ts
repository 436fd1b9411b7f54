// Pod trunk ports: two simulated nodes joined by a veth that `podvlan init` makes each node's uplink.
// Node A has a trunk network (VLANs 100-110) and an access network on VLAN 120; node B access
// networks on VLANs 101 and 120. A pod on A gets a trunk port and tags its own frames: its VLAN
// 101 reaches the pod on VLAN 101 on B; its VLAN 120, which both uplinks carry, does not get past
// its own trunk port (an access pod on A reaches B's VLAN 120, so nothing else stops it). Through
// exec setup/teardown and CNI ADD/CHECK/DEL; bad input refused in one line with nothing changed.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { addNetns, cni, cniGc, delNetns, netnsPing } from '../support/cni';
import { hostVethName } from '../../src/names';
import { type NodeInfo, startNode, wire } from '../support/node';
import { hostVeths, runPlugin, teardownAll, writeConfig } from '../support/plugin';
import { canPing, docker, startContainer, startOvs } from '../support/sandbox';

const info = inject('sandbox');
const BR = 'trk_br';
const NIC = 'tnic'; // the veth end in each node that its config names as the uplink
const dir = join(info.dir, 'trunk-port');
const nsTag = dir
  .slice(-6)
  .toLowerCase()
  .replace(/[^a-z0-9]/g, 'x');
const nodes: NodeInfo[] = [];
const configs: string[] = [];
const named: string[] = []; // netns names this file made (CNI netns, names attached to pods)
const podSwitches: (() => Promise<void>)[] = [];

const vsctl = (n: NodeInfo, ...args: string[]) => execa('ovs-vsctl', [`--db=${n.ovsdb}`, ...args]);
const col = async (n: NodeInfo, port: string, column: string) =>
  (await vsctl(n, 'get', 'Port', port, column)).stdout.trim();
/** What a refused call must leave as it was: bridges, ports and their VLAN columns and marks, interfaces. */
const ovsState = async (n: NodeInfo) =>
  [
    (await vsctl(n, '-f', 'csv', '--columns=name,ports', 'list', 'Bridge')).stdout,
    (await vsctl(n, '-f', 'csv', '--columns=_uuid,name,trunks,tag,vlan_mode,external_ids', 'list', 'Port')).stdout,
    (await vsctl(n, '-f', 'csv', '--columns=name', 'list', 'Interface')).stdout,
  ]
    .map((t) => t.split('\n').sort().join('\n'))
    .join('\n');

const access = (name: string, vlan: number, address: string) => ({
  name,
  bridge: BR,
  match: { namespace: `^${name}$` },
  vlan: { id: vlan },
  ipam: { type: 'static', address },
});
const trunkNet = { name: 'trunk', bridge: BR, match: { namespace: '^trunk$' }, vlan: { trunk: '100-110' } };
const networksA = [trunkNet, access('v120', 120, '10.251.120.1/24')];
const networksB = [access('v101', 101, '10.251.101.2/24'), access('v120', 120, '10.251.120.2/24')];
const write = (i: number, nets: Record<string, unknown>[], extra: Record<string, unknown> = {}) =>
  writeConfig(nodes[i], join(dir, `n${i}`), nets, {
    nodeName: `trk-${i}`,
    bridges: [{ name: BR, datapathType: 'netdev', uplinks: [NIC] }],
    ...extra,
  });
const run = (i: number, ...args: string[]) => runPlugin(nodes[i], args, { config: configs[i] });

/**
 * The pod's own VLAN subinterfaces on its trunk interface. This kernel has no 802.1Q support
 * (CONFIG_VLAN_8021Q off: `ip link add link eth1 name eth1.101 type vlan id 101` fails), so the pod
 * tags its frames as a VNF pod with a switch of its own does: a userspace OVS in the pod's network
 * namespace, the trunk interface one of its ports, and per VLAN an internal port (a tap device)
 * with that tag, carrying the address. Returns how to stop it.
 */
async function podVlanInterfaces(
  netns: string,
  ifname: string,
  subs: { name: string; vlan: number; address: string }[],
): Promise<() => Promise<void>> {
  const home = join(dir, `pod-ovs-${netns.slice(-12)}`);
  mkdirSync(home, { recursive: true });
  await startOvs(home, netns);
  const stop = async () => {
    for (const f of ['vswitchd.pid', 'ovsdb.pid'])
      await execa('sh', ['-c', `kill $(cat ${join(home, f)}) 2>/dev/null; true`], { reject: false });
  };
  podSwitches.push(stop);
  const db = `--db=unix:${home}/db.sock`;
  const ports = subs.flatMap((s) => [
    '--',
    'add-port',
    'pbr',
    s.name,
    `tag=${s.vlan}`,
    '--',
    'set',
    'Interface',
    s.name,
    'type=internal',
  ]);
  await execa('ovs-vsctl', [db, 'add-br', 'pbr', '--', 'set', 'Bridge', 'pbr', 'datapath_type=netdev']);
  await execa('ovs-vsctl', [db, 'add-port', 'pbr', ifname, ...ports]);
  for (const s of subs) {
    await execa('ip', ['-n', netns, 'addr', 'add', s.address, 'dev', s.name]);
    await execa('ip', ['-n', netns, 'link', 'set', s.name, 'up']);
  }
  return stop;
}

/** A name for a Docker pod's network namespace, for `ip -n` and `ip netns exec`. */
async function nameNetns(container: string, name: string): Promise<string> {
  const pid = (await docker(info, ['inspect', '-f', '{{.State.Pid}}', container])).stdout.trim();
  await execa('ip', ['netns', 'attach', name, pid]);
  named.push(name);
  return name;
}

describe('pod trunk ports', () => {
  const pods: Record<string, string> = {};
  beforeAll(async () => {
    mkdirSync(dir, { recursive: true });
    nodes.push(...(await Promise.all([startNode(info, 'ta', 31), startNode(info, 'tb', 32)])));
    await wire(nodes[0], nodes[1], NIC);
    configs[0] = write(0, networksA);
    configs[1] = write(1, networksB);
    for (const i of [0, 1]) {
      const r = await run(i, 'init');
      expect(r.exitCode, r.all).toBe(0);
    }
    // The uplinks carry the trunk's VLANs with the others (exactly these: init's part of the feature).
    expect(await col(nodes[0], NIC, 'trunks')).toBe('[100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 120]');
    expect(await col(nodes[1], NIC, 'trunks')).toBe('[101, 120]');
    for (const [i, ns] of [
      [1, 'v101'],
      [1, 'v120'],
      [0, 'v120'],
    ] as const) {
      pods[`${ns}${i}`] = await startContainer(info);
      const r = await run(i, 'setup', ns, `p${i}`, pods[`${ns}${i}`]);
      expect(r.exitCode, r.all).toBe(0);
    }
  });
  afterAll(async () => {
    for (const stop of podSwitches) await stop();
    for (const n of named) await delNetns(n);
    for (const i of [0, 1])
      if (nodes[i]) await teardownAll(nodes[i], i === 0 ? write(0, networksA) : write(1, networksB), [BR]);
    await Promise.all(nodes.map((n) => n.stop()));
  });

  it('exec setup makes a trunk port (trunks, vlan_mode trunk, no tag) whose VLAN 101 crosses and 120 does not', async () => {
    pods.trunk = await startContainer(info);
    const r = await run(0, 'setup', 'trunk', 'router-0', pods.trunk);
    expect(r.exitCode, r.all).toBe(0);
    expect(r.stdout).toMatch(/^trunk\/router-0: eth1 \(no address\) trunk 100-110 on trk_br port pv\w+$/);
    const port = /port (pv\w+)/.exec(r.stdout)![1];
    expect(await col(nodes[0], port, 'trunks')).toBe('[100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110]');
    expect(await col(nodes[0], port, 'vlan_mode')).toBe('trunk');
    expect(await col(nodes[0], port, 'tag')).toBe('[]');
    expect(await col(nodes[0], port, 'external_ids:"podvlan/trunks"')).toBe('"100-110"');

    // list: the TAG column says trunk, the JSON carries the VLANs.
    const table = await run(0, 'list');
    expect(table.stdout.split('\n').find((l) => l.includes(port))).toMatch(/\btrunk 100-110\s+eth1\s+-\s+ok$/);
    const rows = JSON.parse((await run(0, 'list', '-o', 'json')).stdout) as { port: string; trunks?: string }[];
    expect(rows.find((x) => x.port === port)).toMatchObject({ trunks: '100-110', tag: 0 });

    // The pod tags its own frames: VLAN 101 reaches B's access pod on 101; VLAN 120 is not trunked.
    const ns = await nameNetns(pods.trunk, `trk-${nsTag}-a`);
    await podVlanInterfaces(ns, 'eth1', [
      { name: 'v101', vlan: 101, address: '10.251.101.1/24' },
      { name: 'v120', vlan: 120, address: '10.251.120.3/24' },
    ]);
    expect(await canPing(info, pods.trunk, '10.251.101.2')).toBe(true);
    expect(await canPing(info, pods.v1200, '10.251.120.2')).toBe(true); // 120 crosses the nodes...
    expect(await canPing(info, pods.trunk, '10.251.120.2')).toBe(false); // ...but not this trunk port

    // Idempotent: the same setup again leaves the very port row.
    const uuid = await col(nodes[0], port, '_uuid');
    const again = await run(0, 'setup', 'trunk', 'router-0', pods.trunk);
    expect(again.exitCode, again.all).toBe(0);
    expect(again.stdout).toContain('trunk 100-110 on trk_br');
    expect(again.stdout).toContain('(unchanged)');
    expect(await col(nodes[0], port, '_uuid')).toBe(uuid);

    // With VLAN 120 added to the port's trunks by hand, the same ping passes: only the port stopped it.
    await vsctl(nodes[0], 'set', 'Port', port, 'trunks=100-110,120');
    expect(await canPing(info, pods.trunk, '10.251.120.2')).toBe(true);
    // A trunk changed by hand is not "in place": setup makes the port again, as configured.
    const fixed = await run(0, 'setup', 'trunk', 'router-0', pods.trunk);
    expect(fixed.exitCode, fixed.all).toBe(0);
    expect(fixed.stdout).not.toContain('(unchanged)');
    expect(await col(nodes[0], port, 'trunks')).toBe('[100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110]');

    const down = await run(0, 'teardown', 'trunk', 'router-0', pods.trunk);
    expect(down.exitCode, down.all).toBe(0);
    expect((await vsctl(nodes[0], 'list-ports', BR)).stdout.split('\n')).not.toContain(port);
    expect(await hostVeths(nodes[0])).not.toContain(port);

    // gc: the trunk port of a pod whose container is gone goes like any other.
    const gone = await startContainer(info);
    expect((await run(0, 'setup', 'trunk', 'router-1', gone)).exitCode).toBe(0);
    const gonePort = hostVethName('trunk', 'router-1', 'trunk');
    await docker(info, ['rm', '-f', gone]);
    const gc = await run(0, 'gc');
    expect(gc.exitCode, gc.all).toBe(0);
    expect(gc.stdout).toMatch(new RegExp(`remove-port.*${gonePort}`));
    expect((await vsctl(nodes[0], 'list-ports', BR)).stdout.split('\n')).not.toContain(gonePort);
    expect(await hostVeths(nodes[0])).not.toContain(gonePort);
  });

  it('CNI ADD makes the trunk port, CHECK compares its trunks, DEL leaves nothing', async () => {
    const nsName = `trk-${nsTag}-cni`;
    const path = await addNetns(nsName);
    named.push(nsName);
    const conf = {
      cniVersion: '1.0.0',
      name: 'trunk',
      type: 'podvlan',
      bridge: BR,
      datapathType: 'netdev',
      vlan: { trunk: '100-110' },
      ovsdb: nodes[0].ovsdb,
      stateDir: join(dir, 'cni-state'),
      logFile: join(dir, 'cni.log'),
      nodeConfig: '/dev/null',
    };
    const call = {
      containerId: 'trunk-cni-1',
      netns: path,
      ifname: 'net1',
      args: 'K8S_POD_NAMESPACE=vnf;K8S_POD_NAME=r1',
    };
    const added = await cni(nodes[0], 'ADD', conf, call);
    expect(added.exitCode, added.stdout).toBe(0);
    const result = added.json as { interfaces: { name: string; sandbox?: string }[]; ips: unknown[] };
    expect(result.ips).toEqual([]);
    const port = result.interfaces[0].name;
    expect(await col(nodes[0], port, 'trunks')).toBe('[100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110]');
    expect(await col(nodes[0], port, 'vlan_mode')).toBe('trunk');
    expect(await col(nodes[0], port, 'tag')).toBe('[]');
    const again = await cni(nodes[0], 'ADD', conf, call);
    expect(again.json).toEqual(added.json);

    await podVlanInterfaces(nsName, 'net1', [{ name: 'v101', vlan: 101, address: '10.251.101.7/24' }]);
    expect(await netnsPing(nsName, '10.251.101.2')).toBe(true);

    const checked = { ...conf, prevResult: added.json };
    const ok = await cni(nodes[0], 'CHECK', checked, call);
    expect(ok.exitCode, ok.stdout).toBe(0);
    await vsctl(nodes[0], 'set', 'Port', port, 'trunks=100-105');
    const bad = await cni(nodes[0], 'CHECK', checked, call);
    expect(bad.exitCode).not.toBe(0);
    expect(bad.json?.msg).toBe(`CHECK: port ${port} of net1 trunks VLANs 100-105, the config says 100-110`);

    const del = await cni(nodes[0], 'DEL', conf, call);
    expect(del.exitCode, del.stdout).toBe(0);
    expect((await vsctl(nodes[0], 'list-ports', BR)).stdout.split('\n')).not.toContain(port);
    expect(await hostVeths(nodes[0])).not.toContain(port);
    expect((await execa('ip', ['-n', nsName, '-o', 'link', 'show', 'net1'], { reject: false })).exitCode).not.toBe(0);

    // CNI GC: a trunk attachment the runtime no longer lists is removed.
    const stale = await cni(nodes[0], 'ADD', conf, { ...call, containerId: 'trunk-cni-2' });
    expect(stale.exitCode, stale.stdout).toBe(0);
    const stalePort = (stale.json as { interfaces: { name: string }[] }).interfaces[0].name;
    const gc = await cniGc(nodes[0], { ...conf, cniVersion: '1.1.0' }, []);
    expect(gc.exitCode, gc.stdout).toBe(0);
    expect((await vsctl(nodes[0], 'list-ports', BR)).stdout.split('\n')).not.toContain(stalePort);
    expect(await hostVeths(nodes[0])).not.toContain(stalePort);
  });

  it('refuses a trunk overlapping another network, a malformed trunk and ipam on a trunk: one line, nothing changed', async () => {
    const n = nodes[0];
    const pod = await startContainer(info);
    const etcd = { etcd: { endpoints: ['http://127.0.0.1:1'] } }; // validated only: nothing is called
    const cases: [string, Record<string, unknown>[], Record<string, unknown>, RegExp][] = [
      [
        'over an id',
        [...networksA, access('v105', 105, '10.251.105.1/24')],
        {},
        /networks\.2\.vlan: network v105's VLAN 105 overlaps network trunk's VLAN trunk 100-110 on bridge trk_br/,
      ],
      [
        'over a range',
        [...networksA, { name: 'gw', bridge: BR, vlan: { fromPodName: '^gw-(\\d+)-', range: '108-115' } }],
        {},
        /network gw's VLAN range 108-115 overlaps network trunk's VLAN trunk 100-110/,
      ],
      [
        'over a pool',
        [...networksA, { name: 'pooled', bridge: BR, vlan: { pool: '90-100' } }],
        etcd,
        /network pooled's VLAN pool 90-100 overlaps network trunk's VLAN trunk 100-110/,
      ],
      [
        'over another trunk',
        [...networksA, { name: 'trunk2', bridge: BR, vlan: { trunk: '110,200' } }],
        {},
        /network trunk2's VLAN trunk 110,200 overlaps network trunk's VLAN trunk 100-110/,
      ],
      [
        'malformed',
        [{ ...trunkNet, vlan: { trunk: '100-110,10x' } }, networksA[1]],
        {},
        /networks\.0\.vlan\.trunk: VLAN trunk "100-110,10x" is not a list of VLANs and ranges like "100-110,200"/,
      ],
      [
        'overlapping inside',
        [{ ...trunkNet, vlan: { trunk: '100-110,105' } }, networksA[1]],
        {},
        /networks\.0\.vlan\.trunk: VLAN trunk "100-110,105": 105 overlaps 100-110/,
      ],
      [
        'ipam',
        [{ ...trunkNet, ipam: { type: 'static', address: '10.251.100.1/24' } }, networksA[1]],
        {},
        /networks\.0\.ipam: network trunk is a VLAN trunk: its interface carries only tagged frames/,
      ],
    ];
    for (const [what, nets, extra, message] of cases) {
      const before = await ovsState(n);
      const veths = await hostVeths(n);
      configs[0] = write(0, nets, extra);
      for (const args of [['init'], ['setup', 'trunk', 'router-9', pod]]) {
        const r = await run(0, ...args);
        expect(r.exitCode, `${what}: ${args[0]}`).not.toBe(0);
        expect(r.all, `${what}: ${args[0]}`).toMatch(message);
        expect(r.all.trim().split('\n'), `${what}: ${args[0]}`).toHaveLength(1);
      }
      expect(await ovsState(n), what).toBe(before);
      expect(await hostVeths(n), what).toEqual(veths);
    }
    configs[0] = write(0, networksA);

    // CNI: the same checks through the network config: the spec's error object, code 7.
    const nsName = `trk-${nsTag}-bad`;
    const path = await addNetns(nsName);
    named.push(nsName);
    const conf = {
      cniVersion: '1.0.0',
      name: 'trunk',
      type: 'podvlan',
      bridge: BR,
      datapathType: 'netdev',
      ovsdb: n.ovsdb,
      stateDir: join(dir, 'cni-state'),
      logFile: join(dir, 'cni.log'),
      nodeConfig: '/dev/null',
    };
    const call = { containerId: 'trunk-bad-1', netns: path, ifname: 'net1' };
    const cniCases: [Record<string, unknown>, string][] = [
      [{ vlan: { trunk: '4000-4095' } }, 'network config: vlan.trunk: VLAN trunk "4000-4095": 4095 is outside 1-4094'],
      [
        { vlan: { trunk: '100-110' }, ipam: { type: 'host-local', subnet: '10.251.100.0/24' } },
        'network config: ipam: network trunk is a VLAN trunk, whose interface carries only tagged frames: ' +
          'drop ipam (host-local) and address the VLAN subinterfaces the pod makes',
      ],
    ];
    for (const [extra, msg] of cniCases) {
      const before = await ovsState(n);
      const r = await cni(n, 'ADD', { ...conf, ...extra }, call);
      expect(r.exitCode).not.toBe(0);
      expect(r.json).toMatchObject({ code: 7, msg });
      expect(await ovsState(n)).toBe(before);
    }
  });

  it('teardown of every pod leaves no port and no veth of podvlan on either node', async () => {
    for (const i of [0, 1]) {
      await teardownAll(nodes[i], configs[i], [BR]);
      expect((await vsctl(nodes[i], 'list-ports', BR)).stdout.trim()).toBe(NIC);
      expect(await hostVeths(nodes[i])).toEqual([]);
    }
  });
});
