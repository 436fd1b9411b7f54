// podvlan diagnose towards a pod of another node, with etcd address pools: the address's owner
// record names the pod and its node, so diagnose says where DST lives and which node's snapshot
// completes the path, and takes DST as namespace/pod of that node.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { DiagnoseResult } from '../../src/diagnose/model';
import { type EtcdServer, startEtcd } from '../integration/etcd-server';
import { type NodeInfo, SERVICE_ADDRESS, startNodes } from '../support/node';
import { runPlugin, teardownAll, writeConfig } from '../support/plugin';
import { startContainer } from '../support/sandbox';

const info = inject('sandbox');
const BR = 'dgl_br';
const PREFIX = '/podvlan-dgl';
const nodes: NodeInfo[] = [];
const configs: string[] = [];
let etcd: EtcdServer;
const run = (i: number, ...args: string[]) => runPlugin(nodes[i], args, { config: configs[i] });

beforeAll(async () => {
  const [started, list] = await Promise.all([
    startEtcd({ netns: info.netns, host: SERVICE_ADDRESS }),
    startNodes(info, ['la', 'lb']),
  ]);
  etcd = started;
  nodes.push(...list);
  for (const i of [0, 1]) {
    configs[i] = writeConfig(
      nodes[i],
      join(info.dir, 'diagnose-locate', `n${i}`),
      [{ name: 'v24', bridge: BR, vlan: { id: 24 }, ipam: { type: 'etcd', subnet: '10.215.24.0/24' } }],
      {
        nodeName: `dgl-${i}`,
        vswitchdCtl: nodes[i].vswitchdCtl,
        bridges: [{ name: BR, datapathType: 'netdev' }],
        etcd: { endpoints: [etcd.url], prefix: PREFIX, timeoutMs: 2000 },
        timeoutMs: 5000,
      },
    );
    expect((await run(i, 'init')).exitCode).toBe(0);
    const r = await run(i, 'setup', 'dgl', i === 0 ? 'a' : 'b', await startContainer(info));
    expect(r.exitCode, r.all).toBe(0);
  }
});
afterAll(async () => {
  for (const i of [0, 1]) if (nodes[i] && configs[i]) await teardownAll(nodes[i], configs[i], [BR]);
  await Promise.all(nodes.map((n) => n.stop()));
  await etcd?.destroy();
});

describe('podvlan diagnose with etcd: where DST lives', () => {
  it('DST as namespace/pod of another node: its address and node from etcd, and the snapshot it needs', async () => {
    const r = await run(0, 'diagnose', 'dgl/a', 'dgl/b', '-o', 'json');
    expect(r.stderr, r.all).toBe('');
    const d = JSON.parse(r.stdout) as DiagnoseResult;
    expect(d.dst).toMatchObject({ namespace: 'dgl', pod: 'b', node: 'dgl-1' });
    expect(d.dst.address).toMatch(/^10\.215\.24\.\d+$/);
    const info = d.hops.at(-1)?.suspicions.find((s) => s.code === 'dst-on-node');
    expect(info?.level).toBe('INFO');
    expect(info?.message).toContain(`${d.dst.address} is dgl/b's on node dgl-1`);
    expect(info?.hint).toMatch(/^podvlan collect dgl\/b --from 10\.215\.24\.\d+ -o json > peer\.json /);
    // By address too.
    const byAddress = JSON.parse((await run(0, 'diagnose', 'dgl/a', d.dst.address as string, '-o', 'json')).stdout);
    expect(byAddress.dst).toMatchObject({ namespace: 'dgl', pod: 'b', node: 'dgl-1' });
    const text = await run(0, 'diagnose', 'dgl/a', 'dgl/b');
    expect(text.stdout).toContain("is dgl/b's on node dgl-1 (etcd)");
  });

  it('a pod etcd does not know is still refused as not attached', async () => {
    const r = await run(0, 'diagnose', 'dgl/a', 'dgl/nobody');
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain('dgl/nobody is not attached on this node');
  });
});
