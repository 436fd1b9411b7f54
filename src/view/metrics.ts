// `podvlan metrics` as text: the node view (model.ts) as gauges and the calls' folded counters
// (state/call-summary.ts) as counters and histograms, in the Prometheus text exposition format
// 0.0.4 that node_exporter's textfile collector reads. Pure: one function of its inputs.
// Every series a scrape may look for is always written (0 included), so a count that falls to
// zero reads as 0, not as a series that vanished.
import { familyOfText } from '../ipam/ip';
import { CALLS } from '../state/call-log';
import { BUCKETS, type CallSummary, GC_RECLAIMED_KINDS } from '../state/call-summary';
import type { NodeView, ProblemCode } from './model';

/** An attachment's state: ok, or its first problem (model.ts judges them in this order). */
export const ATTACHMENT_STATES: ('ok' | ProblemCode)[] = [
  'ok',
  'no-port',
  'no-veth',
  'wrong-netns',
  'ofport',
  'error',
  'tag-differs',
  'address-differs',
];

type Labels = Record<string, string>;
interface Family {
  name: string;
  type: 'gauge' | 'counter' | 'histogram';
  help: string;
  samples: { suffix?: string; labels: Labels; value: number }[];
}

/** A label value as the format wants it: backslash, double quote and newline escaped. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

const escapeHelp = (text: string) => text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

function formatValue(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (!Number.isFinite(n)) return n > 0 ? '+Inf' : '-Inf';
  return String(n);
}

function render(families: Family[]): string {
  const lines: string[] = [];
  for (const f of families) {
    lines.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) {
      const labels = Object.entries(s.labels).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`);
      const set = labels.length > 0 ? `{${labels.join(',')}}` : '';
      lines.push(`${f.name}${s.suffix ?? ''}${set} ${formatValue(s.value)}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** The whole exposition. view is undefined when the node could not be read (podvlan_node_view_ok 0). */
export function metricsText(view: NodeView | undefined, calls: CallSummary, version: string): string {
  const info: Family[] = [
    {
      name: 'podvlan_info',
      type: 'gauge',
      help: 'Always 1: the podvlan version and the node name it runs as.',
      samples: [{ labels: { version, node: view?.node ?? '' }, value: 1 }],
    },
    {
      name: 'podvlan_node_view_ok',
      type: 'gauge',
      help: "1 when the node's state (OVSDB, links, allocators) was read for this output, 0 when not (only the call counters are then current).",
      samples: [{ labels: {}, value: view ? 1 : 0 }],
    },
  ];
  return render([...info, ...(view ? nodeFamilies(view) : []), ...callFamilies(calls)]);
}

function nodeFamilies(view: NodeView): Family[] {
  const networks = [
    ...new Set([...view.networks.map((n) => n.name), ...view.attachments.map((a) => a.attachment.network)]),
  ];
  const count = (network: string, state: string) =>
    view.attachments.filter((a) => a.attachment.network === network && a.state === state).length;
  const uplinks = view.bridges.flatMap((b) => b.uplinks.map((u) => ({ ...u, bridge: b.name })));
  return [
    {
      name: 'podvlan_attachments',
      type: 'gauge',
      help: "Attachments (a pod's interface on a network) on this node, by network and state: ok, or the first problem found.",
      samples: networks.flatMap((network) =>
        ATTACHMENT_STATES.map((state) => ({ labels: { network, state }, value: count(network, state) })),
      ),
    },
    {
      name: 'podvlan_pool_addresses',
      type: 'gauge',
      help: "Addresses of a network's pool (family ipv4 or ipv6; any for a delegated plugin's), used and free (beyond 2^53 the nearest double; used: on this node for host-local and static pools, cluster-wide for etcd; a delegated IPAM plugin's: used only).",
      samples: view.networks.flatMap((n) =>
        (n.pools ?? (n.pool ? [n.pool] : [])).flatMap((pool) => {
          const states = pool.type === 'delegated' ? (['used'] as const) : (['used', 'free'] as const);
          const name = pool.subnet ?? pool.type;
          // A dual-stack network has one pool per family; a delegated plugin's may give either.
          const family = pool.subnet ? (familyOfText(pool.subnet) === 4 ? 'ipv4' : 'ipv6') : 'any';
          return states.map((state) => ({
            labels: { network: n.name, pool: name, family, state },
            value: pool[state],
          }));
        }),
      ),
    },
    {
      name: 'podvlan_vlans_in_use',
      type: 'gauge',
      help: "Distinct VLANs this node's attachments of a network carry.",
      samples: view.networks.map((n) => ({ labels: { network: n.name }, value: n.inUse.length })),
    },
    {
      name: 'podvlan_vlan_pods',
      type: 'gauge',
      help: 'Pods on this node attached to a VLAN of a network.',
      samples: view.networks.flatMap((n) =>
        n.inUse.map((u) => ({ labels: { network: n.name, vlan: String(u.vlan) }, value: u.pods })),
      ),
    },
    {
      name: 'podvlan_network_problems',
      type: 'gauge',
      help: 'Problems found with a network (as podvlan networks lists them), by code: uplink-vlans, uplink-missing, no-bridge, pool-exhausted, pool-unreadable.',
      samples: view.networks.flatMap((n) => {
        const codes = new Map<string, number>();
        for (const p of n.problems) codes.set(p.code, (codes.get(p.code) ?? 0) + 1);
        return [...codes].sort().map(([code, value]) => ({ labels: { network: n.name, code }, value }));
      }),
    },
    {
      name: 'podvlan_bridge_present',
      type: 'gauge',
      help: 'Whether a configured bridge exists in OVSDB (1) or not (0).',
      samples: view.bridges.map((b) => ({ labels: { bridge: b.name }, value: b.exists ? 1 : 0 })),
    },
    {
      name: 'podvlan_uplink_present',
      type: 'gauge',
      help: 'Whether a configured uplink is a port of its bridge (1) or not (0): run podvlan init.',
      samples: uplinks.map((u) => ({ labels: { bridge: u.bridge, uplink: u.name }, value: u.exists ? 1 : 0 })),
    },
    {
      name: 'podvlan_uplink_trunk_missing_vlans',
      type: 'gauge',
      help: 'VLANs in use or declared on the bridge that the uplink does not carry: traffic on them stays on this node.',
      samples: uplinks.map((u) => ({ labels: { bridge: u.bridge, uplink: u.name }, value: u.missing.length })),
    },
    {
      name: 'podvlan_uplink_trunk_extra_vlans',
      type: 'gauge',
      help: 'VLANs the uplink carries that no network on its bridge declares.',
      samples: uplinks.map((u) => ({ labels: { bridge: u.bridge, uplink: u.name }, value: u.extra.length })),
    },
  ];
}

function callFamilies(s: CallSummary): Family[] {
  const histogram = CALLS.flatMap((call) => {
    const { buckets, sumMicros, ok, failed } = s.calls[call];
    let below = 0;
    const bounds = [...BUCKETS.map(String), '+Inf'].map((le) => {
      below += buckets[le] ?? 0;
      return { suffix: '_bucket', labels: { call, le }, value: below };
    });
    return [
      ...bounds,
      { suffix: '_sum', labels: { call }, value: sumMicros / 1e6 },
      { suffix: '_count', labels: { call }, value: ok + failed },
    ];
  });
  return [
    {
      name: 'podvlan_calls_total',
      type: 'counter',
      help: 'Calls of setup and teardown (exec plugin) and of ADD, DEL and CHECK (CNI) that reached the state directory, by result.',
      samples: CALLS.flatMap((call) =>
        (['ok', 'failed'] as const).map((result) => ({ labels: { call, result }, value: s.calls[call][result] })),
      ),
    },
    {
      name: 'podvlan_call_failures_total',
      type: 'counter',
      help: 'Failed calls by error kind (the exit code of each kind is in docs/operating.md).',
      samples: CALLS.flatMap((call) =>
        Object.entries(s.calls[call].kinds)
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([kind, n]) => ({ labels: { call, kind }, value: n })),
      ),
    },
    {
      name: 'podvlan_call_duration_seconds',
      type: 'histogram',
      help: "Wall time of a call, from its process's start (in the resident agent: from when the agent took it).",
      samples: histogram,
    },
    {
      name: 'podvlan_gc_runs_total',
      type: 'counter',
      help: 'Runs of podvlan gc (not --dry-run) that completed.',
      samples: [{ labels: {}, value: s.gc.runs }],
    },
    {
      name: 'podvlan_gc_reclaimed_total',
      type: 'counter',
      help: 'What podvlan gc reclaimed, one per action, by kind (a removed port takes its veth, addresses and VLAN membership along: counted as port).',
      samples: GC_RECLAIMED_KINDS.map((kind) => ({ labels: { kind }, value: s.gc.reclaimed[kind] ?? 0 })),
    },
    {
      name: 'podvlan_call_log_dropped_files_total',
      type: 'counter',
      help: 'Rotated call logs deleted unread (podvlan metrics was not run for over 100 000 calls): their calls are not counted.',
      samples: [{ labels: {}, value: s.dropped }],
    },
    {
      name: 'podvlan_call_log_invalid_lines_total',
      type: 'counter',
      help: 'Lines of the call log not in the form the calls write (skipped).',
      samples: [{ labels: {}, value: s.invalid }],
    },
  ];
}
