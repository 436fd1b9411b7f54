// podvlan metrics on the sandbox's real OVS and Docker: exec setups and teardowns (one refused on
// purpose), CNI ADD, CHECK and DEL, and a gc that reclaims a dead container's attachment, each
// counted exactly; a call handed to the agent counted once; status never counted. Then one
// attachment broken by hand (its host veth deleted), another's tag changed with ovs-vsctl, a CNI
// VLAN the uplink does not carry: the gauges say so. promtool checks every output; --textfile
// replaces the file by rename and leaves no temporary file; without OVSDB the counters are still
// written, with podvlan_node_view_ok 0, and the command fails in one line.
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { GC_KINDS } from '../../src/state/call-summary';
import { addNetns, cni, delNetns } from '../support/cni';
import { BINARY, ovsVsctl, runPlugin, teardownAll, writeConfig } from '../support/plugin';
import { docker, startContainer } from '../support/sandbox';

const info = inject('sandbox');
const BR = 'mtx_br';
const UPLINK = 'mtxup'; // a veth end in the sandbox's namespace that init makes a trunk port
const dir = join(info.dir, 'metrics');
const stateDir = join(dir, 'state');
const callLog = join(stateDir, 'metrics', 'calls.log');
const netnsNames = ['mtx-cni-1', 'mtx-cni-2'];

const config = writeConfig(
  info,
  dir,
  [
    {
      name: 'mtx22',
      bridge: BR,
      match: { namespace: '^mtx$' },
      vlan: { id: 22 },
      ipam: { type: 'host-local', subnet: '10.218.22.0/24' },
    },
    {
      name: 'mtxpn',
      bridge: BR,
      match: { namespace: '^mtxpn$' },
      vlan: { fromPodName: '^(\\d+)-', range: '30-39' },
    },
  ],
  { nodeName: 'mtx-node', bridges: [{ name: BR, datapathType: 'netdev', uplinks: [UPLINK] }] },
);
const run = (...args: string[]) => runPlugin(info, args, { config });
const netconf = {
  cniVersion: '1.0.0',
  name: 'mtxcni',
  type: 'podvlan',
  bridge: BR,
  vlan: { id: 44 }, // not a VLAN of podvlan.yaml: init does not trunk it
  ipam: { type: 'podvlan', pool: { type: 'host-local', subnet: '10.218.44.0/24' } },
  nodeConfig: config,
};
const cniCall = (verb: string, n: number, extra: Record<string, unknown> = {}) =>
  cni(
    info,
    verb,
    { ...netconf, ...extra },
    { containerId: `mtx-cni-${n}`, netns: `/var/run/netns/${netnsNames[n - 1]}` },
  );

/** The samples of an exposition, by `name{labels}`. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (m) out.set(m[1], Number(m[2]));
  }
  return out;
}

async function promtool(text: string): Promise<string> {
  // execa strips the last newline of what it captured; podvlan prints it (promtool wants it).
  const input = text.endsWith('\n') ? text : `${text}\n`;
  const r = await execa('promtool', ['check', 'metrics'], { input, reject: false });
  return `${r.exitCode} ${r.stdout}${r.stderr}`.trim();
}

const portOf = (output: string) => /port (pv[0-9a-f]+)/.exec(output)?.[1] ?? '';
const lines = () => (existsSync(callLog) ? readFileSync(callLog, 'utf8').split('\n').filter(Boolean).length : 0);

describe('podvlan metrics', () => {
  const pods: Record<string, string> = {};
  const ports: Record<string, string> = {};
  let gcActions: { action: string }[] = [];

  beforeAll(async () => {
    await execa('ip', ['-n', info.netns, 'link', 'add', UPLINK, 'type', 'veth', 'peer', 'name', `${UPLINK}p`]);
    await execa('ip', ['-n', info.netns, 'link', 'set', UPLINK, 'up']);
    for (const ns of netnsNames) await addNetns(ns);
    const init = await run('init');
    expect(init.exitCode, init.all).toBe(0);
    for (const p of ['a', 'b', 'gone']) pods[p] = await startContainer(info);
    pods['31-c'] = await startContainer(info);
    pods['99-d'] = await startContainer(info);
  });
  afterAll(async () => {
    await teardownAll(info, config, [BR]);
    for (const n of [1, 2]) await cniCall('DEL', n);
    for (const ns of netnsNames) await delNetns(ns);
    await execa('ip', ['-n', info.netns, 'link', 'del', UPLINK], { reject: false });
    await ovsVsctl(info, ['--if-exists', 'del-br', BR]);
  });

  it('counts every setup, teardown, ADD, CHECK and DEL exactly, failures by kind, and what gc reclaimed', async () => {
    for (const [ns, pod] of [
      ['mtx', 'a'],
      ['mtx', 'b'],
      ['mtx', 'gone'],
      ['mtxpn', '31-c'],
    ]) {
      const r = await run('setup', ns, pod, pods[pod]);
      expect(r.exitCode, r.all).toBe(0);
      ports[pod] = portOf(r.stdout);
    }
    const refused = await run('setup', 'mtxpn', '99-d', pods['99-d']); // VLAN 99 is outside 30-39
    expect(refused.exitCode, refused.all).toBe(2);
    expect((await run('teardown', 'mtx', 'b', pods.b)).exitCode).toBe(0);
    const before = lines();
    for (let i = 0; i < 3; i++) expect((await run('status', 'mtx', 'a', pods.a)).exitCode).toBe(0);
    expect(lines(), 'status records nothing').toBe(before);
    const added = [];
    for (const n of [1, 2]) {
      const r = await cniCall('ADD', n);
      expect(r.exitCode, r.stdout).toBe(0);
      added.push(r.json);
    }
    const check = await cniCall('CHECK', 2, { prevResult: added[1] });
    expect(check.exitCode, check.stdout).toBe(0);
    expect((await cniCall('DEL', 1)).exitCode).toBe(0);
    // A dead container: gc removes its port (with its veth and address: gc lists them as one action) and its record.
    await docker(info, ['rm', '-f', pods.gone]);
    const gc = await run('gc', '-o', 'json');
    expect(gc.exitCode, gc.all).toBe(0);
    gcActions = JSON.parse(gc.stdout).actions;
    expect(gcActions.map((a) => a.action).sort()).toEqual(['remove-port', 'remove-record']);
    expect((await run('gc', '--dry-run')).exitCode).toBe(0); // a dry run reclaims nothing, counts nothing

    const r = await run('metrics');
    expect(r.exitCode, r.all).toBe(0);
    expect(await promtool(r.stdout)).toBe('0');
    const m = samples(r.stdout);
    const counts = {
      'podvlan_calls_total{call="setup",result="ok"}': 4,
      'podvlan_calls_total{call="setup",result="failed"}': 1,
      'podvlan_call_failures_total{call="setup",kind="invalid-input"}': 1,
      'podvlan_calls_total{call="teardown",result="ok"}': 1,
      'podvlan_calls_total{call="teardown",result="failed"}': 0,
      'podvlan_calls_total{call="ADD",result="ok"}': 2,
      'podvlan_calls_total{call="CHECK",result="ok"}': 1,
      'podvlan_calls_total{call="DEL",result="ok"}': 1,
      'podvlan_calls_total{call="DEL",result="failed"}': 0,
      'podvlan_call_duration_seconds_count{call="setup"}': 5,
      'podvlan_call_duration_seconds_bucket{call="setup",le="+Inf"}': 5,
      'podvlan_call_duration_seconds_count{call="ADD"}': 2,
      podvlan_gc_runs_total: 1,
      'podvlan_gc_reclaimed_total{kind="port"}': 1,
      'podvlan_gc_reclaimed_total{kind="record"}': 1,
      'podvlan_gc_reclaimed_total{kind="address"}': 0,
      podvlan_call_log_invalid_lines_total: 0,
      podvlan_node_view_ok: 1,
    };
    for (const [k, v] of Object.entries(counts)) expect(m.get(k), k).toBe(v);
    for (const kind of new Set(Object.values(GC_KINDS))) {
      const n = gcActions.filter((a) => GC_KINDS[a.action] === kind).length;
      expect(m.get(`podvlan_gc_reclaimed_total{kind="${kind}"}`), kind).toBe(n);
    }
    // A setup takes milliseconds to seconds here: inside the histogram's range, and timed from process start.
    const setupSum = m.get('podvlan_call_duration_seconds_sum{call="setup"}')!;
    expect(setupSum).toBeGreaterThan(5 * 0.002);
    expect(setupSum).toBeLessThan(5 * 10);

    // Folded once: a second run counts the same.
    const again = samples((await run('metrics')).stdout);
    for (const k of Object.keys(counts)) expect(again.get(k), k).toBe(m.get(k));
  });

  it('counts a call the agent ran once', async () => {
    const agent: ResultPromise = execa('ip', ['netns', 'exec', info.netns, BINARY, 'agent'], {
      env: { PODVLAN_CONFIG: config },
      reject: false,
      buffer: false,
    });
    await new Promise<void>((resolve, reject) => {
      agent.stdout!.once('data', () => resolve());
      agent.once('exit', () => reject(new Error('agent exited')));
    });
    try {
      const r = await run('setup', 'mtx', 'b', pods.b);
      expect(r.exitCode, r.all).toBe(0);
    } finally {
      agent.kill('SIGTERM');
      await agent;
    }
    const m = samples((await run('metrics')).stdout);
    expect(m.get('podvlan_calls_total{call="setup",result="ok"}')).toBe(5);
    const log = readFileSync(join(dir, 'podvlan.log'), 'utf8');
    expect(log).toContain('agent listening');
  });

  it('shows a veth deleted by hand, a tag changed by hand, and a VLAN the uplink does not carry', async () => {
    await execa('ip', ['-n', info.netns, 'link', 'del', ports.a]);
    await ovsVsctl(info, ['set', 'Port', ports['31-c'], 'tag=35']);
    const r = await run('metrics');
    expect(r.exitCode, r.all).toBe(0);
    expect(await promtool(r.stdout)).toBe('0');
    const m = samples(r.stdout);
    const gauges = {
      'podvlan_attachments{network="mtx22",state="ok"}': 1, // b
      'podvlan_attachments{network="mtx22",state="no-veth"}': 1, // a
      'podvlan_attachments{network="mtxpn",state="ok"}': 0,
      'podvlan_attachments{network="mtxpn",state="tag-differs"}': 1, // 31-c
      'podvlan_attachments{network="mtxcni",state="ok"}': 1, // the CNI netns still added
      'podvlan_pool_addresses{network="mtx22",pool="10.218.22.0/24",family="ipv4",state="used"}': 2,
      'podvlan_vlans_in_use{network="mtx22"}': 1,
      'podvlan_vlan_pods{network="mtx22",vlan="22"}': 2,
      'podvlan_bridge_present{bridge="mtx_br"}': 1,
      'podvlan_uplink_present{bridge="mtx_br",uplink="mtxup"}': 1,
      'podvlan_uplink_trunk_missing_vlans{bridge="mtx_br",uplink="mtxup"}': 1, // 44
      'podvlan_network_problems{network="mtxcni",code="uplink-vlans"}': 1,
    };
    for (const [k, v] of Object.entries(gauges)) expect(m.get(k), `${k}\n${r.stdout}`).toBe(v);
    expect(
      m.get('podvlan_pool_addresses{network="mtx22",pool="10.218.22.0/24",family="ipv4",state="free"}'),
    ).toBeGreaterThan(200);
  });

  it('--textfile replaces DIR/podvlan.prom by rename, readable by node_exporter, no temporary file left', async () => {
    const out = join(dir, 'textfile');
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, 'podvlan.prom'), 'old\n');
    const inodeBefore = statSync(join(out, 'podvlan.prom')).ino;
    const r = await run('metrics', '--textfile', out);
    expect(r.exitCode, r.all).toBe(0);
    expect(r.all).toBe('');
    expect(readdirSync(out)).toEqual(['podvlan.prom']);
    const st = statSync(join(out, 'podvlan.prom'));
    expect(st.ino).not.toBe(inodeBefore); // a new file renamed over the old one, never rewritten in place
    expect(st.mode & 0o777).toBe(0o644);
    const text = readFileSync(join(out, 'podvlan.prom'), 'utf8');
    expect(await promtool(text)).toBe('0');
    expect(samples(text).get('podvlan_calls_total{call="setup",result="ok"}')).toBe(5);

    const missing = await run('metrics', '--textfile', join(dir, 'nope'));
    expect(missing.exitCode).toBe(4);
    expect(missing.all).toBe(
      `podvlan: textfile directory ${join(dir, 'nope')} does not exist: create it, or give node_exporter's --collector.textfile.directory`,
    );
    expect(existsSync(join(dir, 'nope'))).toBe(false);
  });

  it('without OVSDB: the counters are written all the same, with podvlan_node_view_ok 0, and it fails in one line', async () => {
    const down = join(dir, 'down.yaml');
    writeFileSync(down, JSON.stringify({ ...JSON.parse(readFileSync(config, 'utf8')), ovsdb: `unix:${dir}/no.sock` }));
    const out = join(dir, 'textfile-down');
    mkdirSync(out, { recursive: true });
    const r = await runPlugin(info, ['metrics', '--textfile', out], { config: down });
    expect(r.exitCode).toBe(7);
    expect(r.all.trim().split('\n')).toHaveLength(1);
    expect(r.all).toMatch(/^podvlan: .*no\.sock/);
    const text = readFileSync(join(out, 'podvlan.prom'), 'utf8');
    expect(await promtool(text)).toBe('0');
    const m = samples(text);
    expect(m.get('podvlan_node_view_ok')).toBe(0);
    expect(m.get('podvlan_calls_total{call="setup",result="ok"}')).toBe(5);
    expect(text).not.toContain('podvlan_attachments');
  });
});
