// podvlan diagnose towards a pod on another node: two simulated nodes joined by a veth that init
// makes each node's uplink. The path from node A's pod ends at A's uplink (the far half is not
// read in this version); faults of the uplink are injected for real, found, undone.
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { DiagnoseResult } from '../../src/diagnose/model';
import { type NodeInfo, startNodes, wire } from '../support/node';
import { runPlugin, teardownAll, writeConfig } from '../support/plugin';
import { canPing, startContainer } from '../support/sandbox';

const info = inject('sandbox');
const BR = 'dgn_br';
const NIC = 'nicd'; // the veth end in each node that the config names as the uplink
const SUBNET = '10.217.22';
const nodes: NodeInfo[] = [];
const configs: string[] = [];

const config = (i: number) =>
  writeConfig(
    nodes[i],
    join(info.dir, 'diagnose-nodes', `n${i}`),
    [{ name: 'v22', bridge: BR, vlan: { id: 22 }, ipam: { type: 'static', address: `${SUBNET}.${i + 1}/24` } }],
    {
      nodeName: `dgn-${i}`,
      vswitchdCtl: nodes[i].vswitchdCtl,
      bridges: [{ name: BR, datapathType: 'netdev', uplinks: [NIC] }],
    },
  );
const run = (i: number, ...args: string[]) => runPlugin(nodes[i], args, { config: configs[i] });
const vsctl = (n: NodeInfo, ...args: string[]) => execa('ovs-vsctl', [`--db=${n.ovsdb}`, ...args]);

async function diagnose(): Promise<{ exitCode: number; result: DiagnoseResult }> {
  const r = await run(0, 'diagnose', 'dgn/a', `${SUBNET}.2`, '-o', 'json');
  expect(r.stderr, r.all).toBe('');
  return { exitCode: r.exitCode, result: JSON.parse(r.stdout) as DiagnoseResult };
}
const problems = (d: { result: DiagnoseResult }) =>
  d.result.hops.flatMap((h) =>
    h.suspicions.filter((s) => s.level !== 'INFO').map((s) => `${h.id} ${s.level} ${s.code}`),
  );
async function expectClean(): Promise<void> {
  const d = await diagnose();
  expect(problems(d)).toEqual([]);
  expect(d.exitCode).toBe(0);
}

beforeAll(async () => {
  nodes.push(...(await startNodes(info, ['da', 'db'])));
  await wire(nodes[0], nodes[1], NIC);
  for (const i of [0, 1]) {
    configs[i] = config(i);
    expect((await run(i, 'init')).exitCode).toBe(0);
    const r = await run(i, 'setup', 'dgn', i === 0 ? 'a' : 'b', await startContainer(info));
    expect(r.exitCode, r.all).toBe(0);
  }
});
afterAll(async () => {
  for (const i of [0, 1]) if (nodes[i] && configs[i]) await teardownAll(nodes[i], configs[i], [BR]);
  await Promise.all(nodes.map((n) => n.stop()));
});

describe('podvlan diagnose towards another node', () => {
  it('a clean path ends at the uplink: trunk carries VLAN 22, the datapath sends it there tagged, exit 0', async () => {
    const { stdout } = await run(0, 'list', '-o', 'json');
    const a = (JSON.parse(stdout) as { containerId: string }[])[0];
    expect(await canPing(info, a.containerId, `${SUBNET}.2`)).toBe(true);
    const d = await diagnose();
    expect(d.result.hops.map((h) => h.id)).toEqual(['src-pod', 'src-veth', 'src-port', 'bridge', `uplink-${NIC}`]);
    expect(d.result.dst).toEqual({ address: `${SUBNET}.2` });
    // The source's kernel was asked about the remote address: routed out of eth1, resolved by the ping.
    expect(d.result.hops[0].summary).toContain(`${SUBNET}.2 via eth1`);
    expect((d.result.hops[0].facts as { neighbour?: { mac?: string } }).neighbour?.mac).toMatch(/^[0-9a-f:]{17}$/);
    expect(problems(d)).toEqual([]);
    expect(d.result.hops[4].suspicions.map((s) => s.code)).toEqual(['far-side-unchecked']);
    const bridge = d.result.hops[3].facts as { trace: { outputNames: string[]; outputs: { vlan?: number }[] } };
    expect(bridge.trace.outputNames).toContain(NIC);
    expect(d.exitCode).toBe(0);
  });

  it("the uplink's trunks without the VLAN: found at the uplink and in the datapath; `podvlan init` (the fix) clears it", async () => {
    await vsctl(nodes[0], 'set', 'port', NIC, 'trunks=300');
    const d = await diagnose();
    expect(problems(d)).toEqual([`bridge CRITICAL datapath-no-uplink`, `uplink-${NIC} CRITICAL uplink-vlans`]);
    expect(d.result.hops[4].suspicions.find((s) => s.code === 'uplink-vlans')?.hint).toBe('podvlan init');
    expect(d.exitCode).toBe(2);
    expect((await run(0, 'init')).exitCode).toBe(0);
    await expectClean();
  });

  it('the wire cut (the other end down): no carrier on the uplink; clean once up again', async () => {
    await execa('ip', ['-n', nodes[1].netns, 'link', 'set', NIC, 'down']);
    try {
      const d = await diagnose();
      expect(problems(d)).toEqual([`uplink-${NIC} CRITICAL uplink-no-carrier`]);
      expect(d.result.verdict).toMatch(new RegExp(`^BLOCKED at uplink uplink ${NIC} on dgn-0: `));
    } finally {
      await execa('ip', ['-n', nodes[1].netns, 'link', 'set', NIC, 'up']);
    }
    await expectClean();
  });

  it('an uplink MTU below the network: a warning, exit 1', async () => {
    await execa('ip', ['-n', nodes[0].netns, 'link', 'set', NIC, 'mtu', '1400']);
    try {
      const d = await diagnose();
      expect(problems(d)).toEqual([`uplink-${NIC} WARNING mtu-mismatch`]);
      expect(d.exitCode).toBe(1);
    } finally {
      await execa('ip', ['-n', nodes[0].netns, 'link', 'set', NIC, 'mtu', '1500']);
    }
    await expectClean();
  });

  it("diagnose --all: the attachment's own hops end at the uplink, which must carry its VLAN", async () => {
    const all = async () => {
      const r = await run(0, 'diagnose', '--all', '-o', 'json');
      const result = JSON.parse(r.stdout) as { attachments: DiagnoseResult[] };
      return { exitCode: r.exitCode, result: result.attachments[0], count: result.attachments.length };
    };
    const clean = await all();
    expect(clean.count).toBe(1);
    expect(clean.result.hops.map((h) => h.id)).toEqual(['src-pod', 'src-veth', 'src-port', `uplink-${NIC}`]);
    expect(clean.result.hops[3].suspicions).toEqual([]); // no destination: nothing said of the far side
    expect(clean.exitCode).toBe(0);
    await vsctl(nodes[0], 'set', 'port', NIC, 'trunks=300');
    const broken = await all();
    expect(problems(broken)).toEqual([`uplink-${NIC} CRITICAL uplink-vlans`]);
    expect(broken.exitCode).toBe(2);
    expect((await run(0, 'init')).exitCode).toBe(0);
    expect((await all()).exitCode).toBe(0);
  });
});
