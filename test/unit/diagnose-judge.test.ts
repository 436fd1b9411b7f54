// diagnose's judging, pure: a path's facts to hops and suspicions, the verdict line, the exit
// code. The facts are shaped as the reader fills them on a healthy node, then broken one at a time.
import { describe, expect, it } from 'vitest';
import type { EndFacts, PathFacts } from '../../src/diagnose/facts';
import { judgePath } from '../../src/diagnose/hops';
import { exitCodeOf, type Hop, resultOf, verdictLine } from '../../src/diagnose/model';
import { renderText } from '../../src/diagnose/render';
import type { LinkFacts } from '../../src/veth/netlink-read';

const CONTAINER = 'c'.repeat(64);
const link = (over: Partial<LinkFacts> = {}): LinkFacts => ({
  index: 2,
  name: 'eth1',
  up: true,
  carrier: true,
  operstate: 'up',
  noarp: false,
  mtu: 1500,
  mac: '0a:58:0a:00:00:01',
  peerIndex: 10,
  kind: 'veth',
  ...over,
});

function end(side: 'src' | 'dst', n: number): EndFacts {
  const port = `pv${side}port00000`;
  const ip = `10.1.0.${n}`;
  return {
    side,
    namespace: 'ns',
    pod: `22-${side}`,
    network: 'net',
    interface: 'eth1',
    port,
    recordedTag: 22,
    recordedIp: `${ip}/24`,
    recordedMac: `0a:58:0a:01:00:0${n}`,
    recordedNetns: `40265${n}`,
    currentContainer: CONTAINER,
    ovs: {
      name: port,
      bridge: 'br',
      tag: 22,
      trunks: [],
      ofport: n,
      linkState: 'up',
      mtu: 1500,
      managed: true,
      containerId: CONTAINER,
    },
    netns: { inode: `40265${n}`, path: `/proc/${100 + n}/ns/net` },
    podLink: link({ index: 2, peerIndex: 10 + n, mac: `0a:58:0a:01:00:0${n}` }),
    addresses: [`${ip}/24`],
    route: { type: 'unicast', oif: 2, oifName: 'eth1', prefsrc: ip },
    nextHop: `10.1.0.${3 - n}`,
    neighbour: { state: 'REACHABLE', mac: `0a:58:0a:01:00:0${3 - n}` },
    receive: { ok: true },
    sysctl: { rpFilter: [0, 0], arpIgnore: [0, 0] },
    hostLink: link({ index: 10 + n, name: port, peerIndex: 2, mac: '9e:00:00:00:00:01' }),
    lease: { holder: `ns/22-${side}`, mine: true },
    unread: {},
  };
}

function path(): PathFacts & { dst: EndFacts } {
  return {
    node: 'node-a',
    network: { name: 'net', mtu: 1500, interface: 'eth1', bridge: 'br' },
    src: end('src', 1),
    dst: end('dst', 2),
    srcAddress: '10.1.0.1',
    dstAddress: '10.1.0.2',
    bridge: {
      name: 'br',
      exists: true,
      datapathType: 'netdev',
      trace: {
        actions: '5',
        drop: false,
        outputs: [{ port: 5 }],
        pushedVlans: [],
        notes: [],
        other: [],
        rule: 'priority 0',
        outputNames: ['pvdstport00000'],
      },
      dstOdpPort: 5,
      dstMacLearned: { port: 2, vlan: 22 },
      unread: {},
    },
  };
}

/** Every suspicion as "hop-id LEVEL code". */
const found = (hops: Hop[]) => hops.flatMap((h) => h.suspicions.map((s) => `${h.id} ${s.level} ${s.code}`));

describe('a healthy path', () => {
  it('has seven hops in path order, no suspicion, verdict OK, exit 0', () => {
    const hops = judgePath(path());
    expect(hops.map((h) => `${h.id}:${h.kind}`)).toEqual([
      'src-pod:pod-interface',
      'src-veth:veth',
      'src-port:access-port',
      'bridge:bridge',
      'dst-port:access-port',
      'dst-veth:veth',
      'dst-pod:pod-interface',
    ]);
    expect(found(hops)).toEqual([]);
    expect(verdictLine(hops)).toBe('OK');
    expect(exitCodeOf(hops)).toBe(0);
  });

  it('an unresolved neighbour is INFO only: still OK, exit 0', () => {
    const p = path();
    p.src.neighbour = null;
    const hops = judgePath(p);
    expect(found(hops)).toEqual(['src-pod INFO neighbour-unresolved']);
    expect(verdictLine(hops)).toBe('OK');
    expect(exitCodeOf(hops)).toBe(0);
  });
});

// Each fault: how it breaks the facts, and what must be found (all of it, nothing else).
const faults: [string, (p: ReturnType<typeof path>) => void, string[]][] = [
  ['port missing', (p) => (p.src.ovs = undefined), ['src-port FATAL no-port']],
  ['port on another bridge', (p) => (p.dst.ovs!.bridge = 'other'), ['dst-port CRITICAL no-port']],
  ['port of an older container', (p) => (p.src.ovs!.containerId = 'd'.repeat(64)), ['src-port CRITICAL port-stale']],
  ['ofport -1', (p) => (p.src.ovs!.ofport = -1), ['src-port CRITICAL ofport']],
  ['Interface.error', (p) => (p.dst.ovs!.error = 'could not open network device'), ['dst-port CRITICAL error']],
  ['tag changed', (p) => (p.src.ovs!.tag = 33), ['src-port CRITICAL tag-differs']],
  ['tag cleared', (p) => (p.src.ovs!.tag = undefined), ['src-port CRITICAL tag-differs']],
  ['host veth missing', (p) => (p.dst.hostLink = null), ['dst-veth FATAL no-veth']],
  ['host veth down', (p) => (p.dst.hostLink!.up = false), ['dst-veth CRITICAL veth-down']],
  ['pod end in another namespace', (p) => (p.src.podLink!.peerIndex = 99), ['src-veth CRITICAL wrong-netns']],
  [
    'namespace gone',
    (p) => {
      p.src.netns = { inode: '402651', gone: true };
      p.src.podLink = undefined;
    },
    ['src-pod FATAL netns-gone'],
  ],
  [
    'pod interface missing',
    (p) => (p.dst.podLink = null),
    ['dst-veth CRITICAL wrong-netns', 'dst-pod CRITICAL interface-missing'],
  ],
  // The pod end down takes the host end's carrier with it: said once, at the pod's interface.
  [
    'pod interface down',
    (p) => {
      p.src.podLink!.up = false;
      p.src.hostLink!.carrier = false;
    },
    ['src-pod CRITICAL interface-down'],
  ],
  [
    'veth without carrier, both ends up',
    (p) => (p.dst.hostLink!.carrier = false),
    ['dst-veth CRITICAL veth-no-carrier'],
  ],
  ['pod MTU 9000', (p) => (p.src.podLink!.mtu = 9000), ['src-pod WARNING mtu-mismatch']],
  ['host veth MTU', (p) => (p.dst.hostLink!.mtu = 1400), ['dst-veth WARNING mtu-mismatch']],
  ['address flushed', (p) => (p.dst.addresses = []), ['dst-pod CRITICAL address-missing']],
  // The kernel refuses the receive path when the address is gone: that is not rp_filter's doing.
  [
    'address flushed, receive path refused',
    (p) => {
      p.dst.addresses = [];
      p.dst.receive = { ok: false, errno: 22, error: 'Invalid argument (EINVAL)' };
      p.dst.sysctl!.rpFilter = [1, 1];
    },
    ['dst-pod CRITICAL address-missing'],
  ],
  ['address changed', (p) => (p.dst.addresses = ['10.1.0.9/24']), ['dst-pod CRITICAL address-differs']],
  ['lease gone', (p) => (p.src.lease = null), ['src-pod WARNING lease-missing']],
  ['lease of another pod', (p) => (p.src.lease = { holder: 'ns/x', mine: false }), ['src-pod CRITICAL lease-other']],
  [
    'different VLANs',
    (p) => {
      p.dst.recordedTag = 33;
      p.dst.ovs!.tag = 33;
    },
    ['bridge CRITICAL vlan-differs'],
  ],
  [
    'no route',
    (p) => {
      p.src.route = undefined;
      p.src.routeError = 'Network is unreachable (ENETUNREACH)';
    },
    ['src-pod CRITICAL no-route'],
  ],
  [
    'route via another interface',
    (p) => (p.src.route = { type: 'unicast', oif: 7, oifName: 'eth0' }),
    ['src-pod CRITICAL no-route'],
  ],
  ['neighbour FAILED', (p) => (p.src.neighbour = { state: 'FAILED' }), ['src-pod CRITICAL neighbour-failed']],
  [
    'neighbour INCOMPLETE',
    (p) => (p.src.neighbour = { state: 'INCOMPLETE' }),
    ['src-pod WARNING neighbour-incomplete'],
  ],
  [
    'neighbour at another MAC',
    (p) => (p.src.neighbour = { state: 'REACHABLE', mac: '02:00:00:00:00:99' }),
    ['src-pod CRITICAL neighbour-wrong-mac'],
  ],
  [
    "another pod's MAC for the destination: duplicate-address, not wrong-mac",
    (p) => {
      p.src.neighbour = { state: 'REACHABLE', mac: '0a:58:0a:01:00:09' };
      p.others = [{ pod: 'ns/22-third', port: 'pvthird', vlan: 22, ip: '10.1.0.9/24', mac: '0a:58:0a:01:00:09' }];
    },
    ['src-pod CRITICAL duplicate-address'],
  ],
  [
    "the source's address recorded for another pod of the VLAN",
    (p) => (p.others = [{ pod: 'ns/22-third', port: 'pvthird', vlan: 22, ip: '10.1.0.1/24' }]),
    ['src-pod CRITICAL duplicate-address'],
  ],
  [
    "the destination's interface holding another pod's address",
    (p) => {
      p.dst.addresses = ['10.1.0.2/24', '10.1.0.9/24'];
      p.others = [{ pod: 'ns/22-third', port: 'pvthird', vlan: 22, ip: '10.1.0.9/24' }];
    },
    ['dst-pod INFO address-extra', 'dst-pod CRITICAL duplicate-address'],
  ],
  [
    'the same address on another VLAN is no duplicate',
    (p) => (p.others = [{ pod: 'ns/33-other', port: 'pvother', vlan: 33, ip: '10.1.0.1/24' }]),
    [],
  ],
  ['arp off', (p) => (p.dst.podLink!.noarp = true), ['dst-pod CRITICAL arp-off']],
  ['arp_ignore 8', (p) => (p.dst.sysctl!.arpIgnore = [0, 8]), ['dst-pod CRITICAL arp-ignore']],
  [
    'rp_filter drops',
    (p) => {
      p.dst.receive = { ok: false, errno: 22, error: 'Invalid argument (EINVAL)' };
      p.dst.sysctl!.rpFilter = [1, 0];
    },
    ['dst-pod CRITICAL rp-filter-drops'],
  ],
  [
    'datapath drop',
    (p) => {
      p.bridge.trace = {
        ...p.bridge.trace!,
        actions: 'drop',
        drop: true,
        outputs: [],
        outputNames: [],
        rule: 'in_port=1, priority 100',
      };
    },
    ['bridge CRITICAL datapath-drop'],
  ],
  [
    'no output to the destination',
    (p) => {
      p.bridge.trace = { ...p.bridge.trace!, outputs: [{ port: 1 }], outputNames: ['br'] };
    },
    ['bridge CRITICAL datapath-no-output'],
  ],
  [
    'output tagged',
    (p) => (p.bridge.trace = { ...p.bridge.trace!, outputs: [{ port: 5, vlan: 22 }] }),
    ['bridge CRITICAL datapath-tagged-output'],
  ],
  ['MAC learned elsewhere', (p) => (p.bridge.dstMacLearned = { port: 7, vlan: 22 }), ['bridge WARNING mac-elsewhere']],
  ['bridge missing', (p) => (p.bridge.exists = false), ['bridge FATAL bridge-missing']],
  ['a fact not read', (p) => (p.bridge.unread.trace = 'connection refused'), ['bridge WARNING unreadable']],
];

describe('each fault is found at its hop, with its level and code', () => {
  it.each(faults)('%s', (_, breakIt, expected) => {
    const p = path();
    breakIt(p);
    expect(found(judgePath(p))).toEqual(expected);
  });
});

describe('verdict and exit code', () => {
  it('names the worst suspicion, the first in path order among equals', () => {
    const p = path();
    p.src.podLink!.mtu = 9000; // WARNING at hop 1
    p.dst.ovs!.tag = 33; // CRITICAL at hop 5
    p.bridge.trace!.drop = true; // CRITICAL at hop 4, earlier on the path
    const hops = judgePath(p);
    expect(verdictLine(hops)).toMatch(
      /^BLOCKED at bridge bridge br on node-a: bridge br drops the packet from pvsrcport00000/,
    );
    expect(exitCodeOf(hops)).toBe(2);
  });

  it('warnings only: WARNING at ..., exit 1', () => {
    const p = path();
    p.dst.hostLink!.mtu = 9000;
    const hops = judgePath(p);
    expect(verdictLine(hops)).toBe(
      'WARNING at veth veth pvdstport00000 on node-a: host veth pvdstport00000 has MTU 9000, the network 1500',
    );
    expect(exitCodeOf(hops)).toBe(1);
  });

  it('a FATAL exits 2 like a CRITICAL', () => {
    const p = path();
    p.src.ovs = undefined;
    expect(exitCodeOf(judgePath(p))).toBe(2);
  });

  it('the result is versioned and serialisable even when nothing could be read', () => {
    const p = path();
    for (const e of [p.src, p.dst]) {
      for (const k of [
        'ovs',
        'netns',
        'podLink',
        'addresses',
        'route',
        'neighbour',
        'receive',
        'sysctl',
        'hostLink',
        'lease',
      ] as const)
        delete e[k];
      e.unread = { port: 'OVSDB unavailable', 'pod interface': 'needs bun', 'host veth': 'needs bun' };
    }
    p.bridge = { name: 'br', unread: { vswitchd: 'no socket' } };
    const hops = judgePath(p);
    const r = resultOf(hops, { src: {}, dst: {}, network: 'net', vlan: 22 });
    expect(JSON.parse(JSON.stringify(r))).toMatchObject({ version: 1, network: 'net', probes: [] });
    expect(found(hops).every((f) => f.endsWith('WARNING unreadable'))).toBe(true);
    expect(exitCodeOf(hops)).toBe(1);
  });

  it('the text has the verdict, a row per hop, the suspicions and fixes under their hop', () => {
    const p = path();
    p.src.ovs!.tag = 33;
    const text = renderText(
      resultOf(judgePath(p), {
        src: { namespace: 'ns', pod: '22-src' },
        dst: { namespace: 'ns', pod: '22-dst' },
        network: 'net',
        vlan: 22,
      }),
    );
    const lines = text.split('\n');
    expect(lines[0]).toMatch(/^BLOCKED at access-port port pvsrcport00000 on node-a: /);
    expect(lines[2]).toMatch(/^HOP\s+KIND\s+OBJECT\s+NODE\s+STATE\s+READ$/);
    const row = lines.findIndex((l) => /^3\s+access-port/.test(l));
    expect(lines[row]).toMatch(/CRITICAL\s+tag 33, ofport 1/);
    expect(lines[row + 1]).toMatch(
      /^\s+CRITICAL tag-differs: port pvsrcport00000 of ns\/22-src on net has tag 33, podvlan set 22$/,
    );
    expect(lines[row + 2]).toMatch(/^\s+fix: ovs-vsctl set port pvsrcport00000 tag=22$/);
  });
});

describe('a destination on another node: the path ends at the uplinks', () => {
  function remote(): PathFacts {
    const p: PathFacts = path();
    delete p.dst;
    p.remote = { address: '10.1.0.9' };
    p.dstAddress = '10.1.0.9';
    p.src.nextHop = '10.1.0.9';
    p.src.neighbour = { state: 'REACHABLE', mac: '0a:58:0a:01:00:09' };
    p.uplinks = [
      {
        name: 'nic2',
        ovs: { name: 'nic2', bridge: 'br', trunks: [22, 33], ofport: 3, managed: false },
        hostLink: link({ index: 5, name: 'nic2', mtu: 1500 }),
        odpPort: 4,
        unread: {},
      },
    ];
    p.bridge = {
      ...p.bridge,
      uplinks: ['nic2'],
      uplinkOdpPorts: [{ name: 'nic2', odp: 4 }],
      trace: { ...p.bridge.trace!, outputs: [{ port: 4, vlan: 22 }], outputNames: ['nic2'], pushedVlans: [22] },
      dstOdpPort: undefined,
      dstMacLearned: undefined,
    };
    return p;
  }

  it('clean: five hops, the far side said as INFO only, exit 0', () => {
    const hops = judgePath(remote());
    expect(hops.map((h) => h.id)).toEqual(['src-pod', 'src-veth', 'src-port', 'bridge', 'uplink-nic2']);
    expect(found(hops)).toEqual(['uplink-nic2 INFO far-side-unchecked']);
    expect(exitCodeOf(hops)).toBe(0);
    const text = renderText(
      resultOf(hops, {
        src: { namespace: 'ns', pod: '22-src' },
        dst: { address: '10.1.0.9' },
        network: 'net',
        vlan: 22,
      }),
    );
    expect(text.split('\n').pop()).toBe('ns/22-src -> 10.1.0.9 (not on this node) on network net, VLAN 22');
  });

  const remoteFaults: [string, (p: PathFacts) => void, string[]][] = [
    ['trunks without the VLAN', (p) => (p.uplinks![0].ovs!.trunks = [33]), ['uplink-nic2 CRITICAL uplink-vlans']],
    [
      'uplink not a port of the bridge',
      (p) => (p.uplinks![0].ovs = undefined),
      ['uplink-nic2 CRITICAL uplink-missing'],
    ],
    ['uplink down', (p) => (p.uplinks![0].hostLink!.up = false), ['uplink-nic2 CRITICAL uplink-down']],
    ['the wire cut', (p) => (p.uplinks![0].hostLink!.carrier = false), ['uplink-nic2 CRITICAL uplink-no-carrier']],
    ['uplink MTU below the network', (p) => (p.uplinks![0].hostLink!.mtu = 1400), ['uplink-nic2 WARNING mtu-mismatch']],
    [
      'no push_vlan to the uplink',
      (p) => (p.bridge.trace!.outputs = [{ port: 1, vlan: 22 }]),
      ['bridge CRITICAL datapath-no-uplink'],
    ],
    [
      'a bridge without uplinks',
      (p) => {
        p.uplinks = [];
        p.bridge.uplinks = [];
        p.bridge.uplinkOdpPorts = [];
      },
      ['bridge CRITICAL no-uplink'],
    ],
  ];
  it.each(remoteFaults)('%s', (_, breakIt, expected) => {
    const p = remote();
    breakIt(p);
    expect(found(judgePath(p)).filter((f) => !f.endsWith('INFO far-side-unchecked'))).toEqual(expected);
  });
});

// The same pair dual-stack, followed in IPv6 (an IPv6 DST): NDP in place of ARP, no rp_filter.
function path6(): ReturnType<typeof path> {
  const p = path();
  p.family = 6;
  for (const [e, n] of [[p.src, 1] as const, [p.dst, 2] as const]) {
    e.recordedIp = `fd00:1::${n}/64`;
    e.recordedIps = [`10.1.0.${n}/24`, `fd00:1::${n}/64`];
    e.addresses = [...e.recordedIps];
    e.route = { type: 'unicast', oif: 2, oifName: 'eth1', prefsrc: `fd00:1::${n}` };
    e.nextHop = `fd00:1::${3 - n}`;
    e.sysctl = { rpFilter: [1, 1], arpIgnore: [8, 8] }; // IPv4-only knobs: not judged in IPv6
    e.receive = { ok: false, error: 'Invalid cross-device link (EXDEV)', errno: 18 };
  }
  p.srcAddress = 'fd00:1::1';
  p.dstAddress = 'fd00:1::2';
  return p;
}

describe('an IPv6 path (dual-stack pods)', () => {
  it('is clean with rp_filter and arp_ignore set, and says in the facts that they are not judged', () => {
    const hops = judgePath(path6());
    expect(found(hops)).toEqual([]);
    expect(hops[0].facts.notJudged).toEqual(['rp_filter (IPv4 only)', 'arp_ignore (IPv4 only: NDP has none)']);
  });

  it('names an IPv6 address removed from the pod (CRITICAL), the IPv4 one a WARNING on an IPv6 path', () => {
    const p = path6();
    p.dst.addresses = ['10.1.0.2/24'];
    expect(found(judgePath(p))).toEqual(['dst-pod CRITICAL address-missing']);
    const hop = judgePath(p).find((h) => h.id === 'dst-pod')!;
    expect(hop.suspicions[0].message).toBe(
      'eth1 of ns/22-dst has no IPv6 address (the allocator gave it fd00:1::2/64)',
    );
    expect(hop.suspicions[0].hint).toContain('ip -6 addr add fd00:1::2/64 dev eth1 nodad');
    const q = path6();
    q.src.addresses = ['fd00:1::1/64'];
    expect(found(judgePath(q))).toEqual(['src-pod WARNING address-missing']);
    const r = path6();
    r.src.addresses = ['10.1.0.1/24', 'fd00:1::9/64'];
    expect(found(judgePath(r))).toEqual(['src-pod CRITICAL address-differs', 'src-pod INFO address-extra']);
  });

  it('reads NDP: a FAILED entry is neighbour-failed in NDP words; DAD failure is duplicate-address', () => {
    const p = path6();
    p.src.neighbour = { state: 'FAILED' };
    const hops = judgePath(p);
    expect(found(hops)).toEqual(['src-pod CRITICAL neighbour-failed']);
    expect(hops[0].suspicions[0].message).toContain('neighbour solicitations for fd00:1::2');
    const q = path6();
    q.dst.addresses = ['10.1.0.2/24'];
    q.dst.dadFailed = ['fd00:1::2/64'];
    expect(found(judgePath(q))).toEqual(['dst-pod CRITICAL address-missing', 'dst-pod CRITICAL duplicate-address']);
  });

  it('on an IPv4 path the same removed IPv6 address is a WARNING', () => {
    const p = path();
    p.dst.recordedIps = ['10.1.0.2/24', 'fd00:1::2/64'];
    expect(found(judgePath(p))).toEqual(['dst-pod WARNING address-missing']);
  });
});
