// The views on a real node: one simulated node (own OVS), an uplink made by init from a veth,
// pods on VLAN 22 (host-local addresses) and VLAN 33 (etcd addresses). Healthy, everything is ok
// in `list`, `networks` and `topology`; then attachments are broken by hand (host veth deleted,
// tag changed, pod end moved to another namespace, port deleted) and the uplink made to drop a
// VLAN in use, and each shows in all three views. No view changes anything: OVSDB, the state
// directory and the links are the same before and after. A silent etcd delays `networks` by at
// most its bound and shows as the pool's problem.
import { execa } from 'execa';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type EtcdServer, startEtcd } from '../integration/etcd-server';
import { type NodeInfo, SERVICE_ADDRESS, startNodes } from '../support/node';
import { runPlugin, teardownAll, writeConfig } from '../support/plugin';
import { docker, startContainer } from '../support/sandbox';

const info = inject('sandbox');
const BR = 'vw_br';
const NIC = 'vnic'; // the node's uplink: one end of a veth whose other end stays in the node
const PREFIX = '/podvlan-views';
let etcd: EtcdServer;
let node: NodeInfo;
let config: string;
const dir = join(info.dir, 'views');

const networks = [
  {
    name: 'v22',
    bridge: BR,
    match: { namespace: '^v22$' },
    vlan: { id: 22 },
    ipam: { type: 'host-local', subnet: '10.251.22.0/24', rangeStart: '10.251.22.10', rangeEnd: '10.251.22.13' },
  },
  {
    name: 'v33',
    bridge: BR,
    match: { namespace: '^v33$' },
    vlan: { id: 33 },
    ipam: {
      type: 'etcd',
      subnet: '10.251.33.0/24',
      rangeStart: '10.251.33.10',
      rangeEnd: '10.251.33.19',
      exclude: ['10.251.33.12'],
    },
  },
];
const writeFor = (sub: string, endpoint: string) =>
  writeConfig(node, join(dir, sub), networks, {
    nodeName: 'views-node',
    stateDir: join(dir, 'state'), // one state for both configs
    etcd: { endpoints: [endpoint], prefix: PREFIX, timeoutMs: 5000 },
    bridges: [{ name: BR, datapathType: 'netdev', uplinks: [NIC] }],
  });
const run = (...args: string[]) => runPlugin(node, args, { config });
const vsctl = (...args: string[]) => execa('ovs-vsctl', [`--db=${node.ovsdb}`, ...args]);

interface Row {
  namespace: string;
  pod: string;
  port: string;
  containerId: string;
  ip?: string;
  state: string;
  problems: { code: string; message: string }[];
}
const listJson = async (): Promise<Row[]> => {
  const r = await run('list', '-o', 'json');
  expect(r.exitCode, r.all).toBe(0);
  return JSON.parse(r.stdout);
};
// biome-ignore lint/suspicious/noExplicitAny: the JSON as printed
const networksJson = async (): Promise<any> => {
  const r = await run('networks', '-o', 'json');
  expect(r.exitCode, r.all).toBe(0);
  return JSON.parse(r.stdout);
};

/** The SVG and dot of `topology`, each checked by a real parser (xmllint, graphviz's dot). */
async function topology(): Promise<{ svg: string; dot: string; ms: number }> {
  const svg = await run('topology', '-o', 'svg');
  const dot = await run('topology', '-o', 'dot');
  expect(svg.exitCode, svg.all).toBe(0);
  expect(dot.exitCode, dot.all).toBe(0);
  const xml = await execa('xmllint', ['--noout', '-'], { input: svg.stdout, reject: false });
  expect(xml.exitCode, xml.stderr).toBe(0);
  const drawn = await execa('dot', ['-Tsvg'], { input: dot.stdout, reject: false });
  expect(drawn.exitCode, drawn.stderr).toBe(0);
  expect(drawn.stdout).toContain('<svg');
  return { svg: svg.stdout, dot: dot.stdout, ms: svg.ms };
}
/** Whether the box of `id` is drawn red, in the SVG (class problem) and in the dot (color=red). */
const redInSvg = (svg: string, id: string) =>
  new RegExp(`<g id="[^"]*" data-id="${id}" class="box problem">`).test(svg);
const redInDot = (dot: string, id: string) => new RegExp(`"${id}" \\[[^\\n]*color=red`).test(dot);

/** Everything a view could change: OVSDB's config (not ovs-vswitchd's statistics), state files, links. */
async function nodeState(): Promise<string> {
  const list = async (table: string, columns: string) =>
    (await vsctl('-f', 'csv', `--columns=${columns}`, 'list', table)).stdout.split('\n').sort().join('\n');
  const files: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else files.push(`${p} ${statSync(p).mtimeMs} ${readFileSync(p, 'utf8').length}`);
    }
  };
  walk(join(dir, 'state'));
  const links = (await execa('ip', ['-n', node.netns, '-o', 'link', 'show'])).stdout.replace(/\\\s+link\/.*$/gm, '');
  return [
    await list('Open_vSwitch', 'next_cfg,bridges'),
    await list('Bridge', '_uuid,name,ports,datapath_type,external_ids'),
    await list('Port', '_uuid,name,tag,trunks,vlan_mode,interfaces,external_ids'),
    await list('Interface', '_uuid,name,type,mtu_request,external_ids'),
    files.sort().join('\n'),
    links
      .split('\n')
      .map((l) => l.split(':')[1])
      .join(','),
  ].join('\n');
}

describe('list, networks and topology show the node and what is wrong with it', () => {
  const pods: Record<string, string> = {}; // name -> container id
  const portOf: Record<string, string> = {};
  beforeAll(async () => {
    mkdirSync(dir, { recursive: true });
    const [started, list] = await Promise.all([
      startEtcd({ netns: info.netns, host: SERVICE_ADDRESS }),
      startNodes(info, ['vw']),
    ]);
    etcd = started;
    node = list[0];
    await execa('ip', ['-n', node.netns, 'link', 'add', NIC, 'type', 'veth', 'peer', 'name', `${NIC}p`]);
    await execa('ip', ['-n', node.netns, 'link', 'set', NIC, 'up']);
    config = writeFor('cfg', etcd.url);
    const init = await run('init');
    expect(init.exitCode, init.all).toBe(0);
    expect(init.stdout).toContain(`uplink ${NIC} on ${BR}: added, trunks 22,33`);
    for (const [ns, pod] of [
      ['v22', 'a'],
      ['v22', 'b'],
      ['v22', 'c'],
      ['v33', 'd'],
      ['v33', 'e'],
    ]) {
      pods[pod] = await startContainer(info);
      const r = await run('setup', ns, pod, pods[pod]);
      expect(r.exitCode, r.all).toBe(0);
      portOf[pod] = /port (pv[0-9a-f]+)/.exec(r.stdout)![1];
    }
  });
  afterAll(async () => {
    if (node) await teardownAll(node, config, [BR]);
    await node?.stop();
    await etcd?.destroy();
  });

  it('a healthy node: every attachment ok, uplink carries the VLANs, pool usage counted, nothing red', async () => {
    const before = await nodeState();
    const rows = await listJson();
    expect(rows.map((r) => `${r.namespace}/${r.pod} ${r.state}`)).toEqual([
      'v22/a ok',
      'v22/b ok',
      'v22/c ok',
      'v33/d ok',
      'v33/e ok',
    ]);
    expect(rows.every((r) => r.problems.length === 0)).toBe(true);
    const table = await run('list');
    docs('list.txt', table.stdout);
    expect(table.stdout.split('\n')[0]).toMatch(/IP\s+STATE$/);
    expect(table.stdout.split('\n').slice(1)).toHaveLength(5); // no problem lines under it

    const view = await networksJson();
    const [v22, v33] = view.networks;
    expect(v22).toMatchObject({
      name: 'v22',
      bridge: BR,
      vlanSource: 'id',
      declared: '22',
      inUse: [{ vlan: 22, pods: 3 }],
      uplinks: [{ name: NIC, carries: true, missing: [] }],
      pool: { type: 'host-local', subnet: '10.251.22.0/24', size: 4, used: 3, free: 1 },
      attachments: { ok: 3, broken: 0 },
      problems: [],
    });
    expect(v33).toMatchObject({
      inUse: [{ vlan: 33, pods: 2 }],
      pool: { type: 'etcd', size: 9, used: 2, free: 7 },
      attachments: { ok: 2, broken: 0 },
      problems: [],
    });
    expect(view.bridges).toEqual([
      {
        name: BR,
        exists: true,
        datapathType: 'netdev',
        uplinks: [
          expect.objectContaining({ name: NIC, managed: true, exists: true, trunks: [22, 33], missing: [], extra: [] }),
        ],
      },
    ]);
    expect(view.problems).toEqual([]);
    const t = await run('networks');
    docs('networks.txt', t.stdout);
    docs('networks.json', JSON.stringify(view, null, 2));
    expect(t.stdout).toMatch(/^v22\s+vw_br\s+id 22\s+22\(3\)\s+3\s+vnic\s+3 used, 1 free of 4\s+-$/m);

    const { svg, dot, ms } = await topology();
    docs(
      'timings.txt',
      `list ${table.ms.toFixed(0)} ms, networks ${t.ms.toFixed(0)} ms, topology ${ms.toFixed(0)} ms\n`,
    );
    expect(svg).not.toContain('class="box problem"');
    expect(dot).not.toContain('color=red');
    for (const p of Object.values(portOf)) expect(svg).toContain(`data-id="port:${p}"`);
    expect(svg).toContain('10.251.22.10/24'); // read inside the pod
    expect(await nodeState()).toBe(before);
  });

  it('broken attachments and a trunk missing a VLAN in use show in list, networks and topology', async () => {
    // a: host veth deleted; b: tag changed; d: pod end moved to another namespace; e: port deleted.
    await execa('ip', ['-n', node.netns, 'link', 'del', portOf.a]);
    // One broken (the README's picture): its port and its pod are red, nothing else.
    const one = await topology();
    expect(one.svg.match(/class="box problem"/g)).toHaveLength(2);
    expect(redInSvg(one.svg, `port:${portOf.a}`)).toBe(true);
    expect(redInSvg(one.svg, 'pod:v22/a')).toBe(true);
    docs('topology-one-broken.svg', one.svg);
    await vsctl('set', 'Port', portOf.b, 'tag=99');
    const other = `${node.netns}-elsewhere`;
    await execa('ip', ['netns', 'add', other]);
    try {
      const pid = (await docker(info, ['inspect', '-f', '{{.State.Pid}}', pods.d])).stdout.trim();
      await execa('nsenter', ['-t', pid, '-n', 'ip', 'link', 'set', 'eth1', 'netns', other]);
      await vsctl('del-port', BR, portOf.e);
      await vsctl('set', 'Port', NIC, 'trunks=33');
      await checkBroken();
    } finally {
      await execa('ip', ['netns', 'del', other], { reject: false });
    }
  });

  async function checkBroken() {
    const before = await nodeState();
    const rows = await listJson();
    const state = Object.fromEntries(rows.map((r) => [r.pod, r.state]));
    expect(state).toEqual({ a: 'no-veth', b: 'tag-differs', c: 'ok', d: 'wrong-netns', e: 'no-port' });
    const b = rows.find((r) => r.pod === 'b')!;
    expect(b.problems).toEqual([
      { code: 'tag-differs', message: `port ${portOf.b} of v22/b on v22 has tag 99, podvlan set 22` },
    ]);
    const table = await run('list');
    expect(table.exitCode).toBe(0); // a view reports what is broken; it does not fail on it
    expect(table.stdout).toMatch(new RegExp(`^v22\\s+a\\s.*${portOf.a}.*\\sno-veth$`, 'm'));
    expect(table.stdout).toContain(`no-veth: host veth ${portOf.a} of v22/a on v22 is missing`);
    const only = await run('list', '--container', pods.d.slice(0, 12), '-o', 'json');
    expect(JSON.parse(only.stdout).map((r: Row) => r.state)).toEqual(['wrong-netns']);

    const view = await networksJson();
    const [v22, v33] = view.networks;
    expect(v22.attachments).toEqual({ ok: 1, broken: 2 });
    expect(v22.inUse).toEqual([
      { vlan: 22, pods: 2 },
      { vlan: 99, pods: 1 },
    ]);
    expect(v22.uplinks).toEqual([{ name: NIC, carries: false, missing: [22, 99] }]);
    expect(v22.problems.map((p: { code: string }) => p.code)).toEqual(['uplink-vlans']);
    expect(v33.uplinks).toEqual([{ name: NIC, carries: true, missing: [] }]);
    expect(v33.attachments).toEqual({ ok: 0, broken: 2 });
    expect(view.bridges[0].uplinks[0]).toMatchObject({ trunks: [33], missing: [22, 99], extra: [] });
    expect(view.problems).toEqual([
      { code: 'uplink-vlans', message: `uplink ${NIC} of bridge ${BR} does not carry VLAN 22,99 (run podvlan init)` },
    ]);
    const t = await run('networks');
    expect(t.exitCode).toBe(0);
    expect(t.stdout).toMatch(/^v22\s.*\s3 \(2 broken\)\s+vnic lacks 22,99\s.*uplink-vlans$/m);

    const { svg, dot } = await topology();
    for (const p of [portOf.a, portOf.b, portOf.d, portOf.e]) {
      expect(redInSvg(svg, `port:${p}`), p).toBe(true);
      expect(redInDot(dot, `port:${p}`), p).toBe(true);
    }
    expect(redInSvg(svg, `port:${portOf.c}`)).toBe(false);
    expect(redInDot(dot, `port:${portOf.c}`)).toBe(false);
    expect(redInSvg(svg, `uplink:${BR}/${NIC}`)).toBe(true);
    expect(redInDot(dot, `uplink:${BR}/${NIC}`)).toBe(true);
    expect(svg).toContain('tag 99 (set 22)');
    docs('topology.svg', svg);
    docs('topology.dot', dot);
    docs('list-broken.txt', table.stdout);
    docs('networks-broken.txt', t.stdout);
    expect(await nodeState()).toBe(before);
  }

  it('a silent etcd delays networks by its bound only, and shows as the pool problem', async () => {
    const port = '23791';
    const silent = execa(
      'ip',
      [
        'netns',
        'exec',
        node.netns,
        process.execPath,
        '-e',
        `require('net').createServer(()=>{}).listen(${port},'127.0.0.1')`,
      ],
      { reject: false },
    );
    try {
      await new Promise((r) => setTimeout(r, 500));
      const r = await runPlugin(node, ['networks', '-o', 'json'], {
        config: writeFor('silent', `http://127.0.0.1:${port}`),
      });
      expect(r.exitCode, r.all).toBe(0);
      expect(r.ms).toBeLessThan(4500); // the 2 s bound and a process start, not the 5 s etcd timeout
      const v33 = JSON.parse(r.stdout).networks[1];
      expect(v33.pool).toBeUndefined();
      expect(v33.problems).toContainEqual({
        code: 'pool-unreadable',
        message: 'addresses of v33 in etcd: etcd did not answer within 2000 ms',
      });
    } finally {
      silent.kill();
      await silent;
    }
  });
});

/** With PODVLAN_DOC_OUT=DIR, outputs as the docs show them (docs/operating.md, docs/img). */
function docs(name: string, text: string) {
  const out = process.env.PODVLAN_DOC_OUT;
  if (!out) return;
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, name), text);
}
