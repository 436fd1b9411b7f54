// `diagnose --probe`: a live test from the source's namespace after the static checks. Two pings
// (a small one, then one of the network's MTU with DF set), the neighbour entry they leave, and
// the datapath's per-port packet counters along the path before and after (dpctl/show -s over
// the unixctl socket). A probe that fails where every hop of this node is clean points past this
// node: the wire between the nodes (the physical switch) or the other node.
import { isIpText } from '../ipam/ip';
import { isInterfaceName } from '../names';
import { defaultVswitchdCtl, UnixctlClient } from '../ovs/unixctl';
import type { PathFacts } from './facts';
import { type Hop, LEVELS } from './model';

export interface PingProbe {
  id: 'ping' | 'ping-mtu';
  command: string[]; // as run, under nsenter into the source's namespace
  size: number; // ICMP payload bytes
  dontFragment: boolean;
  sent: number;
  received: number;
  ok: boolean;
  error?: string; // ping's own complaint ("message too long, mtu=1400"), or why it could not run
}
export interface NeighbourProbe {
  id: 'neighbour';
  address: string;
  state?: string; // REACHABLE, STALE, FAILED, INCOMPLETE ...; absent: no entry
  mac?: string;
  ok: boolean;
}
export interface CountersProbe {
  id: 'counters';
  /** Datapath packets each port received and sent while the pings ran (ports on the path only). */
  ports: { port: string; rx: number; tx: number }[];
  ok: boolean;
  error?: string;
}
export type Probe = PingProbe | NeighbourProbe | CountersProbe;

const COUNT = 2;
/** IP and ICMP headers in front of a ping's payload: 20 + 8 for IPv4, 40 + 8 for IPv6 (whose
 * routers never fragment: an IPv6 packet over a link's MTU is dropped with Packet Too Big). */
export const pingHeaders = (to: string) => (to.includes(':') ? 48 : 28);
const text = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** Run the probes of a gathered path; never throws (a probe that cannot run says why). */
export async function runProbes(path: PathFacts, ctl: string | undefined, timeoutMs: number): Promise<Probe[]> {
  const netns = path.src.netns?.path;
  const to = path.dstAddress;
  const ports = [path.src.port, ...(path.dst ? [path.dst.port] : (path.uplinks ?? []).map((u) => u.name))].filter(
    isInterfaceName,
  );
  if (!netns || !to || !isIpText(to)) {
    const why = !netns ? "the source's namespace could not be opened" : 'the destination address is not known';
    return [{ id: 'counters', ports: [], ok: false, error: `no probe: ${why}` }];
  }
  const before = await counters(ctl, timeoutMs).catch((err) => text(err));
  const small = await ping(netns, to, 56, false);
  const big = await ping(netns, to, path.network.mtu - pingHeaders(to), true);
  const after = typeof before === 'string' ? before : await counters(ctl, timeoutMs).catch((err) => text(err));
  const out: Probe[] = [small, big, await neighbour(netns, to, path.src.interface)];
  if (typeof before === 'string' || typeof after === 'string')
    out.push({ id: 'counters', ports: [], ok: false, error: String(typeof before === 'string' ? before : after) });
  else
    out.push({
      id: 'counters',
      ports: ports.map((port) => ({
        port,
        rx: (after.get(port)?.rx ?? 0) - (before.get(port)?.rx ?? 0),
        tx: (after.get(port)?.tx ?? 0) - (before.get(port)?.tx ?? 0),
      })),
      ok: true,
    });
  return out;
}

async function ping(netns: string, to: string, size: number, df: boolean): Promise<PingProbe> {
  // ping -6 for an IPv6 destination: -M do then forbids the sender's own fragmenting too.
  const family = to.includes(':') ? ['-6'] : [];
  const args = [
    ...family,
    '-n',
    '-q',
    '-c',
    String(COUNT),
    '-i',
    '0.2',
    '-W',
    '1',
    '-s',
    String(size),
    '-M',
    df ? 'do' : 'dont',
  ];
  const command = ['nsenter', `--net=${netns}`, 'ping', ...args, to];
  const base = { id: df ? 'ping-mtu' : 'ping', command, size, dontFragment: df } as const;
  try {
    const { execa } = await import('execa');
    const r = await execa(command[0], command.slice(1), { reject: false, timeout: 10_000, all: true });
    const m = /(\d+) packets transmitted, (\d+) received/.exec(r.stdout);
    const sent = m ? Number(m[1]) : 0;
    const received = m ? Number(m[2]) : 0;
    const complaint = (r.all ?? '').split('\n').find((l) => /ping: |mtu=/i.test(l));
    return { ...base, sent, received, ok: received > 0, ...(complaint ? { error: complaint.trim() } : {}) };
  } catch (err) {
    return { ...base, sent: 0, received: 0, ok: false, error: text(err) };
  }
}

/** The neighbour entry the pings left for the next hop (the destination on a flat VLAN). */
async function neighbour(netns: string, address: string, dev: string): Promise<NeighbourProbe> {
  const { execa } = await import('execa');
  // NDP's table for an IPv6 next hop (ip -6 neigh), ARP's for IPv4.
  const family = address.includes(':') ? ['-6'] : [];
  const args = [`--net=${netns}`, 'ip', '-j', ...family, 'neigh', 'show', 'to', address];
  if (isInterfaceName(dev)) args.push('dev', dev);
  const r = await execa('nsenter', args, { reject: false, timeout: 5_000 });
  let entry: { lladdr?: string; state?: string[] } | undefined;
  try {
    entry = (JSON.parse(r.stdout || '[]') as { lladdr?: string; state?: string[] }[])[0];
  } catch {
    entry = undefined;
  }
  const state = entry?.state?.[0];
  return {
    id: 'neighbour',
    address,
    ...(state ? { state } : {}),
    ...(entry?.lladdr ? { mac: entry.lladdr } : {}),
    ok: entry?.lladdr !== undefined && state !== 'FAILED' && state !== 'INCOMPLETE',
  };
}

/** Every datapath port's packet counters by name, from `dpctl/show -s`. */
async function counters(ctl: string | undefined, timeoutMs: number): Promise<Map<string, { rx: number; tx: number }>> {
  const client = await UnixctlClient.connect(ctl ?? defaultVswitchdCtl(), timeoutMs);
  try {
    return parseDpctlStats(await client.call('dpctl/show', ['-s']));
  } finally {
    client.close();
  }
}

export function parseDpctlStats(out: string): Map<string, { rx: number; tx: number }> {
  const ports = new Map<string, { rx: number; tx: number }>();
  let current: { rx: number; tx: number } | undefined;
  for (const line of out.split('\n')) {
    const port = /^\s*port \d+: (\S+)/.exec(line);
    if (port) {
      current = { rx: 0, tx: 0 };
      ports.set(port[1], current);
    }
    const rx = /^\s*RX packets:(\d+)/.exec(line);
    const tx = /^\s*TX packets:(\d+)/.exec(line);
    if (current && rx) current.rx = Number(rx[1]);
    if (current && tx) current.tx = Number(tx[1]);
  }
  return ports;
}

/**
 * The probes' suspicions, hung on the last hop of this node (the uplink towards another node, else
 * the destination's pod). A failing probe is CRITICAL (the small ping) or a WARNING (only the MTU
 * ping) when the static checks found nothing worse than a warning; otherwise INFO, explained above.
 */
export function judgeProbes(hops: Hop[], probes: Probe[], path: PathFacts): void {
  const last = hops[hops.length - 1];
  if (!last) return;
  const staticBad = hops.some((h) => h.suspicions.some((s) => LEVELS.indexOf(s.level) >= LEVELS.indexOf('CRITICAL')));
  const pings = probes.filter((p): p is PingProbe => p.id === 'ping' || p.id === 'ping-mtu');
  const [small, big] = [pings.find((p) => p.id === 'ping'), pings.find((p) => p.id === 'ping-mtu')];
  const to = path.dstAddress;
  const uplink = path.dst ? undefined : last.object;
  const beyond = uplink
    ? `the wire beyond ${uplink} (the physical switch between the nodes) or the node that holds ${to}`
    : `this node's datapath or ${to}'s namespace`;
  const seen = probes.find((p): p is CountersProbe => p.id === 'counters' && p.ok);
  const count = seen?.ports.map((p) => `${p.port} rx ${p.rx} tx ${p.tx}`).join(', ');
  const where = count ? ` (datapath packets while probing: ${count})` : '';
  if (small && !small.ok)
    last.suspicions.push({
      level: staticBad ? 'INFO' : 'CRITICAL',
      code: 'probe-no-reply',
      message: staticBad
        ? `${small.sent} pings to ${to} got no reply, as the fault above explains`
        : `${small.sent} pings to ${to} got no reply though every hop on ${last.node} is clean: ${beyond} drops them${where}`,
    });
  else if (small?.ok && big && !big.ok)
    last.suspicions.push({
      level: staticBad ? 'INFO' : 'WARNING',
      code: 'probe-mtu',
      message: `pings of ${big.size + pingHeaders(to ?? '')} bytes ${to?.includes(':') ? '(IPv6: never fragmented)' : 'with DF set'} to ${to} get no reply (small ones do): a link on the way has an MTU below ${path.network.mtu}${big.error ? ` (${big.error})` : ''}${uplink ? `, ${beyond}` : ''}`,
    });
}
