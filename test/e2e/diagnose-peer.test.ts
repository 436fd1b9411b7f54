// podvlan diagnose --peer: the far node's own hops, from its snapshot (`podvlan collect --from
// SRC` there). Two simulated nodes joined by a veth that init makes each node's uplink; node A's
// pod dgf/a talks to node B's dgf/b. Faults of node B are injected for real (the destination's
// route, a drop flow on B's bridge, a pod of B holding A's address), found at B's hop, undone.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { DiagnoseResult } from '../../src/diagnose/model';
import { type NodeInfo, startNodes, wire } from '../support/node';
import { runPlugin, teardownAll, writeConfig } from '../support/plugin';
import { docker, startContainer } from '../support/sandbox';

const info = inject('sandbox');
const BR = 'dgf_br';
const NIC = 'nicf'; // each node's uplink, the two ends of one veth
const SUBNET = '10.214.22';
const SRC = `${SUBNET}.1`; // dgf/a's address on node A (A's range is .1-.9, B's .10-.19)
const nodes: NodeInfo[] = [];
const configs: string[] = [];
const ids: Record<string, string> = {};
const dir = join(info.dir, 'diagnose-peer');

const config = (i: number, range = i === 0 ? ['1', '9'] : ['10', '19']) =>
  writeConfig(
    nodes[i],
    join(dir, `n${i}`),
    [
      {
        name: 'v22',
        bridge: BR,
        vlan: { id: 22 },
        ipam: {
          type: 'host-local',
          subnet: `${SUBNET}.0/24`,
          rangeStart: `${SUBNET}.${range[0]}`,
          rangeEnd: `${SUBNET}.${range[1]}`,
        },
      },
    ],
    {
      nodeName: `dgf-${i}`,
      vswitchdCtl: nodes[i].vswitchdCtl,
      bridges: [{ name: BR, datapathType: 'netdev', uplinks: [NIC] }],
      ...(i === 0 ? { peers: [{ node: 'dgf-1', ovsdb: PEER_OVSDB }] } : {}),
    },
  );
const run = (i: number, ...args: string[]) => runPlugin(nodes[i], args, { config: configs[i] });
const inPod = async (pod: string, ...args: string[]) => {
  const pid = (await docker(info, ['inspect', '-f', '{{.State.Pid}}', ids[pod]])).stdout.trim();
  return execa('nsenter', [`--net=/proc/${pid}/ns/net`, ...args]);
};
const ofctlB = (...args: string[]) => execa('ovs-ofctl', args, { env: { OVS_RUNDIR: nodes[1].nodeDir } });
const peerFile = join(dir, 'peer.json');
const PEER_OVSDB = 'tcp:10.213.0.2:16640'; // node B's ovsdb-server, on a management link between the nodes

/** Node B's ovsdb-server again, in B's namespace, also listening on the management link. */
async function listenOnLink(): Promise<void> {
  await execa('ip', [
    '-n',
    nodes[0].netns,
    'link',
    'add',
    'mgf',
    'type',
    'veth',
    'peer',
    'name',
    'mgf',
    'netns',
    nodes[1].netns,
  ]);
  for (const [i, n] of nodes.entries()) {
    await execa('ip', ['-n', n.netns, 'addr', 'add', `10.213.0.${i + 1}/30`, 'dev', 'mgf']);
    await execa('ip', ['-n', n.netns, 'link', 'set', 'mgf', 'up']);
  }
  const d = nodes[1].nodeDir;
  await execa('ovs-appctl', ['-t', `${d}/ovsdb.ctl`, 'exit']);
  await execa('ip', [
    'netns',
    'exec',
    nodes[1].netns,
    'ovsdb-server',
    `${d}/conf.db`,
    `--remote=punix:${d}/db.sock`,
    '--remote=ptcp:16640:10.213.0.2',
    `--pidfile=${d}/ovsdb.pid`,
    '--detach',
    `--log-file=${d}/ovsdb.log`,
    `--unixctl=${d}/ovsdb.ctl`,
  ]);
}

/** Collect dgf/b on node B (towards SRC unless told otherwise), then diagnose from node A with it. */
async function withPeer(from: string[] = ['--from', SRC]): Promise<{ exitCode: number; result: DiagnoseResult }> {
  const c = await run(1, 'collect', 'dgf/b', ...from, '-o', 'json');
  expect(c.exitCode, c.all).toBe(0);
  writeFileSync(peerFile, c.stdout);
  const r = await run(0, 'diagnose', 'dgf/a', 'dgf/b', '--peer', peerFile, '-o', 'json');
  expect(r.stderr, r.all).toBe('');
  return { exitCode: r.exitCode, result: JSON.parse(r.stdout) as DiagnoseResult };
}
const problems = (d: { result: DiagnoseResult }) =>
  d.result.hops.flatMap((h) =>
    h.suspicions.filter((s) => s.level !== 'INFO').map((s) => `${h.id} ${s.level} ${s.code}`),
  );
async function expectClean(): Promise<void> {
  const d = await withPeer();
  expect(d.result.hops.flatMap((h) => h.suspicions.map((s) => `${h.id} ${s.level} ${s.code}`))).toEqual([]);
  expect(d.exitCode).toBe(0);
}

beforeAll(async () => {
  nodes.push(...(await startNodes(info, ['fa', 'fb'])));
  await wire(nodes[0], nodes[1], NIC);
  await listenOnLink();
  for (const i of [0, 1]) {
    configs[i] = config(i);
    expect((await run(i, 'init')).exitCode).toBe(0);
    const pod = i === 0 ? 'a' : 'b';
    ids[pod] = await startContainer(info);
    const r = await run(i, 'setup', 'dgf', pod, ids[pod]);
    expect(r.exitCode, r.all).toBe(0);
  }
  // One ping each way, so that both pods and both bridges know the MACs (as after real traffic).
  expect((await inPod('a', 'ping', '-c', '1', '-W', '2', `${SUBNET}.10`)).exitCode).toBe(0);
});
afterAll(async () => {
  for (const i of [0, 1]) if (nodes[i] && configs[i]) await teardownAll(nodes[i], configs[i], [BR]);
  await Promise.all(nodes.map((n) => n.stop()));
});

describe("podvlan diagnose --peer: the far node's own hops", () => {
  it("a clean pair: B's bridge passes the frame from its uplink to the pod; B's pod routes back to A's, exit 0", async () => {
    const d = await withPeer();
    expect(d.result.hops.map((h) => `${h.id}@${h.node}`)).toEqual([
      'src-pod@dgf-0',
      'src-veth@dgf-0',
      'src-port@dgf-0',
      'bridge@dgf-0',
      `uplink-${NIC}@dgf-0`,
      `peer-uplink-${NIC}@dgf-1`,
      'peer-bridge@dgf-1',
      'dst-port@dgf-1',
      'dst-veth@dgf-1',
      'dst-pod@dgf-1',
    ]);
    expect(d.result.hops.flatMap((h) => h.suspicions.map((s) => `${h.id} ${s.level} ${s.code}`))).toEqual([]);
    const bridge = d.result.hops[6].facts as { flow: string; trace: { outputNames: string[]; drop: boolean } };
    expect(bridge.flow).toMatch(new RegExp(`^in_port=${NIC},dl_vlan=22,.*nw_src=${SRC},nw_dst=${SUBNET}.10,`));
    expect(bridge.trace.outputNames).toContain(d.result.dst.port);
    const pod = d.result.hops[9];
    expect(pod.summary).toContain(`${SRC} via eth1`); // B's pod's own kernel, asked towards A's pod
    expect((pod.facts as { neighbour?: { mac?: string } }).neighbour?.mac).toMatch(/^0a:58:0a:d6:16:01$/);
    expect(d.exitCode).toBe(0);
  });

  it('a snapshot collected without --from (or towards another source) says so as INFO, never guesses', async () => {
    for (const from of [[], ['--from', `${SUBNET}.7`]]) {
      const d = await withPeer(from);
      const info = d.result.hops.flatMap((h) => h.suspicions.map((s) => `${h.id} ${s.level} ${s.code}`));
      expect(info).toEqual(['peer-bridge INFO far-datapath-unchecked', 'dst-pod INFO far-route-unchecked']);
      expect(d.result.hops[9].suspicions[0].hint).toBe(
        `podvlan collect dgf/b --from ${SRC} -o json > peer.json (on dgf-1)`,
      );
      expect(d.exitCode).toBe(0);
    }
  });

  it("the destination's route removed on node B: B's pod cannot reply, found at B's pod; clean once restored", async () => {
    await inPod('b', 'ip', 'route', 'del', `${SUBNET}.0/24`, 'dev', 'eth1');
    try {
      const d = await withPeer();
      expect(problems(d)).toContain('dst-pod CRITICAL no-route');
      expect(problems(d).every((p) => p.startsWith('dst-pod '))).toBe(true);
      expect(d.result.verdict).toMatch(/^BLOCKED at pod-interface eth1 of dgf\/b on dgf-1: dgf\/b cannot reply to /);
      expect(d.exitCode).toBe(2);
    } finally {
      await inPod('b', 'ip', 'route', 'add', `${SUBNET}.0/24`, 'dev', 'eth1', 'proto', 'kernel', 'scope', 'link');
    }
    await expectClean();
  });

  it("a drop flow on node B's bridge: B's datapath drops the frame from the uplink; clean once deleted", async () => {
    await ofctlB('add-flow', BR, `priority=100,in_port=${NIC},dl_vlan=22,actions=drop`);
    try {
      const d = await withPeer();
      expect(problems(d)).toEqual(['peer-bridge CRITICAL datapath-drop']);
      const drop = d.result.hops[6].suspicions[0];
      // The hint names the rule as the trace does (in_port by OpenFlow number): it deletes that rule.
      expect(drop.hint).toMatch(
        new RegExp(`^ovs-ofctl --strict del-flows ${BR} "priority=100,in_port=\\d+,dl_vlan=22"$`),
      );
      expect(d.result.verdict).toMatch(new RegExp(`^BLOCKED at bridge bridge ${BR} on dgf-1: `));
      expect(d.exitCode).toBe(2);
    } finally {
      await ofctlB('--strict', 'del-flows', BR, `priority=100,in_port=${NIC},dl_vlan=22`);
    }
    await expectClean();
  });

  it("node B's range overlapping A's: a pod of B given A's address is a CRITICAL duplicate at B's pod", async () => {
    configs[1] = config(1, ['1', '1']); // the misconfiguration: B's range is A's first address
    ids.c = await startContainer(info);
    const r = await run(1, 'setup', 'dgf', 'c', ids.c);
    expect(r.exitCode, r.all).toBe(0);
    expect(r.stdout).toContain(`${SRC}/24`);
    try {
      const d = await withPeer();
      expect(problems(d)).toEqual(['dst-pod CRITICAL duplicate-address']);
      expect(d.result.hops[9].suspicions[0].message).toBe(
        `${SRC}, the address of dgf/a, is also recorded for dgf/c on node dgf-1 on VLAN 22: dgf/b's reply may reach dgf/c instead`,
      );
      expect(d.exitCode).toBe(2);
    } finally {
      expect((await run(1, 'teardown', 'dgf', 'c', ids.c)).exitCode).toBe(0);
      configs[1] = config(1);
    }
    await expectClean();
  });

  it("B's pod holding A's address on its own interface: a CRITICAL duplicate at B's pod", async () => {
    await inPod('b', 'ip', 'addr', 'add', `${SRC}/24`, 'dev', 'eth1');
    try {
      const d = await withPeer();
      expect(problems(d)).toContain('dst-pod CRITICAL duplicate-address');
      const dup = d.result.hops[9].suspicions.find((s) => s.code === 'duplicate-address');
      expect(dup?.message).toBe(`eth1 of dgf/b holds ${SRC}, the address of dgf/a on VLAN 22`);
      expect(d.exitCode).toBe(2);
    } finally {
      await inPod('b', 'ip', 'addr', 'del', `${SRC}/24`, 'dev', 'eth1');
    }
    await expectClean();
  });

  it('the snapshot lists the other attachments of node B (for duplicates), and version 2', () => {
    const snap = JSON.parse(readFileSync(peerFile, 'utf8')) as { version: number; others: { pod: string }[] };
    expect(snap.version).toBe(2);
    expect(snap.others.map((o) => o.pod)).toEqual(['dgf/b']);
  });
});

describe("podvlan diagnose with a `peers:` entry: node B's OVSDB over tcp in place of --peer", () => {
  async function overTcp(dst = 'dgf/b'): Promise<{ exitCode: number; result: DiagnoseResult }> {
    const r = await run(0, 'diagnose', 'dgf/a', dst, '-o', 'json');
    expect(r.stderr, r.all).toBe('');
    return { exitCode: r.exitCode, result: JSON.parse(r.stdout) as DiagnoseResult };
  }
  const all = (d: { result: DiagnoseResult }) =>
    d.result.hops.flatMap((h) => h.suspicions.map((s) => `${h.id} ${s.level} ${s.code}`));

  it("reads B's ports, uplinks and records over tcp; what only B's kernel knows is INFO, not guessed", async () => {
    for (const dst of ['dgf/b', `${SUBNET}.10`]) {
      const d = await overTcp(dst);
      expect(d.result.hops.map((h) => `${h.id}@${h.node}`).slice(5)).toEqual([
        `peer-uplink-${NIC}@dgf-1`,
        'peer-bridge@dgf-1',
        'dst-port@dgf-1',
        'dst-veth@dgf-1',
        'dst-pod@dgf-1',
      ]);
      expect(all(d)).toEqual([
        `peer-uplink-${NIC} INFO remote-unchecked`,
        'peer-bridge INFO remote-unchecked',
        'dst-veth INFO remote-unchecked',
        'dst-pod INFO remote-unchecked',
      ]);
      expect(d.result.hops[7].summary).toBe('tag 22, ofport 2, link up');
      expect(d.result.dst).toMatchObject({ namespace: 'dgf', pod: 'b', address: `${SUBNET}.10`, vlan: 22 });
      expect(d.exitCode).toBe(0);
    }
  });

  it("B's port tag changed by hand: found at B's port over tcp; clean once undone", async () => {
    const port = (await overTcp()).result.dst.port as string;
    await execa('ovs-vsctl', [`--db=${nodes[1].ovsdb}`, 'set', 'port', port, 'tag=33']);
    try {
      const d = await overTcp();
      expect(problems(d)).toEqual(['dst-port CRITICAL tag-differs']);
      expect(d.exitCode).toBe(2);
    } finally {
      await execa('ovs-vsctl', [`--db=${nodes[1].ovsdb}`, 'set', 'port', port, 'tag=22']);
    }
    const d = await overTcp();
    expect(problems(d)).toEqual([]);
    expect(d.exitCode).toBe(0);
  });

  it('a peer whose OVSDB does not answer: a WARNING naming it, the near half judged as without a peer', async () => {
    const wrong = config(0);
    const text = readFileSync(wrong, 'utf8').replace(PEER_OVSDB, 'tcp:10.213.0.2:16641');
    writeFileSync(wrong, text);
    try {
      const r = await runPlugin(nodes[0], ['diagnose', 'dgf/a', `${SUBNET}.10`, '-o', 'json'], { config: wrong });
      const d = { result: JSON.parse(r.stdout) as DiagnoseResult };
      expect(problems(d)).toEqual([`uplink-${NIC} WARNING unreadable`]);
      expect(d.result.hops[4].suspicions.map((s) => s.message)).toContain(
        'OVSDB of node dgf-1 at tcp:10.213.0.2:16641: cannot connect to OVSDB at tcp:10.213.0.2:16641: ECONNREFUSED',
      );
      expect(r.exitCode).toBe(1);
    } finally {
      configs[0] = config(0);
    }
  });
});
