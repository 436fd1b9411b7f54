// The operator's views and diagnose on a dual-stack network (issue 13), on real OVS and Docker
// (`--net=none` containers with IPv6 on, set up through the built binary as a kubelet would):
// `list` shows both addresses; an IPv6 address removed by hand in a pod shows in `list` STATE and
// in `diagnose` (hop, level, code), and clears when it is put back; `diagnose` to an IPv6 DST is
// clean on a clean pair (with --probe: ping -6, MTU-sized) and names the neighbour hop when NDP
// gets no answer; a pod holding another's IPv6 address is a duplicate-address; `networks` and `metrics` show the IPv6 pool (promtool passes).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { DiagnoseResult, Hop } from '../../src/diagnose/model';
import type { PingProbe } from '../../src/diagnose/probe';
import { runPlugin, teardownAll, writeConfig } from '../support/plugin';
import { docker, IMAGE } from '../support/sandbox';

const info = inject('sandbox');
const BRIDGE = 'v6v_br';
const NET = 'v6v';
const V4 = '10.219.6';
const V6 = 'fd00:f6::';
const config = writeConfig(
  info,
  join(info.dir, 'views-v6'),
  [
    {
      name: NET,
      bridge: BRIDGE,
      match: { namespace: '^v6v$' },
      vlan: { fromPodName: '^(\\d+)-', range: '20-40' },
      ipam: [
        { type: 'host-local', subnet: `${V4}.0/24` },
        { type: 'host-local', subnet: `${V6}/64` },
      ],
    },
  ],
  { nodeName: 'views-v6', bridges: [{ name: BRIDGE, datapathType: 'netdev' }], vswitchdCtl: info.vswitchdCtl },
);
const run = (...args: string[]) => runPlugin(info, args, { config });
const ids: Record<string, string> = {};
const addr: Record<string, { v4: string; v6: string }> = {};
/** What the docs quote, written under PODVLAN_DOC_OUT when it is set. */
const docOut = (name: string, text: string) => {
  if (process.env.PODVLAN_DOC_OUT) writeFileSync(join(process.env.PODVLAN_DOC_OUT, name), text);
};
const inPod = async (pod: string, ...args: string[]) => {
  const pid = (await docker(info, ['inspect', '-f', '{{.State.Pid}}', ids[pod]])).stdout.trim();
  return execa('nsenter', [`--net=/proc/${pid}/ns/net`, ...args], { reject: false });
};

interface Row {
  pod: string;
  ips: string[];
  state: string;
  problems: { code: string; message: string }[];
}
const listJson = async (): Promise<Row[]> => {
  const r = await run('list', '-o', 'json');
  expect(r.exitCode, r.all).toBe(0);
  return JSON.parse(r.stdout);
};
async function diagnose(dst: string, ...more: string[]): Promise<{ exitCode: number; result: DiagnoseResult }> {
  const r = await run('diagnose', `${NET}/22-a`, dst, ...more, '-o', 'json');
  expect(r.stderr, r.all).toBe('');
  return { exitCode: r.exitCode, result: JSON.parse(r.stdout) as DiagnoseResult };
}
/** Every suspicion above INFO as "hop-id LEVEL code". */
const problems = (d: { result: DiagnoseResult }) =>
  d.result.hops.flatMap((h) =>
    h.suspicions.filter((s) => s.level !== 'INFO').map((s) => `${h.id} ${s.level} ${s.code}`),
  );

beforeAll(async () => {
  expect((await run('init')).exitCode).toBe(0);
  // Docker turns IPv6 off in a --net=none container; a dual-stack runtime turns it on.
  const ipv6On = ['--sysctl', 'net.ipv6.conf.all.disable_ipv6=0', '--sysctl', 'net.ipv6.conf.default.disable_ipv6=0'];
  for (const pod of ['22-a', '22-b']) {
    ids[pod] = (await docker(info, ['run', '-d', '--net=none', ...ipv6On, IMAGE, 'sleep', '3600'])).stdout.trim();
    const r = await run('setup', NET, pod, ids[pod]);
    expect(r.exitCode, r.all).toBe(0);
  }
  for (const row of await listJson()) {
    const [v4, v6] = row.ips.map((ip) => ip.split('/')[0]);
    addr[row.pod] = { v4, v6 };
  }
});
afterAll(async () => {
  await teardownAll(info, config, [BRIDGE]);
});

describe('views and diagnose on a dual-stack network', () => {
  it('list shows both addresses of each attachment, IPv4 first, and both are ok', async () => {
    const rows = await listJson();
    expect(rows.map((r) => [r.pod, r.state, r.ips.length])).toEqual([
      ['22-a', 'ok', 2],
      ['22-b', 'ok', 2],
    ]);
    for (const r of rows) {
      expect(r.ips[0]).toMatch(new RegExp(`^${V4.replace(/\./g, '\\.')}\\.\\d+/24$`));
      expect(r.ips[1]).toMatch(/^fd00:f6::[0-9a-f]+\/64$/);
    }
    const text = await run('list');
    expect(text.exitCode, text.all).toBe(0);
    expect(text.stdout).toContain(`${rows[1].ips[0]},${rows[1].ips[1]}`);
    docOut('views-v6-list.txt', text.stdout);
  });

  it('diagnose to an IPv6 DST is clean on a clean pair; --probe pings with ping -6, MTU-sized', async () => {
    const d = await diagnose(addr['22-b'].v6, '--probe');
    expect(problems(d), JSON.stringify(d.result.hops.flatMap((h) => h.suspicions))).toEqual([]);
    expect(d.result.verdict).toBe('OK');
    expect(d.exitCode).toBe(0);
    expect(d.result.dst).toMatchObject({ pod: '22-b', address: addr['22-b'].v6 });
    expect(d.result.src).toMatchObject({ address: addr['22-a'].v6 });
    // The pod hop says what it does not judge in IPv6.
    expect(d.result.hops[0].facts.notJudged).toContain('rp_filter (IPv4 only)');
    const pings = d.result.probes.filter((p): p is PingProbe => p.id === 'ping' || p.id === 'ping-mtu');
    expect(pings.map((p) => [p.id, p.ok, p.size])).toEqual([
      ['ping', true, 56],
      ['ping-mtu', true, 1500 - 48],
    ]);
    expect(pings[1].command).toContain('-6');
    const neighbour = d.result.probes.find((p) => p.id === 'neighbour');
    expect(neighbour).toMatchObject({ address: addr['22-b'].v6, ok: true });
    // An IPv6 address in another spelling is the same DST.
    const spelled = addr['22-b'].v6.replace('fd00:f6::', 'FD00:00F6:0:0:0:0:0:');
    expect((await diagnose(spelled)).result.dst).toMatchObject({ address: addr['22-b'].v6 });
    const text = await run('diagnose', `${NET}/22-a`, addr['22-b'].v6, '--probe');
    expect(text.exitCode, text.all).toBe(0);
    expect(text.stdout).toMatch(/^ok +ping-mtu -6 1500 bytes: 2\/2 replies$/m); // 1452 + 40 + 8
    docOut('views-v6-diagnose-clean.txt', text.stdout);
  });

  it("an IPv6 address removed by hand shows in list and diagnose, NDP's failure at the neighbour hop, and clears when restored", async () => {
    const b6 = `${addr['22-b'].v6}/64`;
    expect((await inPod('22-b', 'ip', '-6', 'addr', 'del', b6, 'dev', 'eth1')).exitCode).toBe(0);
    try {
      const row = (await listJson()).find((r) => r.pod === '22-b')!;
      expect(row.state).toBe('address-differs');
      expect(row.problems[0].message).toContain(`lacks ${b6}`);
      const text = await run('list');
      docOut('views-v6-list-broken.txt', text.stdout);
      // The IPv4 path: its own address is fine, the IPv6 one is a WARNING.
      expect(problems(await diagnose(`${NET}/22-b`))).toEqual(['dst-pod WARNING address-missing']);
      // The IPv6 path: CRITICAL; and once the source has asked for it afresh, NDP FAILED at its neighbour hop.
      await inPod('22-a', 'ip', '-6', 'neigh', 'flush', 'dev', 'eth1');
      await inPod('22-a', 'ping', '-6', '-c', '1', '-W', '1', addr['22-b'].v6);
      let state = '';
      for (let i = 0; i < 20 && state !== 'FAILED'; i++) {
        const n = await inPod('22-a', 'ip', '-6', '-j', 'neigh', 'show', 'to', addr['22-b'].v6);
        state = (JSON.parse(n.stdout || '[]')[0]?.state ?? [''])[0];
        if (state !== 'FAILED') await new Promise((r) => setTimeout(r, 500));
      }
      expect(state).toBe('FAILED');
      const d = await diagnose(addr['22-b'].v6);
      // The address's /64 route went with it: the destination has no route back either.
      expect(problems(d)).toEqual([
        'src-pod CRITICAL neighbour-failed',
        'dst-pod CRITICAL address-missing',
        'dst-pod CRITICAL no-route',
      ]);
      expect(d.exitCode).not.toBe(0);
      const failed = d.result.hops[0].suspicions.find((s) => s.code === 'neighbour-failed')!;
      expect(failed.message).toContain(`neighbour solicitations for ${addr['22-b'].v6}`);
      const shown = await run('diagnose', `${NET}/22-a`, addr['22-b'].v6);
      docOut('views-v6-diagnose-ndp.txt', shown.stdout);
    } finally {
      await inPod('22-b', 'ip', '-6', 'addr', 'add', b6, 'dev', 'eth1', 'nodad');
      await inPod('22-a', 'ip', '-6', 'neigh', 'flush', 'dev', 'eth1');
    }
    expect((await listJson()).map((r) => r.state)).toEqual(['ok', 'ok']);
    const d = await diagnose(addr['22-b'].v6);
    expect(problems(d)).toEqual([]);
    expect(d.exitCode).toBe(0);
  });

  it('an IPv6 DST no pod of this node holds: the path leaves by the bridge, followed in IPv6', async () => {
    const r = await run('diagnose', `${NET}/22-a`, 'fd00:f6::99', '-o', 'json');
    const d = JSON.parse(r.stdout) as DiagnoseResult;
    expect(d.dst).toEqual({ address: 'fd00:f6::99' });
    expect(d.hops.map((h) => [h.id, h.suspicions.map((s) => s.code)])).toEqual([
      ['src-pod', ['neighbour-unresolved']],
      ['src-veth', []],
      ['src-port', []],
      ['bridge', ['no-uplink']], // this test's bridge has none: blocked there
    ]);
    expect(r.exitCode).toBe(2);
    // Unresolved, the source would first send a neighbour solicitation: that is what is traced.
    expect(d.hops[3].facts.flow).toMatch(
      /dl_dst=33:33:ff:00:00:99,icmp6,.*ipv6_dst=ff02::1:ff00:0099,icmpv6_type=135$/,
    );
  });

  it("a pod holding another's IPv6 address is a duplicate-address, by diagnose and by diagnose --all", async () => {
    const b6 = `${addr['22-b'].v6}/64`;
    expect((await inPod('22-a', 'ip', '-6', 'addr', 'add', b6, 'dev', 'eth1', 'nodad')).exitCode).toBe(0);
    try {
      const d = await diagnose(addr['22-b'].v6);
      // The source's kernel takes the address for its own (route local), and sends from it.
      expect(problems(d)).toEqual([
        'src-pod CRITICAL duplicate-address',
        'src-pod CRITICAL no-route',
        'dst-pod CRITICAL no-route',
      ]);
      const dup = d.result.hops[0].suspicions.find((s) => s.code === 'duplicate-address')!;
      expect(dup.message).toBe(`eth1 of ${NET}/22-a holds ${addr['22-b'].v6}, the address of ${NET}/22-b on VLAN 22`);
      const all = await run('diagnose', '--all', '-o', 'json');
      const mine = JSON.parse(all.stdout).attachments.find((x: { src: { pod: string } }) => x.src.pod === '22-a');
      const codes = mine.hops.flatMap((h: Hop) => h.suspicions.map((s) => `${h.id} ${s.level} ${s.code}`));
      expect(codes).toContain('src-pod CRITICAL duplicate-address');
    } finally {
      await inPod('22-a', 'ip', '-6', 'addr', 'del', b6, 'dev', 'eth1');
    }
    expect(problems(await diagnose(addr['22-b'].v6))).toEqual([]);
  });

  it('networks and metrics show the IPv6 pool beside the IPv4 one; promtool passes', async () => {
    const n = await run('networks', '-o', 'json');
    expect(n.exitCode, n.all).toBe(0);
    const net = JSON.parse(n.stdout).networks.find((x: { name: string }) => x.name === NET);
    expect(net.pools.map((p: { subnet: string; used: number }) => [p.subnet, p.used])).toEqual([
      [`${V4}.0/24`, 2],
      [`${V6}/64`, 2],
    ]);
    const v6 = net.pools[1];
    expect(BigInt(v6.sizeExact) - BigInt(v6.freeExact)).toBe(2n); // exact, not a rounded double
    const text = await run('networks');
    expect(text.stdout).toMatch(/IPv4 2 used, 252 free of 254; IPv6 2 used, 2\^64-\d+ free of 2\^64-\d+/);
    docOut('views-v6-networks.txt', text.stdout);
    const m = await run('metrics');
    expect(m.exitCode, m.all).toBe(0);
    expect(m.stdout).toContain(`podvlan_pool_addresses{network="${NET}",pool="${V6}/64",family="ipv6",state="used"} 2`);
    expect(m.stdout).toContain(
      `podvlan_pool_addresses{network="${NET}",pool="${V4}.0/24",family="ipv4",state="used"} 2`,
    );
    const input = m.stdout.endsWith('\n') ? m.stdout : `${m.stdout}\n`;
    const promtool = await execa('promtool', ['check', 'metrics'], { input, reject: false });
    expect(promtool.exitCode, promtool.stdout + promtool.stderr).toBe(0);
    docOut(
      'views-v6-metrics.txt',
      m.stdout
        .split('\n')
        .filter((l) => l.includes('pool_addresses'))
        .join('\n'),
    );
    const topo = await run('topology', '-o', 'dot');
    expect(topo.exitCode, topo.all).toBe(0);
    expect(topo.stdout).toContain(addr['22-b'].v6);
  });
});
