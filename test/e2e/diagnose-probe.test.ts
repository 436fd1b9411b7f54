// podvlan diagnose --probe: live pings from the source's namespace towards a pod of another node.
// Two simulated nodes whose uplinks meet in a third namespace holding a Linux bridge, the
// "physical switch": cutting the switch's port towards node B leaves node A's carrier up, so
// every static check on A stays clean and only the probe can see the fault.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { DiagnoseResult } from '../../src/diagnose/model';
import type { PingProbe } from '../../src/diagnose/probe';
import { type NodeInfo, startNodes } from '../support/node';
import { runPlugin, teardownAll, writeConfig } from '../support/plugin';
import { startContainer } from '../support/sandbox';

const info = inject('sandbox');
const BR = 'dgp_br';
const NIC = 'nicp'; // each node's uplink, a veth to the switch
const SUBNET = '10.216.22';
const SWITCH = `${info.netns}-psw`;
const nodes: NodeInfo[] = [];
const configs: string[] = [];

const config = (i: number) =>
  writeConfig(
    nodes[i],
    join(info.dir, 'diagnose-probe', `n${i}`),
    [{ name: 'v22', bridge: BR, vlan: { id: 22 }, ipam: { type: 'static', address: `${SUBNET}.${i + 1}/24` } }],
    {
      nodeName: `dgp-${i}`,
      vswitchdCtl: nodes[i].vswitchdCtl,
      bridges: [{ name: BR, datapathType: 'netdev', uplinks: [NIC] }],
    },
  );
const run = (i: number, ...args: string[]) => runPlugin(nodes[i], args, { config: configs[i] });
const sw = (...args: string[]) => execa('ip', ['-n', SWITCH, ...args]);

async function probe(): Promise<{ exitCode: number; result: DiagnoseResult }> {
  const r = await run(0, 'diagnose', 'dgp/a', `${SUBNET}.2`, '--probe', '-o', 'json');
  expect(r.stderr, r.all).toBe('');
  return { exitCode: r.exitCode, result: JSON.parse(r.stdout) as DiagnoseResult };
}
const problems = (d: { result: DiagnoseResult }) =>
  d.result.hops.flatMap((h) =>
    h.suspicions.filter((s) => s.level !== 'INFO').map((s) => `${h.id} ${s.level} ${s.code}`),
  );
const pingOf = (d: { result: DiagnoseResult }, id: string) =>
  d.result.probes.find((p) => p.id === id) as PingProbe | undefined;

async function expectClean(): Promise<void> {
  const d = await probe();
  expect(problems(d)).toEqual([]);
  expect(d.result.probes.map((p) => `${p.id} ${p.ok}`)).toEqual([
    'ping true',
    'ping-mtu true',
    'neighbour true',
    'counters true',
  ]);
  expect(d.exitCode).toBe(0);
}

beforeAll(async () => {
  nodes.push(...(await startNodes(info, ['pa', 'pb'])));
  await execa('ip', ['netns', 'add', SWITCH]);
  await sw('link', 'add', 'sw', 'type', 'bridge');
  await sw('link', 'set', 'sw', 'up');
  for (const [i, n] of nodes.entries()) {
    const port = `sw${i}`;
    await execa('ip', ['-n', n.netns, 'link', 'add', NIC, 'type', 'veth', 'peer', 'name', port, 'netns', SWITCH]);
    await execa('ip', ['-n', n.netns, 'link', 'set', NIC, 'up']);
    await sw('link', 'set', port, 'master', 'sw');
    await sw('link', 'set', port, 'up');
  }
  for (const i of [0, 1]) {
    configs[i] = config(i);
    expect((await run(i, 'init')).exitCode).toBe(0);
    const r = await run(i, 'setup', 'dgp', i === 0 ? 'a' : 'b', await startContainer(info));
    expect(r.exitCode, r.all).toBe(0);
  }
});
afterAll(async () => {
  for (const i of [0, 1]) if (nodes[i] && configs[i]) await teardownAll(nodes[i], configs[i], [BR]);
  await Promise.all(nodes.map((n) => n.stop()));
  await execa('ip', ['netns', 'del', SWITCH], { reject: false });
});

describe('podvlan diagnose --probe across two nodes', () => {
  it('a clean pair: both pings answered, the neighbour resolved, packets counted on the port and the uplink', async () => {
    const d = await probe();
    expect(problems(d)).toEqual([]);
    expect(pingOf(d, 'ping-mtu')).toMatchObject({ size: 1472, dontFragment: true, sent: 2, received: 2, ok: true });
    const counters = d.result.probes.find((p) => p.id === 'counters');
    if (counters?.id !== 'counters') throw new Error('no counters probe');
    for (const c of counters.ports) {
      expect(c.rx, c.port).toBeGreaterThanOrEqual(4); // 2 small and 2 MTU-sized echoes (and their replies)
      expect(c.tx, c.port).toBeGreaterThanOrEqual(4);
    }
    expect(counters.ports.map((c) => c.port)).toContain(NIC);
    expect(d.exitCode).toBe(0);
    const text = await run(0, 'diagnose', 'dgp/a', `${SUBNET}.2`, '--probe');
    expect(text.stdout).toMatch(/^PROBES$/m);
    expect(text.stdout).toMatch(/^ok {3}ping-mtu 1500 bytes DF: 2\/2 replies$/m);
  });

  it("the wire cut at the switch: A's checks stay clean, the probe fails, the verdict names the wire", async () => {
    await sw('link', 'set', 'sw1', 'down');
    try {
      const d = await probe();
      expect(problems(d)).toEqual([`uplink-${NIC} CRITICAL probe-no-reply`]);
      expect(d.result.verdict).toMatch(
        new RegExp(`^BLOCKED at uplink uplink ${NIC} on dgp-0: .*the wire beyond uplink ${NIC} \\(the physical switch`),
      );
      expect(pingOf(d, 'ping')).toMatchObject({ sent: 2, received: 0, ok: false });
      expect(d.exitCode).toBe(2);
    } finally {
      await sw('link', 'set', 'sw1', 'up');
    }
    await expectClean();
  });

  it("an MTU below the network's on the far side: small pings pass, the DF ping of the MTU fails", async () => {
    await execa('ip', ['-n', nodes[1].netns, 'link', 'set', NIC, 'mtu', '1400']);
    try {
      const d = await probe();
      expect(problems(d)).toEqual([`uplink-${NIC} WARNING probe-mtu`]);
      expect(pingOf(d, 'ping')?.ok).toBe(true);
      expect(pingOf(d, 'ping-mtu')).toMatchObject({ received: 0, ok: false });
      expect(d.exitCode).toBe(1);
    } finally {
      await execa('ip', ['-n', nodes[1].netns, 'link', 'set', NIC, 'mtu', '1500']);
    }
    await expectClean();
  });
});

describe('podvlan collect on node B, diagnose --peer on node A', () => {
  const file = () => join(info.dir, 'diagnose-probe', 'peer.json');
  async function collectB(): Promise<void> {
    const r = await run(1, 'collect', 'dgp/b', '--from', `${SUBNET}.1`, '-o', 'json');
    expect(r.exitCode, r.all).toBe(0);
    writeFileSync(file(), r.stdout);
  }
  async function withPeer(dst = 'dgp/b'): Promise<{ exitCode: number; result: DiagnoseResult }> {
    await collectB();
    const r = await run(0, 'diagnose', 'dgp/a', dst, '--peer', file(), '-o', 'json');
    expect(r.stderr, r.all).toBe('');
    return { exitCode: r.exitCode, result: JSON.parse(r.stdout) as DiagnoseResult };
  }

  it("a clean pair: the far half (B's uplink, port, veth, pod) judged on dgp-1, DST by name or address", async () => {
    for (const dst of ['dgp/b', `${SUBNET}.2`]) {
      const d = await withPeer(dst);
      expect(d.result.hops.map((h) => `${h.id}@${h.node}`)).toEqual([
        'src-pod@dgp-0',
        'src-veth@dgp-0',
        'src-port@dgp-0',
        'bridge@dgp-0',
        `uplink-${NIC}@dgp-0`,
        `peer-uplink-${NIC}@dgp-1`,
        'peer-bridge@dgp-1',
        'dst-port@dgp-1',
        'dst-veth@dgp-1',
        'dst-pod@dgp-1',
      ]);
      expect(d.result.hops.flatMap((h) => h.suspicions.map((s) => `${h.id} ${s.level} ${s.code}`))).toEqual([]);
      expect(d.result.dst).toMatchObject({ namespace: 'dgp', pod: 'b', address: `${SUBNET}.2`, vlan: 22 });
      expect(d.exitCode).toBe(0);
    }
  });

  it("B's uplink trunks without the VLAN: the fault at B's uplink hop; init on B clears it", async () => {
    await execa('ovs-vsctl', [`--db=${nodes[1].ovsdb}`, 'set', 'port', NIC, 'trunks=300']);
    const d = await withPeer();
    // B's datapath agrees: the frame tagged 22 coming in on a trunk that lacks 22 is dropped.
    expect(problems(d)).toEqual([`peer-uplink-${NIC} CRITICAL uplink-vlans`, 'peer-bridge CRITICAL datapath-drop']);
    expect(d.result.verdict).toMatch(new RegExp(`^BLOCKED at uplink uplink ${NIC} on dgp-1: `));
    expect(d.exitCode).toBe(2);
    expect((await run(1, 'init')).exitCode).toBe(0);
    expect(problems(await withPeer())).toEqual([]);
  });

  it("B's pod port tag changed: the fault at B's port", async () => {
    const d0 = await withPeer();
    const port = d0.result.dst.port as string;
    await execa('ovs-vsctl', [`--db=${nodes[1].ovsdb}`, 'set', 'port', port, 'tag=33']);
    try {
      const d = await withPeer();
      expect(problems(d)).toEqual(['peer-bridge CRITICAL datapath-no-output', 'dst-port CRITICAL tag-differs']);
      // The first of equals on the path: B's datapath, which no longer delivers to the port (tag 33).
      expect(d.result.verdict).toBe(
        `BLOCKED at bridge bridge ${BR} on dgp-1: bridge ${BR} does not send the packet from ${NIC} to ${port}: only to ${BR}`,
      );
    } finally {
      await execa('ovs-vsctl', [`--db=${nodes[1].ovsdb}`, 'set', 'port', port, 'tag=22']);
    }
    expect(problems(await withPeer())).toEqual([]);
  });

  it('a malformed snapshot is refused in one line, exit 9', async () => {
    await collectB();
    const bad = join(info.dir, 'diagnose-probe', 'bad.json');
    const snap = JSON.parse(await import('node:fs').then((fs) => fs.readFileSync(file(), 'utf8')));
    snap.pods[0].port = '../../etc';
    writeFileSync(bad, JSON.stringify(snap));
    const r = await run(0, 'diagnose', 'dgp/a', 'dgp/b', '--peer', bad);
    expect({ code: r.exitCode, out: r.stdout }).toEqual({ code: 9, out: '' }); // invalid input, not "blocked" (2)
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(
      /is not a podvlan collect snapshot \(version 1 or 2\): pods\.0\.port: not an interface name/,
    );
  });
});
