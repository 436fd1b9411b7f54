// podvlan diagnose --all, -o dot/svg and the duplicate address, on one node against real faults:
// three pods on VLAN 22 of a pod-name network. Each fault is injected for real, found, undone,
// and the node is clean again. Its own bridge, subnet and state: it runs beside diagnose.test.ts.
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { DiagnoseAllResult } from '../../src/commands/diagnose-all';
import type { DiagnoseResult } from '../../src/diagnose/model';
import { hostVethName } from '../../src/names';
import { runPlugin, teardownAll, writeConfig } from '../support/plugin';
import { docker, startContainer } from '../support/sandbox';

const info = inject('sandbox');
const BRIDGE = 'dga_br';
const SUBNET = '10.219.0';
const config = writeConfig(
  info,
  join(info.dir, 'diagnose-all'),
  [
    {
      name: 'dga',
      bridge: BRIDGE,
      vlan: { fromPodName: '^(\\d+)-', range: '20-40' },
      ipam: { type: 'host-local', subnet: `${SUBNET}.0/24` },
    },
  ],
  { bridges: [{ name: BRIDGE, datapathType: 'netdev' }], vswitchdCtl: info.vswitchdCtl },
);
const run = (...args: string[]) => runPlugin(info, args, { config });
const vsctl = (...args: string[]) => execa('ovs-vsctl', [`--db=${info.ovsdb}`, ...args]);
const port = (pod: string) => hostVethName('dga', pod, 'dga');
const PODS = ['22-a', '22-b', '22-c'];
const ids: Record<string, string> = {};
const inPod = async (pod: string, ...args: string[]) => {
  const pid = (await docker(info, ['inspect', '-f', '{{.State.Pid}}', ids[pod]])).stdout.trim();
  return execa('nsenter', [`--net=/proc/${pid}/ns/net`, ...args]);
};

async function all(): Promise<{ exitCode: number; result: DiagnoseAllResult }> {
  const r = await run('diagnose', '--all', '-o', 'json');
  expect(r.stderr, r.all).toBe('');
  return { exitCode: r.exitCode, result: JSON.parse(r.stdout) as DiagnoseAllResult };
}
/** Every suspicion above INFO as "ns/pod hop-id LEVEL code". */
const problemsOfAll = (r: DiagnoseAllResult) =>
  r.attachments.flatMap((a) =>
    a.hops.flatMap((h) =>
      h.suspicions.filter((s) => s.level !== 'INFO').map((s) => `${a.src.pod} ${h.id} ${s.level} ${s.code}`),
    ),
  );
async function expectAllClean(): Promise<void> {
  const { exitCode, result } = await all();
  expect(problemsOfAll(result)).toEqual([]);
  expect(exitCode).toBe(0);
}

beforeAll(async () => {
  expect((await run('init')).exitCode).toBe(0);
  for (const pod of PODS) {
    ids[pod] = await startContainer(info);
    const r = await run('setup', 'dga', pod, ids[pod]);
    expect(r.exitCode, r.all).toBe(0);
  }
});
afterAll(async () => {
  await teardownAll(info, config, [BRIDGE]);
});

describe('podvlan diagnose --all', () => {
  it('a clean node: every attachment listed, no suspicion above INFO, exit 0', async () => {
    const { exitCode, result } = await all();
    expect(result.version).toBe(1);
    expect(result.attachments.map((a) => `${a.src.pod} ${a.network} ${a.src.port} ${a.src.vlan}`)).toEqual(
      PODS.map((p) => `${p} dga ${port(p)} 22`),
    );
    expect(result.attachments[0].hops.map((h) => h.id)).toEqual(['src-pod', 'src-veth', 'src-port']);
    expect(problemsOfAll(result)).toEqual([]);
    expect(exitCode).toBe(0);
    const text = await run('diagnose', '--all');
    expect(text.exitCode, text.all).toBe(0);
    expect(text.stdout.split('\n')[0]).toBe(`OK: 3 attachments on ${result.node}, none with a problem`);
  });

  it('a broken attachment: exit 2, its code named on its line, its hops shown, the others OK', async () => {
    await vsctl('set', 'port', port('22-b'), 'tag=33');
    try {
      const { exitCode, result } = await all();
      expect(problemsOfAll(result)).toEqual(['22-b src-port CRITICAL tag-differs']);
      expect(exitCode).toBe(2);
      const text = await run('diagnose', '--all');
      expect(text.exitCode).toBe(2);
      const lines = text.stdout.split('\n');
      expect(lines[0]).toBe(`CRITICAL: 1 of 3 attachments on ${result.node} with a problem`);
      expect(lines.find((l) => l.startsWith('dga/22-b '))).toMatch(/CRITICAL\s+tag-differs at port /);
      expect(lines.find((l) => l.startsWith('dga/22-a '))).toMatch(/ OK\s*$/);
      expect(text.stdout).toContain(`fix: ovs-vsctl set port ${port('22-b')} tag=22`);
    } finally {
      await vsctl('set', 'port', port('22-b'), 'tag=22');
    }
    await expectAllClean();
  });

  it('refuses SRC or another format with --all (invalid input, exit 9, not 2 "blocked"; nothing on stdout)', async () => {
    const r = await run('diagnose', '--all', 'dga/22-a');
    expect({ code: r.exitCode, out: r.stdout }).toEqual({ code: 9, out: '' });
    const svg = await run('diagnose', '--all', '-o', 'svg');
    expect({ code: svg.exitCode, out: svg.stdout }).toEqual({ code: 9, out: '' });
  });
});

describe('podvlan diagnose -o dot, -o svg', () => {
  const draw = async (format: string) => {
    const r = await run('diagnose', 'dga/22-a', 'dga/22-b', '-o', format);
    const json = await run('diagnose', 'dga/22-a', 'dga/22-b', '-o', 'json');
    return { r, result: JSON.parse(json.stdout) as DiagnoseResult };
  };
  const wellFormed = (svg: string) => execa('xmllint', ['--noout', '-'], { input: svg });

  it('a clean path: every hop green (grey with an INFO), well-formed SVG, dot that graphviz draws', async () => {
    const { r: svg } = await draw('svg');
    expect(svg.exitCode, svg.all).toBe(0);
    await wellFormed(svg.stdout);
    for (const id of ['src-pod', 'src-veth', 'src-port', 'bridge', 'dst-port', 'dst-veth', 'dst-pod'])
      expect(svg.stdout).toMatch(new RegExp(`<g id="n-${id}" data-id="${id}" class="box (good|muted)">`));
    expect(svg.stdout).toContain('class="box good"');
    const { r: dot } = await draw('dot');
    expect(dot.exitCode).toBe(0);
    const drawn = await execa('dot', ['-Tsvg'], { input: dot.stdout });
    await wellFormed(drawn.stdout);
  });

  it('a faulty hop is the red one, and the only one; an MTU warning is orange', async () => {
    await vsctl('set', 'port', port('22-a'), 'tag=33');
    try {
      const { r: svg, result } = await draw('svg');
      expect(svg.exitCode).toBe(2);
      await wellFormed(svg.stdout);
      const red = [...svg.stdout.matchAll(/<g id="n-([a-z-]+)"[^>]* class="box problem">/g)].map((m) => m[1]);
      const faulty = result.hops.filter((h) => h.suspicions.some((s) => s.level === 'CRITICAL')).map((h) => h.id);
      expect(red).toEqual(faulty);
      expect(red).toContain('src-port');
      const { r: dot } = await draw('dot');
      expect(dot.stdout).toMatch(/"src-port" \[[^\n]*color=red/);
      expect(dot.stdout).not.toMatch(/"dst-pod" \[[^\n]*color=red/);
      await execa('dot', ['-Tsvg'], { input: dot.stdout });
    } finally {
      await vsctl('set', 'port', port('22-a'), 'tag=22');
    }
    await inPod('22-b', 'ip', 'link', 'set', 'eth1', 'mtu', '9000');
    try {
      const { r: svg } = await draw('svg');
      expect(svg.exitCode).toBe(1);
      expect(svg.stdout).toMatch(/<g id="n-dst-pod" data-id="dst-pod" class="box warn">/);
      expect(svg.stdout).not.toContain('class="box problem"');
    } finally {
      await inPod('22-b', 'ip', 'link', 'set', 'eth1', 'mtu', '1500');
    }
  });
});

describe('a duplicate address on the VLAN', () => {
  it("a third pod given the destination's address by hand: found by --all and on the path, clean once undone", async () => {
    const json = await run('diagnose', 'dga/22-a', 'dga/22-b', '-o', 'json');
    const before = JSON.parse(json.stdout) as DiagnoseResult;
    const [aAddr, bAddr] = [before.src.address!, before.dst.address!];
    await inPod('22-c', 'ip', 'addr', 'add', `${bAddr}/24`, 'dev', 'eth1');
    try {
      // --all reads every pod's interface: 22-c holds an address recorded for 22-b.
      const { exitCode, result } = await all();
      expect(problemsOfAll(result)).toEqual(['22-c src-pod CRITICAL duplicate-address']);
      expect(exitCode).toBe(2);
      // 22-c speaks from that address: 22-a learns 22-b's address at 22-c's MAC.
      await inPod('22-c', 'ping', '-c1', '-W1', '-I', bAddr, aAddr).catch(() => undefined);
      const path = await run('diagnose', 'dga/22-a', 'dga/22-b', '-o', 'json');
      const d = JSON.parse(path.stdout) as DiagnoseResult;
      const found = d.hops.flatMap((h) => h.suspicions.map((s) => `${h.id} ${s.level} ${s.code}`));
      expect(found).toContain('src-pod CRITICAL duplicate-address');
      expect(found).not.toContain('src-pod CRITICAL neighbour-wrong-mac');
      expect(path.exitCode).toBe(2);
      expect(d.verdict).toMatch(/dga\/22-c also answers for/);
    } finally {
      await inPod('22-c', 'ip', 'addr', 'del', `${bAddr}/24`, 'dev', 'eth1');
      await inPod('22-a', 'ip', 'neigh', 'flush', 'dev', 'eth1');
    }
    await expectAllClean();
    const again = await run('diagnose', 'dga/22-a', 'dga/22-b');
    expect(again.exitCode, again.stdout).toBe(0);
  });
});
