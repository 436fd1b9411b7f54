import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConflictError } from '../../src/errors';
import { LeaseDir } from '../../src/ipam/lease-dir';
import type { Owner } from '../../src/ipam/pool';
import { StaticPool } from '../../src/ipam/static';

const owner = (containerId: string, pod = 'web', iface = 'eth1'): Owner => ({
  network: 'n',
  namespace: 'ns',
  pod,
  containerId,
  interface: iface,
});
const spec = {
  address: '10.0.0.5/24',
  gateway: '10.0.0.1',
  routes: [{ dst: '0.0.0.0/0' }, { dst: '10.8.0.0/16', via: '10.0.0.254' }],
};

describe('StaticPool', () => {
  let root: string;
  let leases: LeaseDir;
  let pool: StaticPool;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'podvlan-static-'));
    leases = new LeaseDir(join(root, 'ipam', 'n'));
    pool = new StaticPool(leases, spec);
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('leases the configured address, routes defaulting to the gateway', async () => {
    expect(await pool.acquire(owner('c1'))).toEqual({
      address: '10.0.0.5/24',
      gateway: '10.0.0.1',
      routes: [
        { dst: '0.0.0.0/0', via: '10.0.0.1' },
        { dst: '10.8.0.0/16', via: '10.0.0.254' },
      ],
    });
    expect(leases.read('10.0.0.5')?.containerId).toBe('c1');
  });

  it('returns the same lease on a retry by the same owner', async () => {
    await pool.acquire(owner('c1'));
    await expect(pool.acquire(owner('c1'))).resolves.toMatchObject({ address: '10.0.0.5/24' });
  });

  it('refuses the address to a second owner with a ConflictError naming the holder', async () => {
    await pool.acquire(owner('c1', 'web'));
    await expect(pool.acquire(owner('c2', 'other'))).rejects.toThrow(ConflictError);
    await expect(pool.acquire(owner('c2', 'other'))).rejects.toThrow(
      /10\.0\.0\.5 of network n is already held by ns\/web/,
    );
    await expect(pool.acquire(owner('c1', 'web', 'eth2'))).rejects.toThrow(ConflictError);
  });

  it('releases only for the holder', async () => {
    await pool.acquire(owner('c1'));
    expect(await pool.release(owner('c2'))).toEqual([]);
    expect(leases.read('10.0.0.5')?.containerId).toBe('c1');
    expect(await pool.release(owner('c1'))).toEqual(['10.0.0.5']);
    expect(leases.read('10.0.0.5')).toBeUndefined();
    await expect(pool.acquire(owner('c2'))).resolves.toMatchObject({ address: '10.0.0.5/24' });
  });
});
