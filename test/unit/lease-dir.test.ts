import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LeaseDir, type LeaseRecord } from '../../src/ipam/lease-dir';

const rec = (containerId: string, address: string, iface = 'eth1'): LeaseRecord => ({
  network: 'n',
  namespace: 'ns',
  pod: 'p',
  containerId,
  interface: iface,
  address,
  since: '2024-01-01T00:00:00.000Z',
});

describe('LeaseDir', () => {
  let root: string;
  let leases: LeaseDir;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'podvlan-lease-'));
    leases = new LeaseDir(join(root, 'ipam', 'n'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('reports nothing taken before the directory exists', () => {
    expect(leases.taken()).toEqual(new Set());
    expect(leases.heldBy(rec('c1', ''))).toEqual([]);
  });

  it('takes an address once, with its owner, leaving no temp file', () => {
    leases.ensure();
    expect(leases.tryTake('10.0.0.2', rec('c1', '10.0.0.2'))).toBe(true);
    expect(leases.tryTake('10.0.0.2', rec('c2', '10.0.0.2'))).toBe(false);
    expect(leases.read('10.0.0.2')?.containerId).toBe('c1');
    expect(readdirSync(leases.dir)).toEqual(['10.0.0.2']);
  });

  it('ignores dot files in taken() and finds an owner by hint or by scan', () => {
    leases.ensure();
    writeFileSync(join(leases.dir, '.last'), '10.0.0.3');
    leases.tryTake('10.0.0.2', rec('c1', '10.0.0.2'));
    leases.tryTake('10.0.0.3', rec('c2', '10.0.0.3'));
    leases.tryTake('10.0.0.4', rec('c1', '10.0.0.4', 'eth2'));
    expect(leases.taken()).toEqual(new Set(['10.0.0.2', '10.0.0.3', '10.0.0.4']));
    expect(leases.heldBy(rec('c2', ''), '10.0.0.3')).toEqual(['10.0.0.3']);
    expect(leases.heldBy(rec('c2', ''), '10.0.0.2')).toEqual(['10.0.0.3']); // wrong hint: scan
    expect(leases.heldBy(rec('c1', ''))).toEqual(['10.0.0.2']);
    expect(
      leases
        .all()
        .map((r) => r.address)
        .sort(),
    ).toEqual(['10.0.0.2', '10.0.0.3', '10.0.0.4']);
  });

  it('removes a lease, and removing a missing one is fine', () => {
    leases.ensure();
    leases.tryTake('10.0.0.2', rec('c1', '10.0.0.2'));
    leases.remove('10.0.0.2');
    expect(existsSync(join(leases.dir, '10.0.0.2'))).toBe(false);
    expect(() => leases.remove('10.0.0.2')).not.toThrow();
    expect(leases.read('10.0.0.2')).toBeUndefined();
  });
});
