// init makes uplinks: two simulated nodes joined by a veth pair whose ends are each node's uplink
// (the test makes the veth, never the OVS port: init does). Pods on VLAN 22 (and on a pooled VLAN)
// reach each other across the nodes only once init has made the trunks; a VLAN dropped from the
// config stops crossing; bad uplinks are refused in one line with OVSDB left as it was; the bridge
// mtu reaches OVS and the kernel; an uplink dropped from the config is removed (moved, when listed
// under another bridge), and all of it is undone when ovs-vswitchd does not apply it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type EtcdServer, startEtcd } from '../integration/etcd-server';
import { type NodeInfo, SERVICE_ADDRESS, startNodes, wire } from '../support/node';
import { runPlugin, teardownAll, writeConfig } from '../support/plugin';
import { canPing, startContainer } from '../support/sandbox';

const info = inject('sandbox');
const BR = 'upl_br';
const NIC = 'nic2'; // the veth end in each node that the config names as the uplink
let etcd: EtcdServer;
const nodes: NodeInfo[] = [];
const configs: string[] = [];

const vsctl = (n: NodeInfo, ...args: string[]) => execa('ovs-vsctl', [`--db=${n.ovsdb}`, ...args]);
const trunksOf = async (n: NodeInfo) => (await vsctl(n, 'get', 'Port', NIC, 'trunks')).stdout.trim();
/** What init may change, as text: bridges and their ports, ports' VLAN columns and marks, interfaces' MTU. */
const ovsState = async (n: NodeInfo) =>
  [
    (await vsctl(n, '-f', 'csv', '--columns=name,ports', 'list', 'Bridge')).stdout,
    (await vsctl(n, '-f', 'csv', '--columns=_uuid,name,trunks,tag,vlan_mode,external_ids', 'list', 'Port')).stdout,
    (await vsctl(n, '-f', 'csv', '--columns=name,mtu_request', 'list', 'Interface')).stdout,
  ]
    .map((t) => t.split('\n').sort().join('\n'))
    .join('\n');

const networks = (i: number, opts: { v22?: boolean; extra?: Record<string, unknown>[] } = {}) => [
  ...(opts.v22 === false
    ? []
    : [
        {
          name: 'v22',
          bridge: BR,
          match: { namespace: '^v22$' },
          vlan: { id: 22 },
          ipam: { type: 'static', address: `10.250.22.${i + 1}/24` },
        },
      ]),
  {
    name: 'pooled',
    bridge: BR,
    match: { namespace: '^pool$' },
    vlan: { pool: '300-303', per: 'namespace' },
    ipam: { type: 'static', address: `10.250.30.${i + 1}/24` },
  },
  ...(opts.extra ?? []),
];
const writeBridges = (i: number, nets: Record<string, unknown>[], bridges: Record<string, unknown>[], extra = {}) =>
  writeConfig(nodes[i], join(info.dir, 'uplink', `n${i}`), nets, {
    nodeName: `upl-${i}`,
    etcd: { endpoints: [etcd.url], prefix: '/podvlan-uplink', timeoutMs: 2000 },
    bridges,
    ...extra,
  });
const write = (i: number, nets: Record<string, unknown>[], bridge: Record<string, unknown> = {}) =>
  writeBridges(i, nets, [{ name: BR, datapathType: 'netdev', uplinks: [NIC], ...bridge }]);
/** OVS rows as columns only (no uuids): what an undo must put back as it was. */
const rowsState = async (n: NodeInfo) =>
  [
    ...(await Promise.all(
      (
        await vsctl(n, 'list-br')
      ).stdout
        .split('\n')
        .filter(Boolean)
        .map(async (b) => `${b}: ${(await vsctl(n, 'list-ports', b)).stdout.split('\n').join(' ')}`),
    )),
    (await vsctl(n, '-f', 'csv', '--columns=name,trunks,tag,vlan_mode,external_ids,other_config', 'list', 'Port'))
      .stdout,
    (
      await vsctl(
        n,
        '-f',
        'csv',
        '--columns=name,type,options,mtu_request,external_ids,other_config',
        'list',
        'Interface',
      )
    ).stdout,
  ]
    .join('\n')
    .split('\n')
    .sort()
    .join('\n');
const veth = async (n: NodeInfo, name: string) => {
  await execa('ip', ['-n', n.netns, 'link', 'add', name, 'type', 'veth', 'peer', 'name', `${name}p`]);
  await execa('ip', ['-n', n.netns, 'link', 'set', name, 'up']);
};
const run = (i: number, ...args: string[]) => runPlugin(nodes[i], args, { config: configs[i] });

describe('init makes uplinks trunk ports', () => {
  const pods: Record<string, string> = {};
  beforeAll(async () => {
    const [started, list] = await Promise.all([
      startEtcd({ netns: info.netns, host: SERVICE_ADDRESS }),
      startNodes(info, ['ua', 'ub']),
    ]);
    etcd = started;
    nodes.push(...list);
    await wire(nodes[0], nodes[1], NIC);
    for (const i of [0, 1]) configs[i] = write(i, networks(i));
  });
  afterAll(async () => {
    for (const i of [0, 1]) if (nodes[i]) await teardownAll(nodes[i], write(i, networks(i)), [BR]);
    await Promise.all(nodes.map((n) => n.stop()));
    await etcd?.destroy();
  });

  it('pods on VLAN 22 and on a pooled VLAN cross the nodes only after init', async () => {
    // Before the uplinks exist: bridges only (a config without uplinks), pods attached, no crossing.
    for (const i of [0, 1]) {
      const bare = writeConfig(nodes[i], join(info.dir, 'uplink', `bare${i}`), networks(i), {
        nodeName: `upl-${i}`,
        etcd: { endpoints: [etcd.url], prefix: '/podvlan-uplink', timeoutMs: 2000 },
        bridges: [{ name: BR, datapathType: 'netdev' }],
      });
      expect((await runPlugin(nodes[i], ['init'], { config: bare })).exitCode).toBe(0);
      for (const ns of ['v22', 'pool']) {
        pods[`${ns}${i}`] = await startContainer(info);
        const r = await run(i, 'setup', ns, `p${i}`, pods[`${ns}${i}`]);
        expect(r.exitCode, r.all).toBe(0);
      }
    }
    expect(await canPing(info, pods.v220, '10.250.22.2')).toBe(false);
    const dry = await run(0, 'init', '--dry-run');
    expect(dry.exitCode, dry.all).toBe(0);
    expect(dry.stdout).toContain(`uplink ${NIC} on ${BR}: would add, trunks 22,300-303`);
    expect((await vsctl(nodes[0], 'list-ports', BR)).stdout).not.toContain(NIC);
    for (const i of [0, 1]) {
      const r = await run(i, 'init');
      expect(r.exitCode, r.all).toBe(0);
      expect(r.stdout).toContain(`uplink ${NIC} on ${BR}: added, trunks 22,300-303`);
      expect(await trunksOf(nodes[i])).toBe('[22, 300, 301, 302, 303]');
      expect((await vsctl(nodes[i], 'get', 'Port', NIC, 'external_ids:"podvlan/uplink"')).stdout).toBe('"true"');
    }
    expect(await canPing(info, pods.v220, '10.250.22.2')).toBe(true);
    expect(await canPing(info, pods.pool0, '10.250.30.2')).toBe(true);
    const again = await run(0, 'init');
    expect(again.stdout).toContain(`uplink ${NIC} on ${BR}: unchanged`);
  });

  it('a VLAN dropped from the config stops crossing; a VLAN added crosses; only trunks change', async () => {
    const before = await ovsState(nodes[0]);
    configs[0] = write(0, networks(0, { v22: false, extra: [{ name: 'v44', bridge: BR, vlan: { id: 44 } }] }));
    const r = await run(0, 'init');
    expect(r.exitCode, r.all).toBe(0);
    // Pod p0 of node 0 is still on VLAN 22: init does what the config says, and says whom it cuts off.
    expect(r.stdout).toContain(
      `uplink ${NIC} on ${BR}: changed trunks +44 -22; warning: VLAN 22 still used by 1 pod(s) on this node (v22/p0)`,
    );
    expect(await trunksOf(nodes[0])).toBe('[44, 300, 301, 302, 303]');
    // Everything but the trunks of the one port is as it was (port uuid, marks, other ports).
    const after = await ovsState(nodes[0]);
    expect(after.replace(/"?\[44, 300, 301, 302, 303\]"?|"?\[22, 300, 301, 302, 303\]"?/g, 'T')).toBe(
      before.replace(/"?\[44, 300, 301, 302, 303\]"?|"?\[22, 300, 301, 302, 303\]"?/g, 'T'),
    );
    expect(await canPing(info, pods.v220, '10.250.22.2')).toBe(false);
    expect(await canPing(info, pods.pool0, '10.250.30.2')).toBe(true);
    configs[0] = write(0, networks(0));
    expect((await run(0, 'init')).exitCode).toBe(0);
    expect(await canPing(info, pods.v220, '10.250.22.2')).toBe(true);
  });

  it('refuses bad uplinks in one line, non-zero, changing nothing (all are checked before any change)', async () => {
    const n = nodes[0];
    await execa('ip', ['-n', n.netns, 'link', 'add', 'nic3', 'type', 'veth', 'peer', 'name', 'nic3p']);
    await vsctl(n, 'add-br', 'other_br', '--', 'set', 'Bridge', 'other_br', 'datapath_type=netdev');
    await vsctl(n, 'add-port', 'other_br', 'nic3');
    await execa('ip', ['-n', n.netns, 'link', 'add', 'nic4', 'type', 'veth', 'peer', 'name', 'nic4p']);
    await vsctl(n, 'add-port', BR, 'nic4');
    await execa('ip', ['-n', n.netns, 'link', 'add', 'nic5', 'type', 'veth', 'peer', 'name', 'nic5p']);
    await execa('ip', ['-n', n.netns, 'link', 'set', 'nic5', 'up']);
    await execa('ip', ['-n', n.netns, 'route', 'add', 'default', 'dev', 'nic5']);
    // The node's address on a link that is down, and on one without carrier (its peer down): a NIC
    // whose cable is out still holds the address, and would cut the node off once it is back.
    for (const [nic, up] of [
      ['nic81', false],
      ['nic82', true],
    ] as const) {
      await execa('ip', ['-n', n.netns, 'link', 'add', nic, 'type', 'veth', 'peer', 'name', `${nic}p`]);
      await execa('ip', ['-n', n.netns, 'addr', 'add', `10.254.${nic.slice(3)}.2/24`, 'dev', nic]);
      if (up) await execa('ip', ['-n', n.netns, 'link', 'set', nic, 'up']);
    }
    const withV44 = networks(0, { extra: [{ name: 'v44', bridge: BR, vlan: { id: 44 } }] });
    const cases: [string, Record<string, unknown>[], Record<string, unknown>, RegExp][] = [
      [
        'missing',
        withV44,
        { uplinks: [NIC, 'nope0'] },
        /uplink nope0 of bridge upl_br: no interface nope0 on this node/,
      ],
      ['other bridge', withV44, { uplinks: [NIC, 'nic3'] }, /nic3 is already a port of OVS bridge other_br/],
      ['not ours', withV44, { uplinks: [NIC, 'nic4'] }, /OVS port nic4 exists and podvlan did not make it/],
      ['node address', withV44, { uplinks: [NIC, 'uplink'] }, /uplink carries this node's address 10\.254\.1\.2/],
      ['address, link down', withV44, { uplinks: [NIC, 'nic81'] }, /nic81 carries this node's address 10\.254\.81\.2/],
      ['address, no carrier', withV44, { uplinks: [NIC, 'nic82'] }, /nic82 carries this node's address 10\.254\.82\.2/],
      ['default route', withV44, { uplinks: [NIC, 'nic5'] }, /the node's default route goes out of nic5/],
      ['mtu', withV44, { mtu: 1400 }, /network v22's mtu 1500 does not fit bridge upl_br's uplink mtu 1400/],
      [
        'range-less',
        [...withV44, { name: 'pn', bridge: BR, vlan: { fromPodName: '^v(\\d+)-' } }],
        {},
        /network pn reads its VLAN from pods without a range: declare vlan.range/,
      ],
    ];
    for (const [what, nets, bridge, message] of cases) {
      const before = await ovsState(n);
      configs[0] = write(0, nets, bridge);
      const r = await run(0, 'init');
      expect(r.exitCode, what).not.toBe(0);
      expect(r.all, what).toMatch(message);
      expect(r.all.trim().split('\n'), what).toHaveLength(1);
      expect(await ovsState(n), what).toBe(before);
      expect(await trunksOf(n), what).toBe('[22, 300, 301, 302, 303]');
    }
    await execa('ip', ['-n', n.netns, 'route', 'del', 'default', 'dev', 'nic5']);
    configs[0] = write(0, networks(0));
  });

  it('the bridge mtu: init sets it on the uplink, in OVS and the kernel; another mtu changes only that', async () => {
    const n = nodes[0];
    const kernelMtu = async () =>
      (JSON.parse((await execa('ip', ['-n', n.netns, '-j', 'link', 'show', NIC])).stdout) as { mtu: number }[])[0].mtu;
    const mtuRequest = async () => (await vsctl(n, 'get', 'Interface', NIC, 'mtu_request')).stdout.trim();
    const masked = async () => (await ovsState(n)).replace(new RegExp(`^${NIC},.*$`, 'm'), `${NIC},M`);
    expect([await mtuRequest(), await kernelMtu()]).toEqual(['[]', 1500]);
    const before = await masked();
    configs[0] = write(0, networks(0), { mtu: 9000 });
    const r = await run(0, 'init');
    expect(r.exitCode, r.all).toBe(0);
    expect(r.stdout).toContain(`uplink ${NIC} on ${BR}: changed, mtu default -> 9000`);
    expect([await mtuRequest(), await kernelMtu()]).toEqual(['9000', 9000]);
    expect(await masked()).toBe(before);
    configs[0] = write(0, networks(0), { mtu: 1600 });
    const again = await run(0, 'init');
    expect(again.exitCode, again.all).toBe(0);
    expect(again.stdout).toContain(`uplink ${NIC} on ${BR}: changed, mtu 9000 -> 1600`);
    expect([await mtuRequest(), await kernelMtu()]).toEqual(['1600', 1600]);
    expect(await masked()).toBe(before);
    expect(await trunksOf(n)).toBe('[22, 300, 301, 302, 303]');
    // A network that does not fit the bridge's mtu: one line, non-zero, nothing changed (OVS nor kernel).
    const state = await ovsState(n);
    const big = { name: 'big', bridge: BR, vlan: { id: 45 }, mtu: 2000 };
    configs[0] = write(0, networks(0, { extra: [big] }), { mtu: 1600 });
    const refused = await run(0, 'init');
    expect(refused.exitCode).toBe(3);
    expect(refused.all.trim().split('\n')).toHaveLength(1);
    expect(refused.all).toMatch(/network big's mtu 2000 does not fit bridge upl_br's uplink mtu 1600/);
    expect(await ovsState(n)).toBe(state);
    expect([await mtuRequest(), await kernelMtu()]).toEqual(['1600', 1600]);
    expect(await canPing(info, pods.v220, '10.250.22.2')).toBe(true);
    configs[0] = write(0, networks(0), { mtu: 1600 });
  });

  it('an uplink dropped from the config is removed, one listed under another bridge moves, unmarked ports stay', async () => {
    const n = nodes[0];
    const BR2 = 'upl_br2';
    await veth(n, 'nic6');
    await veth(n, 'nic7');
    const v55 = { name: 'v55', bridge: BR2, vlan: { id: 55 } };
    const br = (uplinks: string[]) => ({ name: BR, datapathType: 'netdev', uplinks, mtu: 1600 });
    const uuidOf = async (port: string) => (await vsctl(n, 'get', 'Port', port, '_uuid')).stdout.trim();
    const idsOf = async (port: string) => (await vsctl(n, 'get', 'Port', port, 'external_ids')).stdout.trim();
    // A second bridge with its own uplink.
    configs[0] = writeBridges(0, networks(0, { extra: [v55] }), [
      br([NIC]),
      { name: BR2, datapathType: 'netdev', uplinks: ['nic6'] },
    ]);
    const made = await run(0, 'init');
    expect(made.exitCode, made.all).toBe(0);
    expect(made.stdout).toContain(`bridges ready: ${BR}, ${BR2} (created)`);
    expect(made.stdout).toContain(`uplink nic6 on ${BR2}: added, trunks 55`);
    // A port marked as podvlan's uplink of BR but on another bridge (moved there by hand): never podvlan's to remove.
    await vsctl(
      n,
      'add-port',
      'other_br',
      'nic7',
      '--',
      'set',
      'Port',
      'nic7',
      'external_ids:podvlan/uplink=true',
      `external_ids:podvlan/bridge=${BR}`,
    );
    // nic6 listed under BR now, BR2 and its network gone from the config: the same port row moves.
    const nic6 = await uuidOf('nic6');
    configs[0] = writeBridges(0, networks(0), [br([NIC, 'nic6'])]);
    const moved = await run(0, 'init');
    expect(moved.exitCode, moved.all).toBe(0);
    expect(moved.stdout).toContain(
      `uplink nic6 on ${BR}: moved from ${BR2}, trunks +22,300-303 -55, mtu default -> 1600`,
    );
    expect((await vsctl(n, 'list-ports', BR)).stdout.split('\n')).toContain('nic6');
    expect((await vsctl(n, 'list-ports', BR2)).stdout).toBe('');
    expect(await uuidOf('nic6')).toBe(nic6);
    expect(await idsOf('nic6')).toBe(`{"podvlan/bridge"=${BR}, "podvlan/uplink"="true"}`);
    expect((await vsctl(n, 'get', 'Port', 'nic6', 'trunks')).stdout.trim()).toBe('[22, 300, 301, 302, 303]');
    // Dropped from the list: --dry-run says so and changes nothing; init removes it and nothing else.
    configs[0] = writeBridges(0, networks(0), [br([NIC])]);
    const before = await ovsState(n);
    const dry = await run(0, 'init', '--dry-run');
    expect(dry.exitCode, dry.all).toBe(0);
    expect(dry.stdout).toContain(
      `uplink nic6 on ${BR}: would remove (no longer in bridges[].uplinks), trunks were 22,300-303`,
    );
    expect(dry.stdout).toContain(`uplink ${NIC} on ${BR}: unchanged`);
    expect(await ovsState(n)).toBe(before);
    const removed = await run(0, 'init');
    expect(removed.exitCode, removed.all).toBe(0);
    expect(removed.stdout).toContain(`uplink nic6 on ${BR}: removed (no longer in bridges[].uplinks)`);
    expect(removed.stdout).not.toContain('nic7');
    // Its Port and Interface rows are gone, the bridge's port list lost it; every other row is as it was.
    const after = await ovsState(n);
    expect(after).not.toContain(nic6);
    expect(after).not.toMatch(/^nic6,/m);
    const others = (state: string) =>
      state
        .split('\n')
        .filter((l) => !l.startsWith(`${nic6},`) && !l.startsWith('nic6,'))
        .join('\n')
        .replace(/^upl_br,.*$/m, 'B');
    expect(others(after)).toBe(others(before));
    // The bridges entry removed while the bridge stays (its networks now say the datapath): NIC goes.
    const pvPorts = (await vsctl(n, 'list-ports', BR)).stdout.split('\n').filter((p) => p.startsWith('pv'));
    configs[0] = writeBridges(
      0,
      networks(0).map((x) => ({ ...x, datapathType: 'netdev' })),
      [],
    );
    const dropped = await run(0, 'init');
    expect(dropped.exitCode, dropped.all).toBe(0);
    expect(dropped.stdout).toContain(`uplink ${NIC} on ${BR}: removed`);
    expect(await canPing(info, pods.v220, '10.250.22.2')).toBe(false);
    const left = (await vsctl(n, 'list-ports', BR)).stdout.split('\n');
    expect(left).not.toContain(NIC);
    expect(left).toEqual(expect.arrayContaining([...pvPorts, 'nic4'])); // pods' ports, and a port podvlan did not make
    expect((await vsctl(n, 'list-ports', 'other_br')).stdout.split('\n').sort()).toEqual(['nic3', 'nic7']);
    expect((await vsctl(n, 'list-br')).stdout.split('\n')).toContain(BR2); // init never removes a bridge
    configs[0] = write(0, networks(0), { mtu: 1600 });
    const back = await run(0, 'init');
    expect(back.stdout).toContain(`uplink ${NIC} on ${BR}: added, trunks 22,300-303, mtu default -> 1600`);
    expect(await canPing(info, pods.v220, '10.250.22.2')).toBe(true);
  });

  it('when ovs-vswitchd does not apply it, init undoes the whole change: removed or moved uplinks come back as they were', async () => {
    const n = nodes[0];
    const vswitchd = Number(readFileSync(join(n.nodeDir, 'vswitchd.pid'), 'utf8').trim());
    const stalled = async (bridges: Record<string, unknown>[], nets = networks(0)) => {
      configs[0] = writeBridges(0, nets, bridges, { timeoutMs: 1500 });
      process.kill(vswitchd, 'SIGSTOP');
      try {
        return await run(0, 'init');
      } finally {
        process.kill(vswitchd, 'SIGCONT');
      }
    };
    const before = await rowsState(n);
    // nic6 added and NIC removed, in one transaction that ovs-vswitchd (stopped) never applies.
    const removal = await stalled([{ name: BR, datapathType: 'netdev', uplinks: ['nic6'] }]);
    // NIC moved to upl_br2 (with a network there) and nic6 added to BR, likewise.
    const move = await stalled(
      [
        { name: BR, datapathType: 'netdev', uplinks: ['nic6'] },
        { name: 'upl_br2', datapathType: 'netdev', uplinks: [NIC] },
      ],
      networks(0, { extra: [{ name: 'v55', bridge: 'upl_br2', vlan: { id: 55 } }] }),
    );
    for (const r of [removal, move]) {
      expect(r.exitCode, r.all).toBe(7);
      expect(r.all.trim().split('\n')).toHaveLength(1);
      expect(r.all).toMatch(/ovs-vswitchd did not apply the change within 1500 ms/);
    }
    expect(await rowsState(n)).toBe(before);
    expect(await trunksOf(n)).toBe('[22, 300, 301, 302, 303]');
    configs[0] = write(0, networks(0), { mtu: 1600 });
    const again = await run(0, 'init');
    expect(again.stdout, again.all).toContain(`uplink ${NIC} on ${BR}: unchanged`);
    expect(await canPing(info, pods.v220, '10.250.22.2')).toBe(true);
  });

  it('an uplink whose link is down, or has no carrier, is made, and its line says so', async () => {
    const n = nodes[0];
    await execa('ip', ['-n', n.netns, 'link', 'add', 'nic9', 'type', 'veth', 'peer', 'name', 'nic9p']);
    configs[0] = write(0, networks(0), { mtu: 1600, uplinks: [NIC, 'nic9'] });
    const down = await run(0, 'init');
    expect(down.exitCode, down.all).toBe(0);
    expect(down.stdout).toContain(
      `uplink nic9 on ${BR}: added, trunks 22,300-303, mtu default -> 1600; warning: nic9 is down (ip link set nic9 up)`,
    );
    await execa('ip', ['-n', n.netns, 'link', 'set', 'nic9', 'up']);
    expect((await run(0, 'init')).stdout).toContain(
      `uplink nic9 on ${BR}: unchanged, trunks 22,300-303; warning: nic9 has no carrier (its cable, switch port or peer is down)`,
    );
    await execa('ip', ['-n', n.netns, 'link', 'set', 'nic9p', 'up']);
    const up = await run(0, 'init');
    expect(up.stdout.split('\n')).toContain(`uplink nic9 on ${BR}: unchanged, trunks 22,300-303`);
    expect(up.stdout).not.toContain('warning');
    // The interface gone (a NIC unplugged): OVS keeps the port; init says so.
    await execa('ip', ['-n', n.netns, 'link', 'del', 'nic9']);
    expect((await run(0, 'init')).stdout).toContain(
      `uplink nic9 on ${BR}: unchanged, trunks 22,300-303; warning: no interface nic9 on this node (OVS keeps the port, but it carries nothing)`,
    );
    configs[0] = write(0, networks(0), { mtu: 1600 });
    expect((await run(0, 'init')).stdout).toContain(`uplink nic9 on ${BR}: removed`);
  });
});
