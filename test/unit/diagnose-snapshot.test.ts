// The --peer snapshot's checks and the probe's counter parsing (pure parts of diagnose).
import { describe, expect, it } from 'vitest';
import { parseDpctlStats } from '../../src/diagnose/probe';
import { parseSnapshot } from '../../src/diagnose/snapshot';

const good = {
  version: 1,
  kind: 'podvlan-collect',
  node: 'node-b',
  collectedAt: '2026-12-06T20:41:48.657Z',
  pods: [
    {
      namespace: 'shop',
      pod: 'web-1',
      network: 'tenant',
      bridge: 'br-pods',
      interface: 'eth1',
      port: 'pvaf8d4a48673df',
      vlan: 22,
      recordedIp: '10.20.1.11/16',
      ovs: { name: 'pvaf8d4a48673df', tag: 22, trunks: [], ofport: 2, managed: true },
      link: null,
      unread: {},
    },
  ],
  uplinks: [{ bridge: 'br-pods', name: 'eth2', ovs: { name: 'eth2', trunks: [22], managed: false }, unread: {} }],
};
const bad = (edit: (s: typeof good & Record<string, unknown>) => void) => {
  const s = structuredClone(good) as typeof good & Record<string, unknown>;
  edit(s);
  return () => parseSnapshot(JSON.stringify(s), 'peer.json');
};

describe('parseSnapshot', () => {
  it('takes a snapshot collect writes', () => {
    expect(parseSnapshot(JSON.stringify(good), 'peer.json').pods[0].port).toBe('pvaf8d4a48673df');
  });
  it('refuses, in one line naming the field: a path as a port, a bad address, an unknown field, another version, not JSON', () => {
    expect(bad((s) => (s.pods[0].port = '../../etc'))).toThrow(/pods\.0\.port: not an interface name/);
    expect(bad((s) => (s.pods[0].recordedIp = '10.20.1.11; rm'))).toThrow(/pods\.0\.recordedIp/);
    expect(bad((s) => (s.password = 'x'))).toThrow(/Unrecognized key/);
    expect(bad((s) => (s.version = 3))).toThrow(/version:/);
    expect(bad((s) => (s.uplinks[0].ovs.trunks = [5000]))).toThrow(/uplinks\.0\.ovs\.trunks\.0/);
    expect(() => parseSnapshot('{', 'peer.json')).toThrow(/^--peer peer\.json is not JSON/);
    expect(bad((s) => (s.pods[0].namespace = 'A/B'))).toThrow(/pods\.0\.namespace/);
    expect(bad((s) => Object.assign(s.pods[0], { towards: { address: '10.0.0.1,x' } }))).toThrow(
      /pods\.0\.towards\.address: not an IPv4 address/,
    );
    expect(bad((s) => (s.others = [{ network: 'tenant', bridge: 'br-pods', pod: 'a/b/c', port: 'p' }]))).toThrow(
      /others\.0\.pod: not namespace\/pod/,
    );
  });
  it('takes version 2: the pod towards a source (collect --from), its inbound trace, the other attachments', () => {
    const v2 = structuredClone(good) as typeof good & Record<string, unknown>;
    v2.version = 2;
    Object.assign(v2.pods[0], {
      towards: {
        address: '10.20.1.10',
        route: { type: 'unicast', oif: 2, prefsrc: '10.20.1.11', oifName: 'eth1' },
        nextHop: '10.20.1.10',
        neighbour: null,
        receive: { ok: false, error: 'Invalid argument (EINVAL)', errno: 22 },
        sysctl: { rpFilter: [0, 1], arpIgnore: [0, 0] },
      },
      inbound: {
        uplink: 'eth2',
        flow: 'in_port=eth2,dl_vlan=22',
        actions: 'drop',
        drop: true,
        outputs: [],
        outputNames: [],
        pushedVlans: [],
        notes: [],
        other: [],
        podOdpPort: 3,
      },
    });
    v2.others = [
      { network: 'tenant', bridge: 'br-pods', pod: 'shop/web-2', port: 'pv1', vlan: 22, ip: '10.20.1.12/16' },
    ];
    const s = parseSnapshot(JSON.stringify(v2), 'peer.json');
    expect(s.pods[0].towards?.receive).toEqual({ ok: false, error: 'Invalid argument (EINVAL)', errno: 22 });
    expect(s.others?.[0].pod).toBe('shop/web-2');
  });
});

describe('parseDpctlStats', () => {
  it("reads each port's packet counters from dpctl/show -s", () => {
    const out = [
      'netdev@ovs-netdev:',
      '  lookups: hit:10 missed:4 lost:0',
      '  port 0: ovs-netdev (tap)',
      '    RX packets:0 errors:0 dropped:0 overrun:0 frame:0',
      '    TX packets:1 errors:0 dropped:0 aborted:0 carrier:0',
      '  port 2: pvaf8d4a48673df',
      '    RX packets:17 errors:0 dropped:0 overrun:0 frame:0',
      '    TX packets:12 errors:0 dropped:0 aborted:0 carrier:0',
      '    collisions:0',
      '    RX bytes:1234  TX bytes:999',
    ].join('\n');
    const m = parseDpctlStats(out);
    expect(m.get('pvaf8d4a48673df')).toEqual({ rx: 17, tx: 12 });
    expect(m.get('ovs-netdev')).toEqual({ rx: 0, tx: 1 });
  });
});
