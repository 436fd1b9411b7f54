// podvlan diagnose on a trunk network. One node cannot hold a trunk pod and an access pod of one
// VLAN on one bridge (the config refuses two networks declaring one VLAN there), so: node A has a
// trunk network (VLANs 140-145) with two trunk pods, node B an access network on VLAN 142 with one
// pod, the nodes joined by a veth each node's `init` makes its uplink. The trunk pod r0 tags its
// own frames with a userspace OVS in its namespace (this kernel has no 802.1Q), as
// test/e2e/trunk-port.test.ts does. Clean paths (trunk -> trunk on A, trunk -> B's pod through the
// uplink); VLAN 142 cut from r0's trunks column by hand, then restored; --vlan ambiguous, off the
// port, malformed, or for no trunk refused in one line (exit 9).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { DiagnoseResult } from '../../src/diagnose/model';
import { hostVethName } from '../../src/names';
import { delNetns } from '../support/cni';
import { type NodeInfo, startNode, wire } from '../support/node';
import { runPlugin, teardownAll, writeConfig } from '../support/plugin';
import { canPing, docker, startContainer, startOvs } from '../support/sandbox';

const info = inject('sandbox');
const BRIDGE = 'dgt_br';
const NIC = 'dgtn';
const dir = join(info.dir, 'diagnose-trunk');
const trunkNet = { name: 'dgt', bridge: BRIDGE, match: { namespace: '^dgt$' }, vlan: { trunk: '140-145' } };
const accessNet = {
  name: 'dga',
  bridge: BRIDGE,
  match: { namespace: '^dga$' },
  vlan: { id: 142 },
  ipam: { type: 'static', address: '10.219.142.2/24' },
};
const nodes: NodeInfo[] = [];
const configs: string[] = [];
const write = (i: number) =>
  writeConfig(nodes[i], join(dir, `n${i}`), [i === 0 ? trunkNet : accessNet], {
    nodeName: `dgt-${i}`,
    bridges: [{ name: BRIDGE, datapathType: 'netdev', uplinks: [NIC] }],
    vswitchdCtl: nodes[i].vswitchdCtl,
  });
const run = (i: number, ...args: string[]) => runPlugin(nodes[i], args, { config: configs[i] });
const vsctl = (...args: string[]) => execa('ovs-vsctl', [`--db=${nodes[0].ovsdb}`, ...args]);
const TRUNK = hostVethName('dgt', 'r0', 'dgt');
const ids: Record<string, string> = {};
const netnsName = `dgt-${dir
  .slice(-6)
  .toLowerCase()
  .replace(/[^a-z0-9]/g, 'x')}`;
const podOvs = join(dir, 'pod-ovs');

async function diagnose(...args: string[]) {
  const r = await run(0, 'diagnose', ...args, '-o', 'json');
  expect(r.stderr, r.all).toBe('');
  return { exitCode: r.exitCode, result: JSON.parse(r.stdout) as DiagnoseResult };
}
const problems = (d: { result: DiagnoseResult }) =>
  d.result.hops.flatMap((h) =>
    h.suspicions.filter((s) => s.level !== 'INFO').map((s) => `${h.id} ${s.level} ${s.code}`),
  );
type BridgeFacts = { flow: string; trace: { outputs: { port: number; vlan?: number }[]; outputNames: string[] } };
const bridgeFacts = (d: { result: DiagnoseResult }) =>
  d.result.hops.find((h) => h.id === 'bridge')!.facts as BridgeFacts;
const vlanAt = (d: { result: DiagnoseResult }, port: string) => {
  const b = bridgeFacts(d);
  const i = b.trace.outputNames.indexOf(port);
  expect(i, `${port} in ${b.trace.outputNames}`).toBeGreaterThanOrEqual(0);
  return b.trace.outputs[i].vlan;
};

beforeAll(async () => {
  mkdirSync(podOvs, { recursive: true });
  nodes.push(...(await Promise.all([startNode(info, 'xa', 41), startNode(info, 'xb', 42)])));
  await wire(nodes[0], nodes[1], NIC);
  for (const i of [0, 1]) {
    configs[i] = write(i);
    const init = await run(i, 'init');
    expect(init.exitCode, init.all).toBe(0);
  }
  for (const [i, ns, pod] of [
    [0, 'dgt', 'r0'],
    [0, 'dgt', 'r1'],
    [1, 'dga', 'web'],
  ] as const) {
    ids[pod] = await startContainer(info);
    const r = await run(i, 'setup', ns, pod, ids[pod]);
    expect(r.exitCode, r.all).toBe(0);
  }
  // r0's VLAN 142 interface: an internal port tagged 142 of a switch in its namespace, eth1 its trunk.
  const pid = (await docker(info, ['inspect', '-f', '{{.State.Pid}}', ids.r0])).stdout.trim();
  await execa('ip', ['netns', 'attach', netnsName, pid]);
  await startOvs(podOvs, netnsName);
  const db = `--db=unix:${podOvs}/db.sock`;
  await execa('ovs-vsctl', [db, 'add-br', 'pbr', '--', 'set', 'Bridge', 'pbr', 'datapath_type=netdev']);
  await execa('ovs-vsctl', [db, 'add-port', 'pbr', 'eth1', '--', 'add-port', 'pbr', 'v142', 'tag=142']);
  await execa('ovs-vsctl', [db, 'set', 'Interface', 'v142', 'type=internal']);
  await execa('ip', ['-n', netnsName, 'addr', 'add', '10.219.142.1/24', 'dev', 'v142']);
  await execa('ip', ['-n', netnsName, 'link', 'set', 'v142', 'up']);
  expect(await canPing(info, ids.r0, '10.219.142.2')).toBe(true);
});
afterAll(async () => {
  for (const f of ['vswitchd.pid', 'ovsdb.pid'])
    await execa('sh', ['-c', `kill $(cat ${join(podOvs, f)}) 2>/dev/null; true`], { reject: false });
  await delNetns(netnsName);
  for (const i of [0, 1]) if (nodes[i]) await teardownAll(nodes[i], configs[i], [BRIDGE]);
  await Promise.all(nodes.map((n) => n.stop()));
});

describe('podvlan diagnose on a trunk network', () => {
  it('trunk pod -> trunk pod with --vlan: clean, entering tagged 144 and delivered tagged 144', async () => {
    const d = await diagnose('dgt/r0', 'dgt/r1', '--vlan', '144');
    expect(problems(d), JSON.stringify(d.result.hops.flatMap((h) => h.suspicions))).toEqual([]);
    expect(d.exitCode).toBe(0);
    expect(d.result).toMatchObject({ vlan: 144, src: { port: TRUNK, vlan: 144 }, dst: { vlan: 144 } });
    expect(bridgeFacts(d).flow).toContain(`in_port=${TRUNK},dl_vlan=144,`);
    expect(vlanAt(d, hostVethName('dgt', 'r1', 'dgt'))).toBe(144);
    const pod = d.result.hops.find((h) => h.id === 'src-pod')!;
    expect(pod.suspicions.map((s) => s.code)).toEqual(['trunk-vlan-unchecked']);
  });

  it("trunk pod -> node B's access pod on VLAN 142: clean, out of the uplink tagged 142", async () => {
    const d = await diagnose('dgt/r0', '10.219.142.2', '--vlan', '142');
    expect(problems(d), JSON.stringify(d.result.hops.flatMap((h) => h.suspicions))).toEqual([]);
    expect(d.exitCode).toBe(0);
    expect(d.result.vlan).toBe(142);
    expect(bridgeFacts(d).flow).toContain(`in_port=${TRUNK},dl_vlan=142,`);
    expect(vlanAt(d, NIC)).toBe(142);
  });

  it('VLAN 142 cut from the trunk port by hand: the port hop is CRITICAL trunk-lacks-vlan; restored, clean', async () => {
    await vsctl('set', 'port', TRUNK, 'trunks=140,141,143,144,145');
    try {
      expect(await canPing(info, ids.r0, '10.219.142.2')).toBe(false);
      const d = await diagnose('dgt/r0', '10.219.142.2', '--vlan', '142');
      expect(problems(d)).toContain('src-port CRITICAL trunk-lacks-vlan');
      expect(d.exitCode).toBe(2);
      const s = d.result.hops.find((h) => h.id === 'src-port')!.suspicions[0];
      expect(s.message).toBe(
        `trunk port ${TRUNK} of dgt/r0 does not carry VLAN 142: it has trunks 140-141,143-145, podvlan set trunks 140-145`,
      );
      expect(s.hint).toBe(`ovs-vsctl set port ${TRUNK} trunks=140-145`);
      const text = await run(0, 'diagnose', 'dgt/r0', '10.219.142.2', '--vlan', '142');
      expect(text.exitCode).toBe(2);
      expect(text.stdout.split('\n')[0]).toBe(`BLOCKED at access-port port ${TRUNK} on dgt-0: ${s.message}`);
    } finally {
      await vsctl('set', 'port', TRUNK, 'trunks=140-145');
    }
    const clean = await diagnose('dgt/r0', '10.219.142.2', '--vlan', '142');
    expect(problems(clean)).toEqual([]);
    expect(clean.exitCode).toBe(0);
  });

  it('--vlan ambiguous, not on the port, malformed, or for no trunk: one line, exit 9', async () => {
    const cases: [number, string[], string][] = [
      [0, ['dgt/r0', 'dgt/r1'], 'dgt/r0 and dgt/r1 share VLANs 140-145 on bridge dgt_br: say which with --vlan'],
      [0, ['dgt/r0', '10.219.142.2'], 'dgt/r0 is on trunk 140-145 of dgt: say which VLAN with --vlan'],
      [
        0,
        ['dgt/r0', 'dgt/r1', '--vlan', '150'],
        '--vlan 150 is not a VLAN both ends are on (dgt/r0 140-145 on dgt, dgt/r1 140-145 on dgt)',
      ],
      [0, ['dgt/r0', '10.219.142.2', '--vlan', '150'], "--vlan 150 is not on dgt/r0's trunk port (140-145 on dgt)"],
      [0, ['dgt/r0', 'dgt/r1', '--vlan', '42x'], '--vlan "42x" is not a VLAN (1-4094)'],
      [
        1,
        ['dga/web', '10.219.142.1', '--vlan', '142'],
        '--vlan is for a pod on a trunk network: dga/web is on dga, VLAN-tagged by its port',
      ],
    ];
    for (const [i, args, message] of cases) {
      const r = await run(i, 'diagnose', ...args);
      expect(r.exitCode, r.all).toBe(9);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim(), r.all).toBe(`podvlan: ${message}`);
    }
  });
});
