// topology's picture from a NodeView built by hand: which boxes and edges, what is red, and that
// both renderings parse (SVG: well-formed XML, hostile text escaped; dot: graphviz's grammar,
// checked by `dot` itself when graphviz is installed).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { assemble } from '../../src/view/assemble';
import { escapeDot, renderDot } from '../../src/view/dot';
import type { Graph } from '../../src/view/graph';
import { escapeXml, renderSvg, xmlId } from '../../src/view/svg';
import { topologyGraph } from '../../src/view/topology';
import { xmlError } from '../support/xml';
import { attachment, BRIDGE, healthy } from './fixtures/node-facts';

const pods = [
  attachment({ pod: 'web', ip: '10.20.1.10/16' }),
  attachment({ pod: 'api', ip: '10.20.1.11/16' }),
  attachment({ namespace: 'shop', pod: 'db', network: 'pooled', tag: 301 }),
];
const broken = () => {
  const f = healthy(pods);
  f.veths.delete(pods[0].port); // web's host veth gone
  return assemble(f);
};
const hostile: Graph = {
  title: 'a <b> & "c" \u0007',
  columns: [
    {
      title: "it's",
      boxes: [{ id: 'x:"1"<2>&', lines: [{ text: '</g><script>&amp;', red: true }], red: true, tooltip: 'a\nb' }],
    },
    { title: 'y', boxes: [{ id: 'y\\1', lines: [{ text: 'back\\slash "quote"', strong: true }] }] },
  ],
  edges: [{ from: 'x:"1"<2>&', to: 'y\\1', label: 'l"<', red: true }],
  notes: [{ text: 'problem: <x>', red: true }],
};

describe('the topology graph', () => {
  it('columns uplinks, bridges, ports, pods; an edge per uplink, port and pod interface', () => {
    const g = topologyGraph(assemble(healthy(pods)));
    expect(g.columns.map((c) => [c.title, c.boxes.map((b) => b.id)])).toEqual([
      ['uplinks', [`uplink:${BRIDGE}/nic2`]],
      ['bridges', [`bridge:${BRIDGE}`]],
      ['ports', [pods[1], pods[0], pods[2]].map((p) => `port:${p.port}`)], // as list sorts them
      ['pods', ['pod:default/api', 'pod:default/web', 'pod:shop/db']],
    ]);
    expect(g.edges).toHaveLength(1 + 2 * pods.length);
    expect(g.edges.every((e) => !e.red)).toBe(true);
    expect(g.notes).toEqual([]);
    expect(g.title).toBe('podvlan topology of node node-a: all ok');
    const uplink = g.columns[0].boxes[0];
    expect(uplink.lines.map((l) => l.text)).toEqual(['nic2', 'trunks 22,300-303']);
    const pod = g.columns[3].boxes[1];
    expect(pod.lines.map((l) => l.text)).toEqual([
      'default/web',
      `container ${pods[0].containerId.slice(0, 12)}`,
      'eth1 10.20.1.10/16',
    ]);
  });

  it('a broken attachment: its port, its pod and their edges red, its problem under the picture; the rest not', () => {
    const g = topologyGraph(broken());
    const red = g.columns.flatMap((c) => c.boxes.filter((b) => b.red).map((b) => b.id));
    expect(red).toEqual([`port:${pods[0].port}`, 'pod:default/web']);
    expect(g.edges.filter((e) => e.red).map((e) => e.to)).toEqual([`port:${pods[0].port}`, 'pod:default/web']);
    expect(g.notes).toEqual([
      { text: `no-veth: host veth ${pods[0].port} of default/web on tenant is missing`, red: true },
    ]);
    expect(g.title).toBe('podvlan topology of node node-a: 1 problem');
  });

  it('a tag changed by hand and a trunk lacking a VLAN: says both, once each', () => {
    const f = healthy(pods.map((a, i) => (i === 1 ? { ...a, tag: 99 } : a)));
    f.ovs.uplinkPorts.get('nic2')!.trunks = [22, 300];
    const g = topologyGraph(assemble(f));
    const port = g.columns[2].boxes.find((b) => b.id === `port:${pods[1].port}`)!;
    expect(port.lines[1]).toEqual({ text: 'tenant tag 99 (set 22)', red: true });
    expect(g.columns[0].boxes[0]).toMatchObject({ red: true });
    expect(g.columns[0].boxes[0].lines.map((l) => l.text)).toContain('lacks 99,301-303');
    expect(g.notes.map((n) => n.text.split(':')[0])).toEqual(['uplink-vlans', 'tag-differs']);
  });

  it('a pod trunk port says its trunks, and what setup gave it when they were changed by hand', () => {
    const router = {
      ...attachment({ namespace: 'vnf', pod: 'router-0', network: 'vnf' }),
      tag: 0,
      vlan: undefined,
      trunks: '100-110',
      recordedTrunks: '100-110',
    };
    const lineOf = (x: typeof router) => {
      const g = topologyGraph(assemble(healthy([pods[0], x])));
      return g.columns[2].boxes.find((b) => b.id === `port:${router.port}`)!.lines[1];
    };
    expect(lineOf(router)).toEqual({ text: 'vnf trunk 100-110', red: false });
    expect(lineOf({ ...router, trunks: '' })).toEqual({ text: 'vnf trunk all (set 100-110)', red: true });
    const g = topologyGraph(assemble(healthy([pods[0], router])));
    expect(g.columns[1].boxes[0].lines.map((l) => l.text)).toContain('vnf: 100-110(1)');
  });
});

describe('svg', () => {
  it('is well-formed XML, with a box per node, problems red', () => {
    const svg = renderSvg(topologyGraph(broken()));
    expect(xmlError(svg)).toBeUndefined();
    expect(svg.match(/<g id=/g)).toHaveLength(1 + 1 + 3 + 3);
    expect(svg).toContain(`data-id="port:${pods[0].port}" class="box problem"`);
    expect(svg).toContain(`data-id="port:${pods[1].port}" class="box"`);
    expect(svg).toMatch(/<text [^>]*fill="#c62828" class="problem">no-veth: host veth/);
  });

  it('escapes every text and id; ids stay unique and valid', () => {
    const svg = renderSvg(hostile);
    expect(xmlError(svg)).toBeUndefined();
    expect(svg).not.toContain('<script>');
    expect(svg).toContain('&lt;/g&gt;&lt;script&gt;&amp;amp;');
    expect(svg).toContain('data-id="x:&quot;1&quot;&lt;2&gt;&amp;"');
    expect(svg).not.toContain(String.fromCharCode(7));
    expect(xmlId('port:pv1')).toBe('n-port_pv1');
    expect(escapeXml(`'`)).toBe('&apos;');
  });

  it('the checker itself finds what is not well-formed', () => {
    expect(xmlError('<a><b></a></b>')).toMatch(/wrong element/);
    expect(xmlError('<a x="1" x="2"/>')).toMatch(/repeated/);
    expect(xmlError('<a>&</a>')).toMatch(/entity/);
    expect(xmlError('<a x="<"/>')).toMatch(/malformed/);
    expect(xmlError('<a/><b/>')).toMatch(/root/);
    expect(xmlError('<a>')).toMatch(/not closed/);
  });
});

describe('dot', () => {
  it('declares every box once in its column rank, every edge between declared boxes, problems red', () => {
    const dot = renderDot(topologyGraph(broken()));
    expect(dot.startsWith('digraph podvlan {')).toBe(true);
    expect(dot.trimEnd().endsWith('}')).toBe(true);
    const declared = [...dot.matchAll(/^ {4}"([^"]+)" \[/gm)].map((m) => m[1]);
    expect(new Set(declared).size).toBe(declared.length);
    for (const m of dot.matchAll(/^ {2}"([^"]+)" -> "([^"]+)"/gm)) {
      expect(declared).toContain(m[1]);
      expect(declared).toContain(m[2]);
    }
    expect(dot.match(/rank=same/g)).toHaveLength(4);
    expect(dot).toMatch(new RegExp(`"port:${pods[0].port}" \\[[^\\n]*color=red`));
    expect(dot).not.toMatch(new RegExp(`"port:${pods[1].port}" \\[[^\\n]*color=red`));
  });

  it('escapes quotes and backslashes in ids and labels', () => {
    const dot = renderDot(hostile);
    expect(dot).toContain('"x:\\"1\\"<2>&"');
    expect(dot).toContain('label="back\\\\slash \\"quote\\"\\l"');
    expect(escapeDot('a"b\\c')).toBe('a\\"b\\\\c');
    // Outside quoted strings, braces balance and nothing is left open.
    const bare = dot.replace(/"(?:[^"\\]|\\.)*"/g, '""');
    expect(bare).not.toContain('"""');
    expect(bare.split('{').length).toBe(bare.split('}').length);
  });

  it.runIf(existsSync('/usr/bin/dot'))('graphviz draws both (installed by scripts/dev.sh)', () => {
    for (const g of [topologyGraph(broken()), hostile]) {
      const out = execFileSync('/usr/bin/dot', ['-Tsvg'], { input: renderDot(g) }).toString();
      expect(out).toContain('<svg');
    }
  });
});
