// The far half of a path from the other node's snapshot (diagnose --peer): duplicates across the
// two nodes, and what a snapshot not collected towards this source leaves unchecked.
import { describe, expect, it } from 'vitest';
import type { PathFacts } from '../../src/diagnose/facts';
import { judgeFarHalf } from '../../src/diagnose/far';
import type { Snapshot } from '../../src/diagnose/snapshot';

const link = (mac: string) => ({
  index: 2,
  name: 'eth1',
  up: true,
  carrier: true,
  operstate: 'up',
  noarp: false,
  mtu: 1500,
  mac,
});
const path: PathFacts = {
  node: 'node-a',
  network: { name: 'tenant', mtu: 1500, interface: 'eth1', bridge: 'br-pods' },
  src: {
    side: 'src',
    namespace: 'shop',
    pod: 'web-1',
    network: 'tenant',
    interface: 'eth1',
    port: 'pvaaaaaaaaaaaaa',
    recordedTag: 22,
    recordedIp: '10.20.1.10/24',
    podLink: link('0a:58:0a:14:01:0a'),
    unread: {},
  },
  remote: { address: '10.20.1.11' },
  srcAddress: '10.20.1.10',
  dstAddress: '10.20.1.11',
  bridge: { name: 'br-pods', unread: {} },
};
const snapshot = (others: NonNullable<Snapshot['others']>): Snapshot => ({
  version: 2,
  kind: 'podvlan-collect',
  node: 'node-b',
  collectedAt: '2026-12-06T20:41:48.657Z',
  pods: [
    {
      namespace: 'shop',
      pod: 'api-1',
      network: 'tenant',
      bridge: 'br-pods',
      interface: 'eth1',
      port: 'pvbbbbbbbbbbbbb',
      vlan: 22,
      recordedIp: '10.20.1.11/24',
      ovs: { name: 'pvbbbbbbbbbbbbb', bridge: 'br-pods', tag: 22, trunks: [], ofport: 2, managed: true },
      link: link('0a:58:0a:14:01:0b'),
      addresses: ['10.20.1.11/24'],
      towards: {
        address: '10.20.1.10',
        route: { type: 'unicast', oif: 2, prefsrc: '10.20.1.11', oifName: 'eth1' },
        nextHop: '10.20.1.10',
        neighbour: { state: 'REACHABLE', mac: '0a:58:0a:14:01:0a' },
        receive: { ok: true },
      },
      unread: {},
    },
  ],
  uplinks: [],
  others,
});
const other = (pod: string, ip: string, vlan = 22) => ({
  network: 'tenant',
  bridge: 'br-pods',
  pod,
  port: `pv${pod.length}cccccccccccc`,
  vlan,
  ip,
});
const dstPod = (snap: Snapshot) => {
  const hops = judgeFarHalf(path, snap, snap.pods[0]);
  return hops[hops.length - 1].suspicions.map((s) => `${s.level} ${s.code}: ${s.message}`);
};

describe('judgeFarHalf: duplicates across nodes', () => {
  it("another pod of the far node recorded with DST's address, on another port: CRITICAL at the destination's pod", () => {
    expect(dstPod(snapshot([other('shop/api-2', '10.20.1.11/24')]))).toEqual([
      'CRITICAL duplicate-address: 10.20.1.11 is recorded for both shop/api-1 and shop/api-2 on VLAN 22',
    ]);
  });
  it("another pod of the far node recorded with the source's address: CRITICAL, naming the node", () => {
    expect(dstPod(snapshot([other('shop/db-0', '10.20.1.10/24')]))).toEqual([
      "CRITICAL duplicate-address: 10.20.1.10, the address of shop/web-1, is also recorded for shop/db-0 on node node-b on VLAN 22: shop/api-1's reply may reach shop/db-0 instead",
    ]);
  });
  it('the same address on another VLAN, or other addresses, are no duplicate', () => {
    expect(dstPod(snapshot([other('shop/db-0', '10.20.1.10/24', 33), other('shop/db-1', '10.20.1.12/24')]))).toEqual(
      [],
    );
  });
});
