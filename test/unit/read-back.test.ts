// Values podvlan reads back (lease files and their directories, etcd keys and records) become
// paths, keys or arguments only in the form podvlan writes them.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { EtcdClient } from '../../src/etcd/client';
import { leaseDirFor, listNodeLeases } from '../../src/ipam';
import { listAllocations } from '../../src/ipam/etcd-pool';
import { LeaseDir } from '../../src/ipam/lease-dir';
import { isValidOwner } from '../../src/ipam/pool';
import { listVlans } from '../../src/ipam/vlan-pool';

const ID = 'a'.repeat(64);
const owner = { network: 'net', namespace: 'ns', pod: 'p', containerId: ID, interface: 'eth1' };
const fakeEtcd = (kvs: Record<string, unknown>) =>
  ({
    getPrefix: async (prefix: string) =>
      Object.entries(kvs)
        .filter(([k]) => k.startsWith(prefix))
        .map(([key, v]) => ({ key, value: typeof v === 'string' ? v : JSON.stringify(v) })),
  }) as unknown as EtcdClient;

describe('read-back guards', () => {
  it('a lease directory is only ever a network label under <stateDir>/ipam', () => {
    for (const bad of ['../../../../etc', '..', 'a/b', '', 'Net'])
      expect(() => leaseDirFor('/s', bad), bad).toThrow(/invalid network name/);
    expect(leaseDirFor('/s', 'net').dir).toBe('/s/ipam/net');
  });

  it('a lease name is only ever an address: read, remove and listing ignore or refuse anything else', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pv-readback-'));
    writeFileSync(join(dir, 'passwd'), JSON.stringify({ ...owner, address: 'x' }));
    const leases = new LeaseDir(join(dir, 'ipam', 'net'));
    expect(leases.read('../../passwd')).toBeUndefined();
    expect(() => leases.remove('../../passwd')).toThrow(/not an address/);
    mkdirSync(leases.dir, { recursive: true });
    writeFileSync(join(leases.dir, 'notes'), JSON.stringify({ ...owner, address: 'notes' }));
    writeFileSync(join(leases.dir, '10.0.0.5'), JSON.stringify({ ...owner, network: '../../x', address: '10.0.0.5' }));
    expect([...leases.taken()]).toEqual(['10.0.0.5']);
    // The network is the directory it is filed under, never the one its content claims.
    expect(listNodeLeases(dir).map((l) => [l.network, l.address])).toEqual([['net', '10.0.0.5']]);
    writeFileSync(join(leases.dir, '10.0.0.6'), JSON.stringify({ ...owner, containerId: '../x', address: '10.0.0.6' }));
    expect(listNodeLeases(dir).map((l) => l.address)).toEqual(['10.0.0.5']);
  });

  it("an owner is valid only in podvlan's form", () => {
    expect(isValidOwner(owner)).toBe(true);
    expect(isValidOwner({ ...owner, interface: '' })).toBe(true); // a VLAN membership has none
    for (const [k, v] of [
      ['network', '../x'],
      ['namespace', '?'],
      ['pod', 'a/b'],
      ['containerId', '?'],
      ['interface', 'a/b'],
    ]) {
      expect(isValidOwner({ ...owner, [k]: v }), k).toBe(false);
    }
  });

  it('etcd: allocations under keys podvlan never writes are skipped, malformed VLAN members dropped', async () => {
    const client = fakeEtcd({
      '/p/ipam/net/ip/10.0.0.1': { ...owner, node: 'n', since: 's' },
      '/p/ipam/../ip/10.0.0.2': { ...owner, node: 'n', since: 's' },
      '/p/ipam/net/ip/not-an-ip': { ...owner, node: 'n', since: 's' },
      '/p/vlan/net/tag/100': 'ns',
      [`/p/vlan/net/member/ns/${ID}`]: { ...owner, node: 'n', since: 's' },
      '/p/vlan/net/member/ns/x': { ...owner, containerId: '../../x', node: 'n', since: 's' },
      '/p/vlan/NET/tag/101': 'ns',
    });
    expect((await listAllocations(client, '/p')).map((a) => a.address)).toEqual(['10.0.0.1']);
    const vlans = await listVlans(client, '/p');
    expect(vlans.map((v) => [v.tag, v.members.map((m) => m.containerId)])).toEqual([[100, [ID]]]);
  });
});
