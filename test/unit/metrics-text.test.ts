// The exposition: a fixture node view and folded calls to Prometheus text, checked line by line
// and, where Debian's promtool is installed, by `promtool check metrics`.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Attachment } from '../../src/ovs/attachment';
import { emptySummary, foldLine } from '../../src/state/call-summary';
import { escapeLabelValue, metricsText } from '../../src/view/metrics';
import type { AttachmentView, NodeView } from '../../src/view/model';

const attachment = (pod: string, network: string, tag: number): Attachment => ({
  namespace: 'default',
  pod,
  containerId: 'c'.repeat(64),
  network,
  interface: 'eth1',
  bridge: 'br1',
  port: `pv${pod}`,
  tag,
  ips: [],
  mac: '02:00:00:00:00:01',
});
const ok = (a: Attachment): AttachmentView => ({ attachment: a, state: 'ok', problems: [] });
const broken = (a: Attachment, code: 'no-veth' | 'tag-differs'): AttachmentView => ({
  attachment: a,
  state: code,
  problems: [{ code, message: `${a.port}: ${code}` }],
});

const VIEW: NodeView = {
  node: 'node-a',
  bridges: [
    {
      name: 'br1',
      exists: true,
      datapathType: 'netdev',
      uplinks: [
        {
          name: 'up1',
          bridge: 'br1',
          managed: true,
          exists: true,
          trunks: [22],
          missing: [33],
          extra: [],
        },
      ],
    },
    { name: 'br2', exists: false, datapathType: 'system', uplinks: [] },
  ],
  networks: [
    {
      name: 'blue',
      bridge: 'br1',
      vlanSource: 'id',
      declared: '22',
      inUse: [{ vlan: 22, pods: 2 }],
      uplinks: [{ name: 'up1', carries: true, missing: [] }],
      pool: { type: 'host-local', subnet: '10.1.0.0/24', size: 253, used: 2, free: 251 },
      attachments: { ok: 1, broken: 1 },
      problems: [],
    },
    {
      name: 'green',
      bridge: 'br1',
      vlanSource: 'pool',
      declared: '300-303',
      inUse: [{ vlan: 33, pods: 1 }],
      uplinks: [{ name: 'up1', carries: false, missing: [33] }],
      pool: { type: 'delegated', size: 0, used: 1, free: 0 },
      attachments: { ok: 0, broken: 1 },
      problems: [{ code: 'uplink-vlans', message: 'uplink up1 does not carry VLAN 33' }],
    },
  ],
  attachments: [
    ok(attachment('a', 'blue', 22)),
    broken(attachment('b', 'blue', 22), 'no-veth'),
    broken(attachment('c', 'green', 34), 'tag-differs'),
  ],
  problems: [],
};

function calls() {
  const s = emptySummary();
  for (const line of [
    'call setup ok - 0.0180 1',
    'call setup ok - 0.0300 1',
    'call setup failed invalid-input 0.0040 1',
    'call DEL ok - 2.0000 1',
    'gc 1 port=1 veth=1 address=1 vlan=0 record=1 temp_file=0',
  ])
    foldLine(s, line);
  return s;
}

describe('metricsText', () => {
  const text = metricsText(VIEW, calls(), '0.1.0');
  const lines = text.split('\n');

  it('counts attachments per network and state, every state written, 0 included', () => {
    expect(lines).toContain('podvlan_attachments{network="blue",state="ok"} 1');
    expect(lines).toContain('podvlan_attachments{network="blue",state="no-veth"} 1');
    expect(lines).toContain('podvlan_attachments{network="blue",state="tag-differs"} 0');
    expect(lines).toContain('podvlan_attachments{network="green",state="tag-differs"} 1');
    expect(lines.filter((l) => l.startsWith('podvlan_attachments{'))).toHaveLength(2 * 8);
  });

  it('gives pools, VLANs, network problems, bridges and uplinks', () => {
    for (const line of [
      'podvlan_pool_addresses{network="blue",pool="10.1.0.0/24",family="ipv4",state="used"} 2',
      'podvlan_pool_addresses{network="blue",pool="10.1.0.0/24",family="ipv4",state="free"} 251',
      'podvlan_pool_addresses{network="green",pool="delegated",family="any",state="used"} 1',
      'podvlan_vlans_in_use{network="blue"} 1',
      'podvlan_vlan_pods{network="green",vlan="33"} 1',
      'podvlan_network_problems{network="green",code="uplink-vlans"} 1',
      'podvlan_bridge_present{bridge="br2"} 0',
      'podvlan_uplink_present{bridge="br1",uplink="up1"} 1',
      'podvlan_uplink_trunk_missing_vlans{bridge="br1",uplink="up1"} 1',
      'podvlan_uplink_trunk_extra_vlans{bridge="br1",uplink="up1"} 0',
      'podvlan_info{version="0.1.0",node="node-a"} 1',
      'podvlan_node_view_ok 1',
    ])
      expect(lines).toContain(line);
    expect(text).not.toContain('pool="delegated",family="any",state="free"'); // a delegated plugin's range is its own
  });

  it('gives call counters, failures by kind, gc, and a cumulative histogram whose +Inf is the count', () => {
    for (const line of [
      'podvlan_calls_total{call="setup",result="ok"} 2',
      'podvlan_calls_total{call="setup",result="failed"} 1',
      'podvlan_calls_total{call="CHECK",result="ok"} 0',
      'podvlan_call_failures_total{call="setup",kind="invalid-input"} 1',
      'podvlan_call_duration_seconds_bucket{call="setup",le="0.005"} 1',
      'podvlan_call_duration_seconds_bucket{call="setup",le="0.01"} 1',
      'podvlan_call_duration_seconds_bucket{call="setup",le="0.025"} 2',
      'podvlan_call_duration_seconds_bucket{call="setup",le="0.05"} 3',
      'podvlan_call_duration_seconds_bucket{call="setup",le="+Inf"} 3',
      'podvlan_call_duration_seconds_sum{call="setup"} 0.052',
      'podvlan_call_duration_seconds_count{call="setup"} 3',
      'podvlan_call_duration_seconds_bucket{call="DEL",le="1"} 0',
      'podvlan_call_duration_seconds_bucket{call="DEL",le="2.5"} 1',
      'podvlan_gc_runs_total 1',
      'podvlan_gc_reclaimed_total{kind="port"} 1',
      'podvlan_gc_reclaimed_total{kind="vlan"} 0',
    ])
      expect(lines).toContain(line);
  });

  it('puts HELP and TYPE before each family, once, and every sample under its own family', () => {
    let family = '';
    const seen = new Set<string>();
    for (const line of lines.filter(Boolean)) {
      const help = /^# HELP (\w+) \S/.exec(line);
      if (help) {
        expect(seen.has(help[1])).toBe(false);
        seen.add(help[1]);
        family = help[1];
        continue;
      }
      if (line.startsWith('# TYPE ')) {
        expect(line).toMatch(new RegExp(`^# TYPE ${family} (gauge|counter|histogram)$`));
        continue;
      }
      expect(line.startsWith(family)).toBe(true);
    }
    expect(text.endsWith('\n')).toBe(true);
  });

  it('without the node view: the counters and podvlan_node_view_ok 0', () => {
    const alone = metricsText(undefined, emptySummary(), '0.1.0');
    expect(alone).toContain('podvlan_node_view_ok 0\n');
    expect(alone).toContain('podvlan_calls_total{call="setup",result="ok"} 0\n');
    expect(alone).not.toContain('podvlan_attachments');
  });

  it('escapes label values', () => {
    expect(escapeLabelValue('a"b\\c\nd')).toBe('a\\"b\\\\c\\nd');
    const odd = { ...VIEW, node: 'x"y\\z\n' };
    expect(metricsText(odd, emptySummary(), '1')).toContain('podvlan_info{version="1",node="x\\"y\\\\z\\n"} 1');
  });

  it.skipIf(!existsSync('/usr/bin/promtool'))('passes promtool check metrics', () => {
    for (const input of [text, metricsText(undefined, emptySummary(), '0.1.0')]) {
      const r = spawnSync('promtool', ['check', 'metrics'], { input, encoding: 'utf8' });
      expect(`${r.stdout}${r.stderr}`).toBe('');
      expect(r.status).toBe(0);
    }
  });
});
