// diagnose -o dot/svg and --all's text, pure: hops coloured by their worst level, the red box the
// faulty hop; --all's head line, one line per attachment and the hops of the bad ones.
import { describe, expect, it } from 'vitest';
import type { DiagnoseAllResult } from '../../src/commands/diagnose-all';
import { diagnosisGraph, drawDiagnosis } from '../../src/diagnose/draw';
import { type DiagnoseResult, type Hop, resultOf } from '../../src/diagnose/model';
import { renderAllText } from '../../src/diagnose/render';

const hop = (id: string, kind: Hop['kind'], levels: Hop['suspicions'][number]['level'][] = []): Hop => ({
  id,
  kind,
  node: 'node-a',
  object: `${kind} ${id}`,
  summary: 'read <here> & "there"',
  facts: {},
  suspicions: levels.map((level) => ({ level, code: `c-${level.toLowerCase()}`, message: `${level} at ${id}` })),
});

const result = (hops: Hop[]): DiagnoseResult =>
  resultOf(hops, { src: { namespace: 'ns', pod: 'a' }, dst: { namespace: 'ns', pod: 'b' }, network: 'net', vlan: 22 });

describe('diagnose pictures', () => {
  const r = result([
    hop('src-pod', 'pod-interface', ['INFO']),
    hop('src-veth', 'veth'),
    hop('src-port', 'access-port', ['WARNING', 'CRITICAL']),
    hop('bridge', 'bridge'),
    hop('dst-port', 'access-port', ['WARNING']),
  ]);

  it('one column per hop, each box toned by its worst level', () => {
    const g = diagnosisGraph(r);
    expect(g.columns.map((c) => c.boxes.map((b) => `${b.id} ${b.tone}`))).toEqual([
      ['src-pod muted'],
      ['src-veth good'],
      ['src-port bad'],
      ['bridge good'],
      ['dst-port warn'],
    ]);
    expect(g.edges.filter((e) => e.red).map((e) => `${e.from}-${e.to}`)).toEqual([
      'src-veth-src-port',
      'src-port-bridge',
    ]);
  });

  it('the SVG marks the faulty hop alone as a problem, escapes text; the dot colours it red', () => {
    const svg = drawDiagnosis(r, 'svg');
    expect([...svg.matchAll(/class="box problem"/g)]).toHaveLength(1);
    expect(svg).toContain('<g id="n-src-port" data-id="src-port" class="box problem">');
    expect(svg).toContain('<g id="n-dst-port" data-id="dst-port" class="box warn">');
    expect(svg).toContain('read &lt;here&gt; &amp; &quot;there&quot;');
    const dot = drawDiagnosis(r, 'dot');
    expect(dot).toMatch(/"src-port" \[[^\n]*color=red/);
    expect(dot).toMatch(/"dst-port" \[[^\n]*color="#ef6c00"/);
  });

  it('a path to another node stacks its uplinks in one column', () => {
    const g = diagnosisGraph(
      result([hop('bridge', 'bridge'), hop('uplink-eth2', 'uplink'), hop('uplink-eth3', 'uplink')]),
    );
    expect(g.columns.map((c) => c.boxes.length)).toEqual([1, 2]);
  });
});

describe('diagnose --all text', () => {
  const one = (pod: string, hops: Hop[]) => {
    const r = result(hops);
    return {
      src: { namespace: 'ns', pod, port: `pv-${pod}`, vlan: 22 },
      network: 'net',
      verdict: r.verdict,
      worst: r.worst,
      hops,
    };
  };
  it('a head line, a line per attachment with its worst code, then the hops of the bad ones', () => {
    const all: DiagnoseAllResult = {
      version: 1,
      node: 'node-a',
      worst: 'CRITICAL',
      attachments: [
        one('a', [hop('src-pod', 'pod-interface', ['INFO'])]),
        one('b', [hop('src-port', 'access-port', ['CRITICAL'])]),
      ],
    };
    const lines = renderAllText(all).split('\n');
    expect(lines[0]).toBe('CRITICAL: 1 of 2 attachments on node-a with a problem');
    expect(lines.find((l) => l.startsWith('ns/a '))).toMatch(/ OK\s*$/);
    expect(lines.find((l) => l.startsWith('ns/b '))).toMatch(/CRITICAL\s+c-critical at access-port src-port$/);
    expect(lines).toContain('ns/b on net: BLOCKED at access-port access-port src-port on node-a: CRITICAL at src-port');
    expect(lines.some((l) => l.includes('ns/a on net'))).toBe(false);
  });
});
