// podvlan diagnose on one node, against real faults: three pods on a pod-name network (two on
// VLAN 22, one on VLAN 33). For each fault: inject it for real (OVSDB, the node's namespace, the
// pod's namespace, an OpenFlow rule), diagnose, assert the hop, level and code, undo it, and
// assert the pair is clean again. One set of pods for every case: the suite's wall time matters.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { DiagnoseResult } from '../../src/diagnose/model';
import { hostVethName } from '../../src/names';
import { runPlugin, teardownAll, writeConfig } from '../support/plugin';
import { docker, startContainer } from '../support/sandbox';

const info = inject('sandbox');
const BRIDGE = 'dg_br';
const SUBNET = '10.218.0';
const config = writeConfig(
  info,
  join(info.dir, 'diagnose'),
  [
    {
      name: 'dg',
      bridge: BRIDGE,
      vlan: { fromPodName: '^(\\d+)-', range: '20-40' },
      ipam: { type: 'host-local', subnet: `${SUBNET}.0/24` },
    },
  ],
  { bridges: [{ name: BRIDGE, datapathType: 'netdev' }], vswitchdCtl: info.vswitchdCtl },
);
const run = (...args: string[]) => runPlugin(info, args, { config });
const vsctl = (...args: string[]) => execa('ovs-vsctl', [`--db=${info.ovsdb}`, ...args]);
const port = (pod: string) => hostVethName('dg', pod, 'dg');
const [A, B] = [port('22-a'), port('22-b')];
const ids: Record<string, string> = {};
const inPod = async (pod: string, ...args: string[]) => {
  const pid = (await docker(info, ['inspect', '-f', '{{.State.Pid}}', ids[pod]])).stdout.trim();
  return execa('nsenter', [`--net=/proc/${pid}/ns/net`, ...args]);
};

interface Diagnosis {
  exitCode: number;
  result: DiagnoseResult;
  ms: number;
}
async function diagnose(src = 'dg/22-a', dst = 'dg/22-b'): Promise<Diagnosis> {
  const r = await run('diagnose', src, dst, '-o', 'json');
  expect(r.stderr, r.all).toBe('');
  return { exitCode: r.exitCode, result: JSON.parse(r.stdout) as DiagnoseResult, ms: r.ms };
}
/** Every suspicion above INFO as "hop-id LEVEL code". */
const problems = (d: Diagnosis) =>
  d.result.hops.flatMap((h) =>
    h.suspicions.filter((s) => s.level !== 'INFO').map((s) => `${h.id} ${s.level} ${s.code}`),
  );
async function expectClean(): Promise<Diagnosis> {
  const d = await diagnose();
  expect(problems(d), JSON.stringify(d.result.hops.flatMap((h) => h.suspicions))).toEqual([]);
  expect(d.result.verdict).toBe('OK');
  expect(d.exitCode).toBe(0);
  return d;
}

beforeAll(async () => {
  expect((await run('init')).exitCode).toBe(0);
  for (const pod of ['22-a', '22-b', '33-c']) {
    ids[pod] = await startContainer(info);
    const r = await run('setup', 'dg', pod, ids[pod]);
    expect(r.exitCode, r.all).toBe(0);
  }
});
afterAll(async () => {
  await teardownAll(info, config, [BRIDGE]);
});

describe('podvlan diagnose, same node', () => {
  it('a clean pair: no suspicion above INFO, verdict OK, exit 0, every hop on the path', async () => {
    const d = await expectClean();
    expect(d.result).toMatchObject({
      version: 1,
      network: 'dg',
      vlan: 22,
      src: { namespace: 'dg', pod: '22-a', address: `${SUBNET}.1`, port: A, vlan: 22 },
      dst: { namespace: 'dg', pod: '22-b', address: `${SUBNET}.2`, port: B, vlan: 22 },
      probes: [],
    });
    expect(d.result.hops.map((h) => `${h.id} ${h.object}`)).toEqual([
      'src-pod eth1 of dg/22-a',
      `src-veth veth ${A}`,
      `src-port port ${A}`,
      `bridge bridge ${BRIDGE}`,
      `dst-port port ${B}`,
      `dst-veth veth ${B}`,
      'dst-pod eth1 of dg/22-b',
    ]);
    // The datapath's own verdict was read: it delivers to the destination port.
    const bridge = d.result.hops[3].facts as { trace?: { outputNames: string[] } };
    expect(bridge.trace?.outputNames).toContain(B);
    const text = await run('diagnose', 'dg/22-a', `${SUBNET}.2`);
    expect(text.exitCode, text.all).toBe(0);
    expect(text.stdout.split('\n')[0]).toBe('OK');
  });

  const faults: [string, () => Promise<unknown>, () => Promise<unknown>, string, number?][] = [
    [
      'tag changed by hand',
      () => vsctl('set', 'port', A, 'tag=33'),
      () => vsctl('set', 'port', A, 'tag=22'),
      'src-port CRITICAL tag-differs',
    ],
    [
      'tag cleared',
      () => vsctl('clear', 'port', A, 'tag'),
      () => vsctl('set', 'port', A, 'tag=22'),
      'src-port CRITICAL tag-differs',
    ],
    [
      "another container's port",
      () => vsctl('set', 'port', B, `external_ids:"podvlan/containerId"=${'e'.repeat(64)}`),
      () => vsctl('set', 'port', B, `external_ids:"podvlan/containerId"=${ids['22-b']}`),
      'dst-port CRITICAL port-stale',
    ],
    [
      'host veth down',
      () => execa('ip', ['-n', info.netns, 'link', 'set', B, 'down']),
      () => execa('ip', ['-n', info.netns, 'link', 'set', B, 'up']),
      'dst-veth CRITICAL veth-down',
    ],
    [
      'pod eth1 down',
      () => inPod('22-a', 'ip', 'link', 'set', 'eth1', 'down'),
      () => inPod('22-a', 'ip', 'link', 'set', 'eth1', 'up'),
      'src-pod CRITICAL interface-down',
    ],
    [
      'pod MTU 9000',
      () => inPod('22-a', 'ip', 'link', 'set', 'eth1', 'mtu', '9000'),
      () => inPod('22-a', 'ip', 'link', 'set', 'eth1', 'mtu', '1500'),
      'src-pod WARNING mtu-mismatch',
      1,
    ],
    [
      'pod address flushed',
      () => inPod('22-b', 'ip', 'addr', 'flush', 'dev', 'eth1'),
      () => inPod('22-b', 'ip', 'addr', 'add', `${SUBNET}.2/24`, 'dev', 'eth1'),
      'dst-pod CRITICAL address-missing',
    ],
    [
      "the pod's route removed",
      () => inPod('22-a', 'ip', 'route', 'del', `${SUBNET}.0/24`, 'dev', 'eth1'),
      () =>
        inPod(
          '22-a',
          'ip',
          'route',
          'add',
          `${SUBNET}.0/24`,
          'dev',
          'eth1',
          'proto',
          'kernel',
          'scope',
          'link',
          'src',
          `${SUBNET}.1`,
        ),
      'src-pod CRITICAL no-route',
    ],
    [
      'arp off on the destination',
      () => inPod('22-b', 'ip', 'link', 'set', 'eth1', 'arp', 'off'),
      () => inPod('22-b', 'ip', 'link', 'set', 'eth1', 'arp', 'on'),
      'dst-pod CRITICAL arp-off',
    ],
    [
      'rp_filter=1 with an off-link source',
      async () => {
        // The source sends from an address off the destination's subnet, whose route back is another interface.
        await inPod('22-a', 'ip', 'addr', 'add', '10.218.99.1/32', 'dev', 'eth1');
        await inPod('22-a', 'ip', 'route', 'add', `${SUBNET}.2/32`, 'dev', 'eth1', 'src', '10.218.99.1');
        await inPod('22-b', 'ip', 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0p');
        await inPod('22-b', 'ip', 'link', 'set', 'eth0', 'up');
        await inPod('22-b', 'ip', 'addr', 'add', '192.0.2.2/24', 'dev', 'eth0');
        await inPod('22-b', 'ip', 'route', 'add', 'default', 'via', '192.0.2.1');
        await inPod('22-b', 'sysctl', '-qw', 'net.ipv4.conf.all.rp_filter=1');
      },
      async () => {
        await inPod('22-b', 'sysctl', '-qw', 'net.ipv4.conf.all.rp_filter=0');
        await inPod('22-b', 'ip', 'link', 'del', 'eth0');
        await inPod('22-a', 'ip', 'route', 'del', `${SUBNET}.2/32`);
        await inPod('22-a', 'ip', 'addr', 'del', '10.218.99.1/32', 'dev', 'eth1');
      },
      'dst-pod CRITICAL rp-filter-drops',
    ],
    [
      'a drop flow',
      () =>
        execa('ovs-ofctl', ['add-flow', BRIDGE, `priority=100,in_port=${A},actions=drop`], {
          env: { OVS_RUNDIR: info.dir },
        }),
      () =>
        execa('ovs-ofctl', ['--strict', 'del-flows', BRIDGE, `priority=100,in_port=${A}`], {
          env: { OVS_RUNDIR: info.dir },
        }),
      'bridge CRITICAL datapath-drop',
    ],
  ];

  it.each(faults)('%s: found at its hop, then clean once undone', async (_, inject, undo, expected, exit = 2) => {
    await inject();
    try {
      const d = await diagnose();
      expect(problems(d)).toContain(expected);
      expect(d.exitCode).toBe(exit);
      const [hop, level] = expected.split(' ');
      expect(d.result.verdict).toMatch(new RegExp(`^${level === 'WARNING' ? 'WARNING' : 'BLOCKED'} at `));
      expect(d.result.hops.find((h) => h.id === hop)?.suspicions.length).toBeGreaterThan(0);
    } finally {
      await undo();
    }
    await expectClean();
  });

  it('the destination on another VLAN: blocked at the bridge, and the datapath agrees', async () => {
    const d = await diagnose('dg/22-a', 'dg/33-c');
    expect(problems(d)).toEqual(['bridge CRITICAL vlan-differs', 'bridge CRITICAL datapath-no-output']);
    expect(d.result.verdict).toBe(
      `BLOCKED at bridge bridge ${BRIDGE} on ${d.result.hops[0].node}: dg/22-a is on VLAN 22, dg/33-c on VLAN 33: bridge ${BRIDGE} keeps them apart`,
    );
    expect(d.exitCode).toBe(2);
    await expectClean();
  });

  it('a deleted port is FATAL, and the fix it names (setup again) makes the pair clean', async () => {
    await vsctl('del-port', B);
    const d = await diagnose();
    expect(problems(d)).toContain('dst-port FATAL no-port');
    const hint = d.result.hops[4].suspicions.find((s) => s.code === 'no-port')?.hint;
    expect(hint).toBe(`podvlan setup dg 22-b ${ids['22-b']}`);
    const r = await run(...hint!.split(' ').slice(1));
    expect(r.exitCode, r.all).toBe(0);
    await expectClean();
  });

  it('refuses what it cannot diagnose in one line on stderr, with a code apart from the verdicts 0-2', async () => {
    const peer = join(info.dir, 'diagnose', 'peer-bad.json');
    writeFileSync(peer, '{"version": 1, "kind": "podvlan-collect"}');
    const down = writeConfig(
      info,
      join(info.dir, 'diagnose', 'down'),
      [{ name: 'dg', bridge: BRIDGE, vlan: { id: 22 } }],
      {
        ovsdb: `unix:${join(info.dir, 'diagnose', 'no-ovsdb.sock')}`,
        timeoutMs: 2000,
      },
    );
    const cases: [args: string[], code: number, line: RegExp, configPath?: string][] = [
      [['dg', 'dg/22-b'], 9, /^podvlan: source "dg" is not namespace\/pod$/],
      [['dg/22-a', '10.218.0.300'], 9, /^podvlan: destination "10\.218\.0\.300" is not namespace\/pod$/],
      [['dg/22-a', 'dg/22-b', '--output', 'xml'], 9, /^podvlan: option .* argument 'xml' is invalid/],
      [['dg/22-a', 'dg/22-b', '--peer', peer], 9, /is not a podvlan collect snapshot \(version 1 or 2\): node: /],
      [['dg/22-a', 'dg/nosuch'], 4, /^podvlan: dg\/nosuch is not attached on this node \(no port, no record\)$/],
      [['dg/22-a', 'dg/22-b', '--peer', `${peer}.gone`], 4, /--peer .*\.gone cannot be read \(ENOENT\)/],
      [['dg/22-a', 'dg/22-b'], 7, /OVSDB|ovsdb|no-ovsdb\.sock/i, down],
    ];
    for (const [args, code, line, configPath] of cases) {
      const r = await runPlugin(info, ['diagnose', ...args], { config: configPath ?? config });
      expect({ args, code: r.exitCode, out: r.stdout }).toEqual({ args, code, out: '' });
      expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
      expect(r.stderr).toMatch(line);
    }
  });

  it('answers well under a second', async () => {
    const times: number[] = [];
    for (let i = 0; i < 5; i++) times.push((await expectClean()).ms);
    const median = times.sort((a, b) => a - b)[2];
    console.log(
      `diagnose wall time, whole process (ms): ${times.map((t) => t.toFixed(0)).join(' ')}; median ${median.toFixed(0)}`,
    );
    expect(median).toBeLessThan(1000);
  });
});
