// The views' judgements from facts built by hand: each check alone, an attachment's state, the
// bridges and uplinks, the networks (VLANs in use, uplinks carrying them, pools), and the rows
// `list` and `networks` print.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LIST_COLUMNS, listJson, listRow } from '../../src/commands/list';
import { NETWORK_COLUMNS, networkRow, problemLines } from '../../src/commands/networks';
import { type Ipam, ipamPools } from '../../src/config/schema';
import { hostVethName } from '../../src/names';
import { type LinkFacts, parseAddr, parseLink, splitMessages } from '../../src/veth/netlink-read';
import { assemble, expectedTag } from '../../src/view/assemble';
import {
  type AttachmentFacts,
  type PodLink,
  carriedVlans,
  checkAddresses,
  checkOfport,
  checkPodEnd,
  checkPort,
  checkTag,
  judgeAttachment,
  trunkGaps,
} from '../../src/view/judge';
import { inUseText } from '../../src/view/networks';
import { checkPool, poolSpan, usageOf } from '../../src/view/pools';
import { openFirst, podLinks, readNamespaces } from '../../src/view/read-netns';
import { attachment, BRIDGE, healthy, networks } from './fixtures/node-facts';

const a = attachment({ pod: 'web', ip: '10.20.1.10/16' });
const ok = (): AttachmentFacts => {
  const f = healthy([a]);
  return {
    port: { bridge: BRIDGE, ofport: 2 },
    veth: f.veths.get(a.port),
    netns: f.netns.get(a.netns!),
    expectedTag: 22,
  };
};
const codes = (f: AttachmentFacts) => judgeAttachment(a, f).map((p) => p.code);

describe('attachment checks', () => {
  it('a healthy attachment has no problem', () => {
    expect(judgeAttachment(a, ok())).toEqual([]);
  });

  it('each fact wrong gives its problem, in the order of the codes (the first is the state)', () => {
    expect(codes({ ...ok(), port: undefined })).toEqual(['no-port']);
    expect(checkPort(a, { ...ok(), port: { bridge: 'other' } })?.message).toBe(
      `OVS port ${a.port} of default/web on tenant is on bridge other, not on ${BRIDGE}`,
    );
    expect(codes({ ...ok(), veth: undefined })).toEqual(['no-veth']);
    expect(codes({ ...ok(), port: { bridge: BRIDGE, ofport: -1, error: 'could not open network device' } })).toEqual([
      'ofport',
      'error',
    ]);
    expect(checkOfport(a, { ...ok(), port: { bridge: BRIDGE } })?.message).toContain('no ofport');
    expect(codes({ ...ok(), expectedTag: 33 })).toEqual(['tag-differs']);
    expect(checkTag({ ...a, tag: 0 }, ok())?.message).toBe(
      `port ${a.port} of default/web on tenant has no tag, podvlan set 22`,
    );
    expect(codes({ ...ok(), expectedTag: undefined })).toEqual([]); // nothing recorded, nothing derived: not judged
    // A trunk port: its trunks column against the VLANs setup gave it.
    const trunk = { ...a, tag: 0, trunks: '100-110', recordedTrunks: '100-110,200' };
    expect(checkTag(trunk, { ...ok(), expectedTag: undefined })?.message).toBe(
      `port ${a.port} of default/web on tenant has trunks 100-110, podvlan set 100-110,200`,
    );
    expect(checkTag({ ...trunk, trunks: '' }, { ...ok(), expectedTag: undefined })?.message).toContain('empty trunks');
    expect(checkTag({ ...trunk, trunks: '100-110,200' }, { ...ok(), expectedTag: undefined })).toBeUndefined();
    expect(codes({ port: { bridge: BRIDGE, ofport: -1 }, expectedTag: 9 })).toEqual([
      'no-veth',
      'ofport',
      'tag-differs',
    ]);
  });

  it('wrong-netns: the recorded namespace gone, the pod end missing from it, or not the host veth peer', () => {
    const f = ok();
    const links = f.netns!.state === 'read' ? f.netns!.links : [];
    expect(checkPodEnd(a, { ...f, netns: { state: 'gone', why: 'no process in it' } })?.message).toBe(
      `netns ${a.netns} recorded for default/web on tenant is gone (no process in it)`,
    );
    expect(checkPodEnd(a, { ...f, netns: { state: 'read', links: links.slice(0, 1) } })?.code).toBe('wrong-netns');
    const otherPeer = links.map((l) => (l.name === 'eth1' ? { ...l, peerIndex: 999 } : l));
    expect(checkPodEnd(a, { ...f, netns: { state: 'read', links: otherPeer } })?.message).toContain(
      `is not the peer of host veth ${a.port}`,
    );
    expect(checkPodEnd(a, { ...f, veth: { ...f.veth!, iflink: 7 } })?.code).toBe('wrong-netns');
    const notVeth = links.map((l) => (l.name === 'eth1' ? { ...l, kind: 'dummy' } : l));
    expect(checkPodEnd(a, { ...f, netns: { state: 'read', links: notVeth } })?.code).toBe('wrong-netns');
    // Not judged without evidence: unreadable namespace, or no host veth (no-veth says it).
    expect(checkPodEnd(a, { ...f, netns: { state: 'unknown', why: 'x' } })).toBeUndefined();
    expect(checkPodEnd(a, { ...f, veth: undefined, netns: { state: 'gone', why: 'x' } })).toBeUndefined();
    expect(checkPodEnd(a, { ...f, netns: undefined })).toBeUndefined();
  });

  it('expects the recorded tag, else (rows before the record) a fixed id, else nothing', () => {
    expect(expectedTag({ ...a, vlan: 30, tag: 22 }, networks)).toBe(30);
    const { vlan: _v, ...old } = a;
    expect(expectedTag(old, networks)).toBe(22);
    expect(expectedTag({ ...old, network: 'pooled' }, networks)).toBeUndefined();
    expect(expectedTag({ ...old, network: 'gone' }, networks)).toBeUndefined();
  });
});

describe('addresses on the pod end (both families)', () => {
  const dual = { ...a, ips: ['10.20.1.10/16', 'fd00:20::a/64'] };
  const facts = (addresses: string[]): AttachmentFacts => {
    const f = ok();
    const links = (f.netns as { state: 'read'; links: PodLink[] }).links.map((l) =>
      l.name === a.interface ? { ...l, addresses } : l,
    );
    return { ...f, netns: { state: 'read', links } };
  };

  it('is clean when every recorded address is on the interface, extra ones of no recorded family aside', () => {
    expect(checkAddresses(dual, facts(['10.20.1.10/16', 'fd00:20::a/64']))).toBeUndefined();
    expect(checkAddresses(a, facts(['10.20.1.10/16', 'fd00:99::1/64']))).toBeUndefined();
  });

  it('names an IPv6 address missing, or another of its family in its place, as address-differs', () => {
    expect(judgeAttachment(dual, facts(['10.20.1.10/16'])).map((p) => p.code)).toEqual(['address-differs']);
    expect(checkAddresses(dual, facts(['10.20.1.10/16']))?.message).toBe(
      `${a.interface} of default/web on tenant lacks fd00:20::a/64 that podvlan gave it (ip addr add it back, or set up the pod again)`,
    );
    expect(checkAddresses(dual, facts(['10.20.1.10/16', 'fd00:20::b/64']))?.message).toContain(
      'has fd00:20::b/64, not fd00:20::a/64',
    );
    expect(checkAddresses(dual, facts(['fd00:20::a/64']))?.message).toContain('lacks 10.20.1.10/16');
  });

  it('is not judged without a read namespace or with the wrong pod end (wrong-netns says it)', () => {
    expect(checkAddresses(dual, { ...ok(), netns: undefined })).toBeUndefined();
    expect(checkAddresses(dual, { ...facts([]), veth: undefined })).toBeUndefined();
  });
});

describe('uplink VLANs', () => {
  it('what a port carries: trunks, an access tag, native tags, or every VLAN for empty trunks', () => {
    expect(carriedVlans({ trunks: [33, 22] })).toEqual([22, 33]);
    expect(carriedVlans({ trunks: [], tag: 5 })).toEqual([5]);
    expect(carriedVlans({ trunks: [], vlanMode: 'access', tag: 5 })).toEqual([5]);
    expect(carriedVlans({ trunks: [22], vlanMode: 'native-untagged', tag: 5 })).toEqual([5, 22]);
    expect(carriedVlans({ trunks: [], vlanMode: 'trunk' })).toBe('all');
    expect(carriedVlans({ trunks: [] })).toBe('all');
  });

  it('lacking and extra VLANs; every VLAN lacks none; any allowed has no extra', () => {
    expect(trunkGaps([22, 44], [22, 33], new Set([22, 33]))).toEqual({ missing: [33], extra: [44] });
    expect(trunkGaps('all', [22, 33], new Set([22]))).toEqual({ missing: [], extra: [] });
    expect(trunkGaps([22, 44], [22], undefined)).toEqual({ missing: [], extra: [] });
  });
});

describe('the node view', () => {
  const pods = [
    attachment({ pod: 'web', ip: '10.20.1.10/16' }),
    attachment({ pod: 'api', ip: '10.20.1.11/16' }),
    attachment({ namespace: 'shop', pod: 'db', network: 'pooled', tag: 301 }),
    attachment({ namespace: 'shop', pod: 'web', network: 'pooled', tag: 301 }),
  ];

  it('healthy: every attachment ok, sorted as list sorts; the uplink carries all; VLANs in use counted per pod', () => {
    const v = assemble(healthy(pods));
    expect(v.attachments.map((x) => `${x.attachment.namespace}/${x.attachment.pod} ${x.state}`)).toEqual([
      'default/api ok',
      'default/web ok',
      'shop/db ok',
      'shop/web ok',
    ]);
    expect(v.attachments[0].podInterface).toEqual({ name: 'eth1', up: true, mtu: 1500, addresses: ['10.20.1.11/16'] });
    expect(v.bridges).toEqual([
      {
        name: BRIDGE,
        exists: true,
        datapathType: 'netdev',
        uplinks: [
          {
            name: 'nic2',
            bridge: BRIDGE,
            managed: true,
            exists: true,
            trunks: [22, 300, 301, 302, 303],
            mtu: 1500,
            ofport: 1,
            missing: [],
            extra: [],
          },
        ],
      },
    ]);
    expect(v.networks.map((n) => [n.name, n.vlanSource, n.declared, n.inUse, n.uplinks, n.attachments])).toEqual([
      [
        'tenant',
        'id',
        '22',
        [{ vlan: 22, pods: 2 }],
        [{ name: 'nic2', carries: true, missing: [] }],
        { ok: 2, broken: 0 },
      ],
      [
        'pooled',
        'pool',
        '300-303',
        [{ vlan: 301, pods: 2 }],
        [{ name: 'nic2', carries: true, missing: [] }],
        { ok: 2, broken: 0 },
      ],
    ]);
    expect(v.problems).toEqual([]);
    expect(v.node).toBe('node-a');
  });

  it('a trunk lacking a VLAN in use, and one with a VLAN no network declares', () => {
    const f = healthy(pods);
    f.ovs.uplinkPorts.get('nic2')!.trunks = [22, 300, 302, 303, 999];
    const v = assemble(f);
    expect(v.bridges[0].uplinks[0]).toMatchObject({ missing: [301], extra: [999] });
    expect(v.problems).toEqual([
      {
        code: 'uplink-vlans',
        message: `uplink nic2 of bridge ${BRIDGE} does not carry VLAN 301 and carries VLAN 999 that no network on it declares (run podvlan init)`,
      },
    ]);
    const pooled = v.networks[1];
    expect(pooled.uplinks).toEqual([{ name: 'nic2', carries: false, missing: [301] }]);
    expect(pooled.problems.map((p) => p.message)).toEqual([
      `uplink nic2 of bridge ${BRIDGE} does not carry VLAN 301 of pooled (2 pods; run podvlan init)`,
    ]);
    expect(v.networks[0].problems).toEqual([]); // tenant's VLAN 22 crosses
  });

  it('a missing bridge, a missing uplink, a port on no bridge', () => {
    const f = healthy(pods.slice(0, 1));
    f.ovs.bridges.clear();
    f.ovs.uplinkPorts.clear();
    const v = assemble(f);
    expect(v.problems.map((p) => p.code)).toEqual(['no-bridge', 'uplink-missing']);
    expect(v.bridges[0]).toMatchObject({ exists: false, datapathType: 'netdev' });
    expect(v.attachments[0].problems[0].message).toContain('is on no bridge');
    expect(v.networks[0].problems.map((p) => p.code)).toEqual(['no-bridge', 'uplink-missing']);
    expect(v.networks[0].uplinks).toEqual([{ name: 'nic2', carries: false, missing: [22] }]);
  });

  it('a pod record whose port is gone is no-port; a record naming a port not its own is ignored', () => {
    const f = healthy(pods.slice(0, 1));
    const gone = attachment({ pod: 'gone', ip: '10.20.1.12/16' });
    f.records = [
      {
        namespace: 'default',
        pod: 'gone',
        containerId: gone.containerId,
        ready: true,
        attachments: [
          { network: 'tenant', interface: 'eth1', port: gone.port, tag: 22, ip: gone.ips[0] },
          { network: 'tenant', interface: 'eth1', port: 'eth0', tag: 22 }, // not its own name
          { network: 'tenant', interface: 'eth1', port: gone.port, tag: 4095 }, // not a tag
          null as never, // a file: any shape
        ],
      },
      {
        ...f.records[0],
        namespace: 'default',
        pod: 'web',
        containerId: pods[0].containerId,
        ready: true,
        attachments: [],
      },
    ];
    const v = assemble(f);
    const row = v.attachments.find((x) => x.attachment.pod === 'gone')!;
    expect(row.state).toBe('no-port');
    expect(row.problems.map((p) => p.code)).toEqual(['no-port', 'no-veth']);
    expect(row.attachment).toMatchObject({ bridge: BRIDGE, port: gone.port, tag: 22, ips: ['10.20.1.12/16'], mac: '' });
    expect(v.attachments).toHaveLength(2);
    expect(v.networks[0].attachments).toEqual({ ok: 1, broken: 1 });
  });

  it("a network only its ports name (a CNI conflist's) is shown with source unknown, a delegate's usage", () => {
    const cni = { ...attachment({ pod: 'x', network: 'conflist-net', tag: 40 }), ips: ['10.9.0.5/24'], runtime: 'cni' };
    const v = assemble(healthy([{ ...cni, ipamPlugin: 'dhcp' }]));
    const n = v.networks.find((x) => x.name === 'conflist-net')!;
    expect(n).toMatchObject({ vlanSource: 'unknown', declared: '', bridge: BRIDGE, inUse: [{ vlan: 40, pods: 1 }] });
    expect(n.pool).toEqual({ type: 'delegated', size: 0, used: 1, free: 0 });
    // Its VLAN is in use on the bridge: the uplink must carry it. A delegate's pool (free 0) is never exhausted.
    expect(n.problems.map((p) => p.code)).toEqual(['uplink-vlans']);
    expect(v.bridges[0].uplinks[0].missing).toEqual([40]);
  });
});

describe('pool usage', () => {
  const hostLocal = ipamPools(networks[0])[0];
  it('counts what a pool hands out: the range minus gateway and excluded; fixed addresses of an etcd pool', () => {
    expect(poolSpan(hostLocal).size).toBe(4n);
    const gw: Ipam = { ...hostLocal, gateway: '10.20.1.11', exclude: ['10.20.1.12', '10.20.9.9'] } as Ipam;
    expect(poolSpan(gw).size).toBe(2n);
    const etcd = {
      type: 'etcd',
      subnet: '10.40.0.0/24',
      exclude: [],
      routes: [],
      fixed: [{ namespace: 'a', pod: 'b', address: '10.40.0.5' }],
    } as Ipam;
    expect(poolSpan(etcd).size).toBe(254n);
    expect(poolSpan({ type: 'static', address: '10.0.0.5/24', routes: [] } as Ipam).size).toBe(1n);
    expect(poolSpan({ type: 'host-local', subnet: '10.0.0.0/8', exclude: [], routes: [] } as Ipam).size).toBe(
      2n ** 24n - 2n,
    );
  });

  it('used counts every holder, free only what the pool still hands out', () => {
    expect(usageOf(hostLocal, ['10.20.1.10', '10.20.1.11'])).toEqual({
      type: 'host-local',
      subnet: '10.20.0.0/16',
      size: 4,
      used: 2,
      free: 2,
    });
    // A lease outside today's range (the range shrank since) is used, and takes nothing from free.
    expect(usageOf(hostLocal, ['10.20.1.10', '10.20.7.7'])).toMatchObject({ used: 2, free: 3 });
    const full = usageOf(hostLocal, ['10.20.1.10', '10.20.1.11', '10.20.1.12', '10.20.1.13']);
    expect(checkPool('tenant', full)).toEqual({
      code: 'pool-exhausted',
      message: 'address pool 10.20.0.0/16 of tenant has no free address (4 used of 4)',
    });
    expect(checkPool('tenant', usageOf(hostLocal, []))).toBeUndefined();
  });
});

describe('rows', () => {
  const f = healthy([attachment({ pod: 'web', ip: '10.20.1.10/16' })]);
  f.ovs.uplinkPorts.get('nic2')!.trunks = [300];
  f.veths.clear();
  f.pools.set('tenant', { pools: [usageOf(ipamPools(networks[0])[0], ['10.20.1.10'])] });
  f.pools.set('pooled', { problem: { code: 'pool-unreadable', message: 'addresses of pooled in etcd: down' } });
  const v = assemble(f);

  it('list: the STATE column last; problems under the table; JSON keeps the fields and adds state and problems', () => {
    expect(LIST_COLUMNS.at(-1)).toBe('STATE');
    const row = listRow(v.attachments[0]);
    expect(row).toHaveLength(LIST_COLUMNS.length);
    expect(row.at(-1)).toBe('no-veth');
    const json = listJson(v.attachments[0]);
    expect(json).toMatchObject({ namespace: 'default', pod: 'web', tag: 22, vlan: 22, state: 'no-veth' });
    expect(json.problems).toEqual([
      {
        code: 'no-veth',
        message: `host veth ${hostVethName('default', 'web', 'tenant')} of default/web on tenant is missing`,
      },
    ]);
  });

  it('networks: one readable row per network, and every problem once under it', () => {
    expect(NETWORK_COLUMNS).toEqual([
      'NETWORK',
      'BRIDGE',
      'VLANS',
      'IN-USE',
      'PODS',
      'UPLINKS',
      'ADDRESSES',
      'PROBLEMS',
    ]);
    expect(v.networks.map((n) => networkRow(n, v.bridges))).toEqual([
      ['tenant', BRIDGE, 'id 22', '22(1)', '1 (1 broken)', 'nic2 lacks 22', '1 used, 3 free of 4', 'uplink-vlans'],
      ['pooled', BRIDGE, 'pool 300-303', '-', '0', 'nic2', '-', 'pool-unreadable'],
    ]);
    expect(problemLines(v)).toEqual([
      `uplink-vlans: uplink nic2 of bridge ${BRIDGE} does not carry VLAN 22,301-303 (run podvlan init)`,
      'pool-unreadable: addresses of pooled in etcd: down',
    ]);
    const missing = assemble({ ...f, ovs: { ...f.ovs, uplinkPorts: new Map() } });
    expect(networkRow(missing.networks[0], missing.bridges)[5]).toBe('nic2 missing');
  });

  it('VLANs in use: consecutive ones with the same count as one range (a trunk port), others one by one', () => {
    const run = (first: number, last: number, pods: number) =>
      Array.from({ length: last - first + 1 }, (_, i) => ({ vlan: first + i, pods }));
    expect(inUseText([...run(22, 22, 2), ...run(100, 110, 1)])).toBe('22(2),100-110(1)');
    expect(inUseText([...run(22, 22, 2), ...run(23, 23, 1), ...run(24, 25, 1), ...run(99, 99, 1)])).toBe(
      '22(2),23-25(1),99(1)',
    );
    expect(inUseText([...run(100, 104, 1), ...run(105, 105, 2), ...run(106, 110, 1)])).toBe(
      '100-104(1),105(2),106-110(1)',
    );
    expect(inUseText([])).toBe('');
    const router = {
      ...attachment({ namespace: 'vnf', pod: 'router-0', network: 'vnf' }),
      tag: 0,
      vlan: undefined,
      trunks: '100-110',
      recordedTrunks: '100-110',
    };
    const t = assemble(healthy([router]));
    expect(networkRow(t.networks.find((n) => n.name === 'vnf')!, t.bridges)[3]).toBe('100-110(1)');
  });
});

describe('reading a pod namespace', () => {
  // A real kernel's answers inside a pod (netlink-read.test.ts): eth1 a veth at 10.218.0.2/24, peer 5.
  const answers = JSON.parse(readFileSync(join(__dirname, 'fixtures/netlink/pod-answers.json'), 'utf8')) as Record<
    string,
    string[]
  >;
  const messages = (name: string) =>
    answers[name].flatMap((h) => splitMessages(Uint8Array.from(Buffer.from(h, 'hex'))));

  it('the links of the link and address dumps, each with its IPv4 addresses; lo has no peer', () => {
    const eth1 = parseLink(messages('link-eth1')[0])!;
    const lo: LinkFacts = {
      index: 1,
      name: 'lo',
      up: true,
      carrier: true,
      operstate: 'unknown',
      noarp: true,
      mtu: 65536,
      peerIndex: 0,
    };
    const down: LinkFacts = {
      ...eth1,
      index: 3,
      name: 'eth2',
      up: false,
      mtu: undefined,
      peerIndex: undefined,
      kind: undefined,
    };
    const addresses = messages('addr-dump').flatMap((m) => parseAddr(m) ?? []);
    expect(podLinks([lo, eth1, down, { ...lo, name: '' }], addresses)).toEqual([
      { name: 'lo', ifindex: 1, up: true, mtu: 65536, addresses: ['127.0.0.1/8'] },
      { name: 'eth1', ifindex: 2, peerIndex: 5, kind: 'veth', up: true, mtu: 1500, addresses: ['10.218.0.2/24'] },
      { name: 'eth2', ifindex: 3, up: false, addresses: [] },
    ]);
  });
});

describe('opening a recorded namespace', () => {
  const own = String(statSync('/proc/self/ns/net').ino);

  it('opens the first path that is that very namespace (a reused PID or descriptor names another)', () => {
    const s = openFirst(own, ['/nonexistent', '/proc/self/ns/uts', '/proc/self/ns/net'])!;
    try {
      expect(s.inode).toBe(own);
    } finally {
      s.close();
    }
    expect(openFirst(own, ['/proc/self/ns/uts'])).toBeUndefined();
    // A file of the same inode number on another filesystem is not the namespace.
    const file = statSync('/proc/self/exe');
    expect(openFirst(String(file.ino), ['/proc/self/exe'])).toBeUndefined();
  });

  it('never opens what a path names unless it is that namespace: a FIFO of the inode does not block', () => {
    // A descriptor counts as a holder by inode number alone: a pipe or FIFO may share the number.
    // Run in a child with a deadline, since a blocking open cannot be interrupted in this process.
    const dir = mkdtempSync(join(tmpdir(), 'podvlan-fifo-'));
    try {
      const fifo = join(dir, 'f');
      execFileSync('mkfifo', [fifo]);
      const code = `import { openFirst } from ${JSON.stringify(resolve('src/view/read-netns.ts'))};
        console.log(String(openFirst(${JSON.stringify(String(statSync(fifo).ino))}, [${JSON.stringify(fifo)}])));`;
      const r = spawnSync(resolve('node_modules/.bin/bun'), ['-e', code], { timeout: 5000, encoding: 'utf8' });
      expect(r.signal, 'openFirst blocked on the FIFO').toBeNull();
      expect(r.stdout.trim(), r.stderr).toBe('undefined');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads a live namespace through its holder (here: this process), never a gone one', async () => {
    const seen: string[] = [];
    const facts = await readNamespaces([own, '1'], 1000, async (sandbox) => {
      seen.push(sandbox.inode);
      return [{ name: 'lo', ifindex: 1, up: true, addresses: [] }];
    });
    expect(seen).toEqual([own]);
    expect(facts.get(own)).toEqual({ state: 'read', links: [{ name: 'lo', ifindex: 1, up: true, addresses: [] }] });
    expect(facts.get('1')?.state).not.toBe('read');
  });

  it('believes a namespace gone only when no process hid its own from the scan', async () => {
    const scan = (hidden: number[]) => () => ({
      hidden,
      pathsTo: () => [],
      verdict: (inode: string) => ({ alive: false as const, why: `netns ${inode} is gone` }),
    });
    const never = async () => [];
    expect((await readNamespaces(['9'], 1000, never, scan([])))?.get('9')).toEqual({
      state: 'gone',
      why: 'netns 9 is gone',
    });
    expect((await readNamespaces(['9'], 1000, never, scan([42])))?.get('9')).toEqual({
      state: 'unknown',
      why: 'netns 9 is gone, but 1 process(es) hide theirs',
    });
  });
});
