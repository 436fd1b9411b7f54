// A pod's name must not put it on another network's VLAN: the multi-homed example of
// docs/config.md (frontend reads the tag from the pod name, storage has VLAN 300, one bridge).
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { bridgePorts, portTag, runPlugin, stateFiles, teardownAll, writeConfig } from '../support/plugin';
import { podExec, startContainer } from '../support/sandbox';

const info = inject('sandbox');
const BRIDGE = 'vr_edge';
const dir = join(info.dir, 'vlan-ranges');
const frontend = (vlan: Record<string, unknown>) => ({
  name: 'frontend',
  bridge: BRIDGE,
  datapathType: 'netdev',
  interface: 'net1',
  match: { namespace: '^edge$', podName: '^gw-\\d+$' },
  vlan,
  ipam: { type: 'host-local', subnet: '10.251.0.0/24', gateway: '10.251.0.1' },
});
const storage = {
  name: 'storage',
  bridge: BRIDGE,
  datapathType: 'netdev',
  interface: 'net2',
  mtu: 9000,
  match: { namespace: '^edge$', podName: '^gw-120$' },
  vlan: { id: 300 },
  ipam: { type: 'static', address: '10.252.0.5/24' },
};
const docsExample = writeConfig(info, join(dir, 'docs'), [frontend({ fromPodName: '^gw-(\\d+)$' }), storage]);
const ranged = writeConfig(
  info,
  join(dir, 'ranged'),
  [frontend({ fromPodName: '^gw-(\\d+)$', range: '20-99' }), storage],
  { stateDir: join(dir, 'docs', 'state') },
);

const refusedInOneLine = (r: { exitCode: number; all: string }, code: number, what: RegExp) => {
  expect(r.exitCode, r.all).toBe(code);
  expect(r.all.trim().split('\n')).toHaveLength(1);
  expect(r.all.trim()).toMatch(what);
};

describe('VLANs read from pod names stay in their network', () => {
  let id = '';
  beforeAll(async () => {
    expect((await runPlugin(info, ['init'], { config: docsExample })).exitCode).toBe(0);
    id = await startContainer(info);
  });
  afterAll(() => teardownAll(info, docsExample, [BRIDGE]));

  it('refuses gw-300 in the docs example: VLAN 300 is the storage network', async () => {
    const r = await runPlugin(info, ['setup', 'edge', 'gw-300', id], { config: docsExample });
    refusedInOneLine(
      r,
      2,
      /^podvlan: VLAN 300 from pod name "gw-300" belongs to network storage \(VLAN 300\) on bridge vr_edge, not to network frontend$/,
    );
    expect(await bridgePorts(info, BRIDGE)).toEqual([]);
    expect((await podExec(info, id, ['ip', 'link'])).stdout).not.toMatch(/net1/);
    expect(stateFiles(join(dir, 'docs', 'state'))).toEqual([]);
  });

  it('still puts gw-120 on VLAN 120 and storage on VLAN 300', async () => {
    const r = await runPlugin(info, ['setup', 'edge', 'gw-120', id], { config: docsExample });
    expect(r.exitCode, r.all).toBe(0);
    expect(r.all).toMatch(/net1 \S+ vlan 120 /);
    expect(r.all).toMatch(/net2 10\.252\.0\.5\/24 vlan 300 /);
    const tags = await Promise.all((await bridgePorts(info, BRIDGE)).map((p) => portTag(info, p)));
    expect(tags.sort()).toEqual(['120', '300']);
    expect((await runPlugin(info, ['teardown', 'edge', 'gw-120', id], { config: docsExample })).exitCode).toBe(0);
  });

  it('with a range, refuses a tag outside it and takes one inside', async () => {
    const outside = await runPlugin(info, ['setup', 'edge', 'gw-120', id], { config: ranged });
    refusedInOneLine(
      outside,
      2,
      /^podvlan: VLAN 120 from pod name "gw-120" is outside VLAN range 20-99 of network frontend$/,
    );
    expect(await bridgePorts(info, BRIDGE)).toEqual([]);
    const inside = await runPlugin(info, ['setup', 'edge', 'gw-42', id], { config: ranged });
    expect(inside.exitCode, inside.all).toBe(0);
    const [port] = await bridgePorts(info, BRIDGE);
    expect(await portTag(info, port)).toBe('42');
    expect((await runPlugin(info, ['teardown', 'edge', 'gw-42', id], { config: ranged })).exitCode).toBe(0);
  });

  it('refuses a config whose range overlaps another network on the bridge, naming both and the bridge', async () => {
    const overlapping = writeConfig(info, join(dir, 'overlap'), [
      frontend({ fromPodName: '^gw-(\\d+)$', range: '200-399' }),
      storage,
    ]);
    const r = await runPlugin(info, ['init'], { config: overlapping });
    refusedInOneLine(
      r,
      3,
      /networks\.1\.vlan: network storage's VLAN 300 overlaps network frontend's VLAN range 200-399 on bridge vr_edge/,
    );
    const setup = await runPlugin(info, ['setup', 'edge', 'gw-42', id], { config: overlapping });
    expect(setup.exitCode, setup.all).toBe(3);
  });
});
